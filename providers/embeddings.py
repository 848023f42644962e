"""Embeddings through any OpenAI-compatible `/embeddings` endpoint (team memory's optional semantic ranking)."""

from __future__ import annotations

import openai

from tuning.answering.memory import Embed
from tuning.errors import ModelError


def embedder(client: openai.AsyncOpenAI, model: str) -> Embed:
    """Vectors for texts, in their order; the SDK retries 429 and 5xx by itself."""

    async def embed(texts: list[str]) -> list[list[float]]:
        try:
            response = await client.embeddings.create(model=model, input=texts, encoding_format="float")
        except openai.APIError as error:
            raise ModelError(f"The embeddings endpoint refused: {error}") from error
        ordered = sorted(response.data, key=lambda item: item.index)
        if len(ordered) != len(texts):
            raise ModelError(f"The embeddings endpoint returned {len(ordered)} vectors for {len(texts)} texts.")
        return [list(item.embedding) for item in ordered]

    return embed
