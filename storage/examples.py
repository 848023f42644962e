"""Training examples, their corrections and the history of their state."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from storage import memory
from storage.db import Database, Row, Transaction
from storage.states import ExampleSource, ExampleState

_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
_COLUMNS = (
    "id, source, state, team_id, channel, thread_ts, message_ts, author, answer_id, model, conversation, question,"
    " answer, corrected, up_votes, down_votes, decided_by, created_at, updated_at"
)


@dataclass(frozen=True)
class NewExample:
    source: ExampleSource
    team_id: str | None
    channel: str
    thread_ts: str | None
    message_ts: str
    author: str | None
    answer_id: int | None
    model: str | None
    conversation: list[dict[str, Any]]
    question: str
    answer: str


@dataclass(frozen=True)
class ExampleRow(NewExample):
    """A stored example: what it was created from, plus its state, correction and votes."""

    id: int
    state: ExampleState
    corrected: str | None
    up_votes: int
    down_votes: int
    decided_by: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class CorrectionRow:
    """One person's correction of an example; `replaced_at` once the same person corrected it again."""

    corrector: str
    text: str
    created_at: str
    replaced_at: str | None


@dataclass(frozen=True)
class ExampleEventRow:
    """One step in an example's history: what happened, who did it (None for the votes) and the state after."""

    action: str
    actor: str | None
    state: ExampleState
    at: str


def _row(row: Row) -> ExampleRow:
    return ExampleRow(**{**dict(row), "conversation": json.loads(row["conversation"])})


async def find(db: Database, channel: str, message_ts: str) -> ExampleRow | None:
    row = await db.fetchone(
        f"SELECT {_COLUMNS} FROM examples WHERE channel = ? AND message_ts = ?", (channel, message_ts)
    )
    return _row(row) if row else None


async def get(db: Database, example_id: int) -> ExampleRow | None:
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM examples WHERE id = ?", (example_id,))
    return _row(row) if row else None


async def create(tx: Transaction, example: NewExample, *, actor: str | None) -> int:
    """Insert (inside the caller's transaction) unless it exists; returns the example's id either way."""
    example_id = await tx.insert(
        "INSERT INTO examples (source, team_id, channel, thread_ts, message_ts, author, answer_id, model,"
        " conversation, question, answer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (channel, message_ts) DO NOTHING",
        (
            example.source,
            example.team_id,
            example.channel,
            example.thread_ts,
            example.message_ts,
            example.author,
            example.answer_id,
            example.model,
            json.dumps(example.conversation),
            example.question,
            example.answer,
        ),
    )
    if example_id is not None:
        await log_event(tx, example_id, "created", actor, "candidate")
        return example_id
    return int(
        await tx.fetchval(
            "SELECT id FROM examples WHERE channel = ? AND message_ts = ?", (example.channel, example.message_ts)
        )
    )


async def log_event(tx: Transaction, example_id: int, action: str, actor: str | None, state: ExampleState) -> None:
    await tx.execute(
        "INSERT INTO example_events (example_id, action, actor, state) VALUES (?, ?, ?, ?)",
        (example_id, action, actor, state),
    )


async def set_votes(tx: Transaction, example_id: int, up: int, down: int) -> None:
    await tx.execute(
        f"UPDATE examples SET up_votes = ?, down_votes = ?, updated_at = {_NOW} WHERE id = ?", (up, down, example_id)
    )
    await memory.sync(tx, [example_id])


async def set_state(
    tx: Transaction, example_id: int, state: ExampleState, *, action: str, actor: str | None, decided_by: str | None
) -> None:
    await tx.execute(
        f"UPDATE examples SET state = ?, decided_by = ?, updated_at = {_NOW} WHERE id = ?",
        (state, decided_by, example_id),
    )
    await log_event(tx, example_id, action, actor, state)
    await memory.sync(tx, [example_id])


async def add_correction(tx: Transaction, example_id: int, corrector: str, text: str) -> None:
    """The newest correction is the one to train on; the same person's earlier one is marked replaced."""
    await tx.execute(
        f"UPDATE corrections SET replaced_at = {_NOW} WHERE example_id = ? AND corrector = ? AND replaced_at IS NULL",
        (example_id, corrector),
    )
    await tx.execute(
        "INSERT INTO corrections (example_id, corrector, text) VALUES (?, ?, ?)", (example_id, corrector, text)
    )
    await tx.execute(
        f"UPDATE examples SET corrected = ?, source = 'correction', updated_at = {_NOW} WHERE id = ?",
        (text, example_id),
    )
    await memory.sync(tx, [example_id])


async def corrections(db: Database, example_id: int) -> list[CorrectionRow]:
    rows = await db.fetchall(
        "SELECT corrector, text, created_at, replaced_at FROM corrections WHERE example_id = ? ORDER BY id",
        (example_id,),
    )
    return [CorrectionRow(**dict(row)) for row in rows]


async def events(db: Database, example_id: int) -> list[ExampleEventRow]:
    rows = await db.fetchall(
        "SELECT action, actor, state, at FROM example_events WHERE example_id = ? ORDER BY id", (example_id,)
    )
    return [ExampleEventRow(**dict(row)) for row in rows]


async def candidates(db: Database, limit: int) -> list[ExampleRow]:
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM examples WHERE state = 'candidate' ORDER BY up_votes DESC, id LIMIT ?", (limit,)
    )
    return [_row(row) for row in rows]


async def count_candidates(db: Database) -> int:
    count: int = await db.fetchval("SELECT count(*) FROM examples WHERE state = 'candidate'")
    return count
