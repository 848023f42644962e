"""Exact, offline token counts (bpe-openai ships OpenAI's vocabularies; tiktoken would download them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import bpe_openai

from tuning.models import model_info

# OpenAI's chat format: every message costs 3 tokens of framing (+1 with a name), every example 3 more.
PER_MESSAGE = 3
PER_NAME = 1
PER_CONVERSATION = 3


@lru_cache(maxsize=8)
def _encoding(name: str) -> bpe_openai.Encoding:
    return bpe_openai.get_encoding(name)


def encoding_for(model: str) -> bpe_openai.Encoding:
    return _encoding(model_info(model).encoding)


def count_text(model: str, text: str) -> int:
    return len(encoding_for(model).encode_ordinary(text))


def count_message(model: str, message: Mapping[str, object]) -> int:
    content = message.get("content") or ""
    tokens = PER_MESSAGE + count_text(model, content if isinstance(content, str) else str(content))
    return tokens + (PER_NAME if message.get("name") else 0)


def count_messages(model: str, messages: Sequence[Mapping[str, object]]) -> int:
    return PER_CONVERSATION + sum(count_message(model, message) for message in messages)
