"""Tuneloop's dataset JSONL, read and checked, in the shapes TRL takes.

SFT lines are `{"messages": [...]}` ending with the rated answer. They become TRL's conversational
prompt/completion form: the thread so far is the prompt, the answer the completion, so the loss covers the
answer only (earlier assistant turns are context, not targets) with any chat template.
DPO lines are `{"input": {"messages": [...]}, "preferred_output": [...], "non_preferred_output": [...]}`
and become TRL's conversational preference form `{"prompt", "chosen", "rejected"}`.
KTO lines are `{"prompt": [...], "completion": [one assistant message], "label": true|false}`: TRL's
conversational unpaired preference form, used as is (true: a desirable answer, false: an undesirable one).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

ROLES = frozenset({"system", "user", "assistant", "tool"})


class DataError(ValueError):
    """A dataset file that cannot be trained on; the message names the file and line."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_rows(path: Path, method: str) -> list[dict[str, Any]]:
    """Every line of `path` converted for `method` ("sft", "dpo" or "kto"); DataError on the first bad one."""
    if not path.is_file():
        raise DataError(f"There is no dataset file at {path}.")
    convert = {"sft": _sft_row, "dpo": _dpo_row, "kto": _kto_row}[method]
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                rows.append(convert(json.loads(text)))
            except (ValueError, TypeError, KeyError) as error:
                raise DataError(f"{path.name} line {number}: {_reason(error)}") from None
    if not rows:
        raise DataError(f"{path.name} has no examples.")
    return rows


def _reason(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return "not valid JSON."
    if isinstance(error, KeyError):
        return f"the key {error} is missing."
    return str(error)


def _sft_row(line: Any) -> dict[str, Any]:
    _require_object(line, "an SFT line")
    messages = _messages(line["messages"], "messages")
    if messages[-1]["role"] != "assistant":
        raise ValueError("an SFT example must end with the assistant's answer.")
    if len(messages) < 2:
        raise ValueError("an SFT example needs the thread before the answer.")
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def _dpo_row(line: Any) -> dict[str, Any]:
    _require_object(line, "a DPO line")
    _require_object(line["input"], "`input`")
    prompt = _messages(line["input"]["messages"], "input.messages")
    chosen = _messages(line["preferred_output"], "preferred_output")
    rejected = _messages(line["non_preferred_output"], "non_preferred_output")
    for name, answer in (("preferred_output", chosen), ("non_preferred_output", rejected)):
        if any(message["role"] != "assistant" for message in answer):
            raise ValueError(f"`{name}` must hold assistant messages only.")
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}


def _kto_row(line: Any) -> dict[str, Any]:
    _require_object(line, "a KTO line")
    prompt = _messages(line["prompt"], "prompt")
    completion = _messages(line["completion"], "completion")
    if len(completion) != 1 or completion[0]["role"] != "assistant":
        raise ValueError("`completion` must be one assistant message.")
    if not isinstance(line["label"], bool):
        raise TypeError("`label` must be true (a desirable answer) or false (an undesirable one).")
    return {"prompt": prompt, "completion": completion, "label": line["label"]}


def _require_object(value: Any, what: str) -> None:
    if not isinstance(value, dict):
        raise TypeError(f"{what} must be a JSON object.")


def _messages(value: Any, where: str) -> list[dict[str, str]]:
    """Role and content only: weights, names and tool calls are not trained on here."""
    if not isinstance(value, list) or not value:
        raise ValueError(f"`{where}` must be a non-empty list of messages.")
    messages = []
    for message in value:
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise ValueError(f"every message in `{where}` needs a role ({', '.join(sorted(ROLES))}).")
        if not isinstance(message.get("content"), str):
            raise TypeError(f"every message in `{where}` needs text content.")
        messages.append({"role": message["role"], "content": message["content"]})
    return messages
