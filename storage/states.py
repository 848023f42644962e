"""The values a state column may hold: the CHECK constraints of storage/migrations.py, as types.

Rows carry them and the domain's views repeat them, so a state spelled wrong fails mypy, not a user.
"""

from __future__ import annotations

from typing import Literal

ExampleSource = Literal["bot_answer", "teammate_answer", "correction"]
ExampleState = Literal["candidate", "approved", "rejected"]
AnswerStatus = Literal["pending", "answered", "failed"]
JobStatus = Literal[
    "preflight",
    "dismissed",
    "starting",
    "pending",
    "running",
    "cancelling",
    "succeeded",
    "failed",
    "cancelled",
]
EvaluationState = Literal["running", "done", "failed"]
ModelAction = Literal["promote", "rollback", "fallback"]
