"""The JSONL line formats (docs/providers.md): SFT and DPO are read unchanged by OpenAI, Together and TRL;
KTO by the self-hosted training program (TRL's conversational unpaired preference form).

SFT:  {"messages": [...conversation, {"role": "assistant", "content": answer}]}
DPO:  {"input": {"messages": [...]}, "preferred_output": [assistant], "non_preferred_output": [assistant]}
KTO:  {"prompt": [...conversation], "completion": [assistant], "label": true | false}
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring  # the C escaper json.dumps uses
from typing import Any

Message = dict[str, Any]
Line = dict[str, Any]


class UnreadableConversation(ValueError):
    """The stored conversation is not JSON at all; anything else is left for the checks to name."""


def parse_conversation(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError) as error:
        raise UnreadableConversation(str(error)) from None


def answer_to_train_on(answer: str, corrected: str | None) -> str:
    """A correction, when there is one, is what the team wants the model to say."""
    return corrected if corrected is not None else answer


def assistant(content: str) -> Message:
    return {"role": "assistant", "content": content}


def sft_line(conversation: Any, answer: str) -> Line:
    messages = [*conversation, assistant(answer)] if isinstance(conversation, list) else conversation
    return {"messages": messages}


def sft_line_bytes(conversation_text: str, answer: str) -> bytes | None:
    """The SFT line spliced from the stored conversation JSON without parsing and re-serialising it
    (the slowest step of a build otherwise). None when the text is not a one-line JSON array; the
    caller then uses encode(sft_line(...)). Only for conversations the checks already passed."""
    text = conversation_text
    if not (text[:1] == "[" and text[-1:] == "]"):  # json.dumps wrote it: strip only when it must
        text = text.strip()
        if not (text[:1] == "[" and text[-1:] == "]"):
            return None
    if "\n" in text or "\r" in text:
        return None
    head = text[:-1].rstrip()
    separator = "" if head == "[" else ","
    reply = '{"role":"assistant","content":' + _json_string(answer) + "}"
    return f'{{"messages":{head}{separator}{reply}]}}\n'.encode("utf-8")


def _json_string(text: str) -> str:
    """encode_basestring(text), quicker for the usual text with nothing to escape: json escapes only
    quotes, backslashes and control characters, and a control character is never printable."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return encode_basestring(text)


def dpo_line(conversation: Any, preferred: str, non_preferred: str) -> Line:
    return {
        "input": {"messages": conversation},
        "preferred_output": [assistant(preferred)],
        "non_preferred_output": [assistant(non_preferred)],
    }


def kto_line(conversation: Any, answer: str, desirable: bool) -> Line:
    return {"prompt": conversation, "completion": [assistant(answer)], "label": desirable}


def shorter(first: Any, second: Any) -> Any:
    """Of two conversations ending in the same question, the one with less context (the first on a tie)."""
    if isinstance(first, list) and isinstance(second, list) and _size(second) < _size(first):
        return second
    return first


def _size(conversation: list[Any]) -> tuple[int, int]:
    return len(conversation), sum(len(str(m.get("content", ""))) for m in conversation if isinstance(m, dict))


def line_messages(line: Line) -> list[Message]:
    """Every message a line trains on, for counting its tokens."""
    if "messages" in line:
        messages: list[Message] = line["messages"]
        return messages
    if "prompt" in line:
        return [*line["prompt"], *line["completion"]]
    return [*line["input"]["messages"], *line["preferred_output"], *line["non_preferred_output"]]


def encode(line: Line) -> bytes:
    """One JSONL line. UTF-8 rather than \\u escapes: smaller, and every reader above accepts it."""
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def decode(raw: bytes) -> Line:
    line: Line = json.loads(raw)
    return line
