"""Exact token counts per training example, offline, with tuning/tokens.py's accounting.

The same numbers as `tuning.tokens.count_messages` (tests compare them), resolved once per build
instead of once per message: at a million examples the per-call lookups cost more than the tokenizer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tuning.models import model_info
from tuning.tokens import PER_CONVERSATION, PER_MESSAGE, PER_NAME, TooLong, text_counter

__all__ = ["LineCounter", "TooLong"]

# Contents repeat: the system prompt in every example, earlier turns in every later example of a
# thread, whole conversations in duplicates. Remembering recent ones skips the tokenizer for them;
# the memory is cleared when full, so it stays small (a few MB) whatever the build's size.
_REMEMBERED_CONTENTS = 20_000


class LineCounter:
    def __init__(self, model: str) -> None:
        self.encoding_name = model_info(model).encoding
        self._count = text_counter(self.encoding_name)
        self._remembered: dict[str, int] = {}

    def messages(self, messages: Sequence[Mapping[str, object]]) -> int:
        total = PER_CONVERSATION
        for message in messages:  # message() inlined: this loop runs millions of times
            content = message.get("content") or ""
            total += PER_MESSAGE + self.text(content if isinstance(content, str) else str(content))
            if message.get("name"):
                total += PER_NAME
        return total

    def message(self, message: Mapping[str, object]) -> int:
        content = message.get("content") or ""
        tokens = PER_MESSAGE + self.text(content if isinstance(content, str) else str(content))
        return tokens + (PER_NAME if message.get("name") else 0)

    def text(self, text: str) -> int:
        known = self._remembered.get(text)
        if known is not None:
            return known
        count = self._count(text)
        if len(self._remembered) >= _REMEMBERED_CONTENTS:
            self._remembered.clear()
        self._remembered[text] = count
        return count
