"""The domain's markers for commands and people (tuning/words.py), written the way Slack shows them."""

from __future__ import annotations

import re

from tuning.words import CLOSE, OPEN

COMMAND = "/tune"
_MARKER = re.compile(f"{OPEN}(command|person) ([^{CLOSE}]*){CLOSE}")


def slack_words(text: str) -> str:
    """`⟦command jobs⟧` → `` `/tune jobs` ``, `⟦person U1⟧` → `<@U1>`; everything else unchanged."""
    return _MARKER.sub(lambda m: f"`{COMMAND} {m[2]}`" if m[1] == "command" else f"<@{m[2]}>", text)
