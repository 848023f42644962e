"""OpenAI's data-preparation checks (docs/providers.md), one reason per failing line.

Reason names follow the cookbook's `format_errors` keys so they can be compared with its output;
`DROP_REASONS` in types.py gives each a label for people.
"""

from __future__ import annotations

from typing import Any

ALLOWED_KEYS = frozenset({"role", "content", "name", "weight", "tool_calls", "tool_call_id"})
ROLES = frozenset({"system", "user", "assistant", "tool"})


def check_sft(line: Any) -> str | None:
    """None when the line is a valid SFT example, else the first reason it is not."""
    if not isinstance(line, dict):
        return "data_type"
    messages = line.get("messages", [])
    reason = check_messages(messages)
    if reason:
        return reason
    if not any(message["role"] == "assistant" for message in messages):
        return "example_missing_assistant_message"
    return None


def check_dpo(line: Any) -> str | None:
    """None when the line is a valid DPO example, else the first reason it is not."""
    if not isinstance(line, dict):
        return "data_type"
    source = line.get("input")
    if not isinstance(source, dict) or "messages" not in source:
        return "missing_input"
    reason = check_messages(source["messages"])
    if reason:
        return reason
    for key in ("preferred_output", "non_preferred_output"):
        if not _one_assistant_message(line.get(key)):
            return f"bad_{key}"
    if _text(line["preferred_output"][0]) == _text(line["non_preferred_output"][0]):
        return "identical_outputs"
    return None


def check_messages(messages: Any) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "missing_messages_list"
    for message in messages:
        reason = _check_message(message)
        if reason:
            return reason
    return None


def _check_message(message: Any) -> str | None:
    if not isinstance(message, dict) or "role" not in message or "content" not in message:
        return "message_missing_key"
    if not message.keys() <= ALLOWED_KEYS:
        return "message_unrecognized_key"
    if message["role"] not in ROLES:
        return "unrecognized_role"
    content = message["content"]
    if content is None and message.get("tool_calls"):
        return None  # an assistant turn that only calls tools
    if not isinstance(content, str) or not content or content.isspace():  # isspace: no copy, unlike strip
        return "missing_content"
    return None


def _one_assistant_message(output: Any) -> bool:
    return (
        isinstance(output, list)
        and len(output) == 1
        and _check_message(output[0]) is None
        and output[0]["role"] == "assistant"
    )


def _text(message: dict[str, Any]) -> str:
    return " ".join(str(message.get("content") or "").split())
