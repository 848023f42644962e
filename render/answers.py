"""How answers look in Slack."""

from __future__ import annotations

# Slack truncates message text past 40,000 characters and renders long ones poorly; 3,900 keeps
# each part readable and within a section block's limit should it ever be put in one.
PART_LIMIT = 3_900
_FENCE = "```"

THINKING = ":hourglass_flowing_sand: Thinking…"


CONVERSATION_UNREADABLE = "I can't read this conversation any more (was the message deleted?)."


def model_error(reason: str) -> str:
    return f":warning: Sorry, I couldn't answer: {reason}"


def split_answer(text: str, limit: int = PART_LIMIT) -> list[str]:
    """Split at paragraph, line or word boundaries; a code block cut in two is closed and reopened."""
    parts: list[str] = []
    rest = text.strip()
    reopen = False
    while rest:
        head = (_FENCE + "\n" if reopen else "") + rest
        if len(head) <= limit:
            parts.append(head)
            break
        cut = _cut_point(head, limit - len(_FENCE) - 1)
        part, rest = head[:cut].rstrip(), head[cut:].lstrip("\n ")
        reopen = part.count(_FENCE) % 2 == 1
        parts.append(part + ("\n" + _FENCE if reopen else ""))
    return parts or [""]


def _cut_point(text: str, limit: int) -> int:
    for separator in ("\n\n", "\n", " "):
        index = text.rfind(separator, limit // 2, limit)
        if index > 0:
            return index
    return limit
