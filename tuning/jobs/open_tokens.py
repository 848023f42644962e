"""Token counts for open models with the model's own tokenizer, when it is on this machine.

Datasets are counted with OpenAI's tokenizers. For a Together model that is only an estimate; Hugging
Face downloads are not possible here, so an operator may put a model's `tokenizer.json` under
TUNELOOP_TOKENIZERS_DIR at `<dir>/<org>/<model>/tokenizer.json`.
Counted: the text of every message (and, for DPO, both answers), plus a few tokens of chat framing
per message, as chat templates add role markers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PER_MESSAGE = 4  # role markers and separators most chat templates add around a message


def tokenizer_file(tokenizers_dir: Path | None, model: str) -> Path | None:
    if tokenizers_dir is None:
        return None
    candidate = tokenizers_dir / model / "tokenizer.json"
    return candidate if candidate.is_file() else None


def count_file(tokenizer_path: Path, jsonl: Path) -> int:
    """Blocking: run it in a thread. Lines that are not JSON objects count nothing."""
    from tokenizers import (
        Tokenizer,  # imported here: only pre-flights of open models need it
    )

    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    total = 0
    with jsonl.open(encoding="utf-8") as lines:
        for line in lines:
            texts = list(_texts(_parse(line)))
            if texts:
                encoded = tokenizer.encode_batch(texts, add_special_tokens=False)
                total += sum(len(e.ids) for e in encoded) + PER_MESSAGE * len(texts)
    return total


def _parse(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


def _texts(example: Any) -> Iterator[str]:
    if not isinstance(example, dict):
        return
    messages = example.get("messages") or (example.get("input") or {}).get("messages") or []
    for key in ("preferred_output", "non_preferred_output"):
        messages = [*messages, *(example.get(key) or [])]
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            yield content
