"""Exact token counts per training example, offline, with tuning/catalogue/tokens.py's accounting.

The same numbers as `tuning.catalogue.tokens.count_messages` (tests compare them), resolved once per build
instead of once per message: at a million examples the per-call lookups cost more than the tokenizer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import islice

from tuning.catalogue.entries import model_facts
from tuning.catalogue.tokens import PER_CONVERSATION, PER_MESSAGE, PER_NAME, TooLong, text_counter

__all__ = ["LineCounter", "TooLong"]

# Contents repeat: the system prompt in every example, earlier turns in every later example of a
# thread, whole conversations in duplicates. Remembering recent ones skips the tokenizer for them;
# the memory is cleared when full, so it stays small (a few MB) whatever the build's size.
_REMEMBERED_CONTENTS = 20_000

# Words repeat far more than whole texts do. OpenAI's encodings cut a text into pieces with a regex
# before byte-pair encoding, and that regex is most of the tokenizer's time (29 of 36 µs on a
# 600-character answer, measured). No piece holds a space after its first character unless the piece
# is all whitespace, and none looks behind itself, so where a space has a non-space character on each
# side the text splits there without changing any piece: "a b c" counts as "a" + " b" + " c". Each
# word's count (with its space) is remembered, up to a bound; the first words seen in a build are
# mostly the common ones, so the memory stops growing when full rather than starting over.
_WORD_SPLIT_ENCODINGS = frozenset({"cl100k_base", "o200k_base"})
_REMEMBERED_WORDS = 100_000
_LONGEST_SPLIT_TEXT = 100_000  # longer texts take the tokenizer's own path, with its length guard
_ASCII_SPACES = "\t\n\v\f\r"
# Unicode's White_Space other than the space: what \s means to the tokenizer's regex.
_ALL_OTHER_SPACES = (
    _ASCII_SPACES + "\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


class LineCounter:
    def __init__(self, model: str, encoding: str | None = None) -> None:
        """encoding: the tokenizer the build's catalogue names for `model` (default: the packaged one's)."""
        self.encoding_name = encoding or model_facts(model).tokenizer
        self._count = text_counter(self.encoding_name)
        self._remembered: dict[str, int] = {}
        self._split = self.encoding_name in _WORD_SPLIT_ENCODINGS
        self._first_words = _WordCounts(self._count, "")
        self._later_words = _WordCounts(self._count, " ")

    @classmethod
    def of_encoding(cls, encoding: str) -> LineCounter:
        return cls("", encoding)

    def messages(self, messages: Sequence[Mapping[str, object]]) -> int:
        total = PER_CONVERSATION
        for message in messages:  # tuning.catalogue.tokens.count_message, inlined: this loop runs millions of times
            content = message.get("content") or ""
            total += PER_MESSAGE + self.text(content if isinstance(content, str) else str(content))
            if message.get("name"):
                total += PER_NAME
        return total

    def text(self, text: str) -> int:
        known = self._remembered.get(text)
        if known is not None:
            return known
        if self._split and splits_at_every_space(text):
            words = text.split(" ")
            count = self._first_words[words[0]] + sum(map(self._later_words.__getitem__, islice(words, 1, None)))
        else:
            count = self._count(text)
        if len(self._remembered) >= _REMEMBERED_CONTENTS:
            self._remembered.clear()
        self._remembered[text] = count
        return count


def splits_at_every_space(text: str) -> bool:
    """True when no space touches another whitespace character (see _WORD_SPLIT_ENCODINGS). A space at
    either end is fine: " a" is "" + " a", and "a " is "a" + " ", in context as alone."""
    if len(text) > _LONGEST_SPLIT_TEXT or "  " in text:
        return False
    if text.isascii():
        spaces = _ASCII_SPACES
    elif text.isprintable():  # no whitespace but the space
        return True
    else:
        spaces = _ALL_OTHER_SPACES
    for space in spaces:  # a loop, not any(): this runs for every new text of a build
        if space in text and (" " + space in text or space + " " in text):
            return False
    return True


class _WordCounts(dict[str, int]):
    """A word's count with `prefix` before it, remembered until the table is full."""

    def __init__(self, count: Callable[[str], int], prefix: str) -> None:
        super().__init__()
        self._count = count
        self._prefix = prefix

    def __missing__(self, word: str) -> int:
        count = self._count(self._prefix + word)
        if len(self) < _REMEMBERED_WORDS:
            self[word] = count
        return count
