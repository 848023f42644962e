"""Token counts for open models with the model's own tokenizer, when it is on this machine.

Datasets are counted with OpenAI's tokenizers. For an open model that is only an estimate; Hugging
Face downloads are not possible here, so the model's own tokenizer is used when it is on disk:
- a self-hosted base model that is a local folder holding its tokenizer (`tokenizer.json` or
  `tokenizer_config.json`): loaded with transformers, each conversation rendered with the model's chat
  template when it has one (what the trainer feeds the model), else the message contents summed;
- otherwise an operator may put a model's `tokenizer.json` under TUNELOOP_TOKENIZERS_DIR at
  `<dir>/<org>/<model>/tokenizer.json`: the text of every message (and, for DPO, both answers),
  plus a few tokens of chat framing per message, as chat templates add role markers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tuning.training.trainers.base import is_model_folder

log = logging.getLogger(__name__)
PER_MESSAGE = 4  # role markers and separators most chat templates add around a message


def tokenizer_file(tokenizers_dir: Path | None, model: str) -> Path | None:
    if tokenizers_dir is None:
        return None
    candidate = tokenizers_dir / model / "tokenizer.json"
    return candidate if candidate.is_file() else None


def folder_tokenizer(model: str) -> Path | None:
    """The model itself when it is a local model folder that holds its tokenizer."""
    if not is_model_folder(model):
        return None
    folder = Path(model).expanduser()
    has_tokenizer = any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json"))
    return folder if has_tokenizer else None


def count_file_with_folder(folder: Path, jsonl: Path) -> int | None:
    """Blocking: run it in a thread. None when the tokenizer cannot be loaded here (no transformers, a
    broken folder): the caller keeps its estimate. Lines that are not JSON objects count nothing."""
    try:
        from transformers import AutoTokenizer  # heavy: imported only for a local model's pre-flight

        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (ImportError, OSError, ValueError) as error:
        log.warning("cannot load the tokenizer in %s (%s): token counts stay an estimate", folder, error)
        return None
    total = 0
    with jsonl.open(encoding="utf-8") as lines:
        for line in lines:
            total += sum(_count_conversation(tokenizer, messages) for messages in _conversations(_parse(line)))
    return total


def _count_conversation(tokenizer: Any, messages: list[dict[str, Any]]) -> int:
    """The conversation as the trainer sees it: through the chat template, else its contents summed."""
    if getattr(tokenizer, "chat_template", None):
        try:
            text = tokenizer.apply_chat_template(messages, tokenize=False)
            return len(tokenizer(text, add_special_tokens=False)["input_ids"])
        except Exception as error:  # a template may reject a line (e.g. roles it does not know)
            log.debug("chat template refused a line (%s); counting its contents", error)
    contents = [m["content"] for m in messages if isinstance(m.get("content"), str)]
    return sum(len(ids) for ids in tokenizer(contents, add_special_tokens=False)["input_ids"]) if contents else 0


def _conversations(example: Any) -> list[list[dict[str, Any]]]:
    """SFT: the one conversation. DPO: the prompt with each answer, as DPO trains on both."""
    if not isinstance(example, dict):
        return []
    prompt = _messages(example.get("messages") or (example.get("input") or {}).get("messages"))
    answers = [_messages(example.get(key)) for key in ("preferred_output", "non_preferred_output")]
    answers = [answer for answer in answers if answer]
    return [[*prompt, *answer] for answer in answers] if answers else ([prompt] if prompt else [])


def _messages(value: Any) -> list[dict[str, Any]]:
    return [m for m in value if isinstance(m, dict)] if isinstance(value, list) else []


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
