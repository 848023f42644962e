"""The services handlers call, built once by the composition root (bot)."""

from __future__ import annotations

from dataclasses import dataclass

from tuning.answering import Answerer
from tuning.inbox import Inbox


@dataclass(frozen=True)
class Services:
    inbox: Inbox
    answers: Answerer
    admins: frozenset[str]
