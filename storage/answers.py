"""Answers the bot gave and the Slack messages they are made of."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NamedTuple

from storage.db import Database
from storage.states import AnswerStatus


@dataclass(frozen=True)
class AnswerRow:
    id: int
    channel: str
    thread_ts: str
    question_ts: str
    answer_ts: str | None
    status: AnswerStatus
    model: str


class TraceIds(NamedTuple):
    trace_id: str
    span_id: str


_ROW = "SELECT id, channel, thread_ts, question_ts, answer_ts, status, model FROM answers"


@dataclass(frozen=True)
class TakenOver:
    """A pending answer this replica now writes: its placeholder (if one was posted) is edited, not repeated."""

    id: int
    answer_ts: str | None
    model: str


async def claim(
    db: Database,
    *,
    team_id: str | None,
    channel: str,
    thread_ts: str,
    question_ts: str,
    asked_by: str,
    model: str,
    replica: str = "",
    expires: float | None = None,
) -> int | None:
    """Reserve the answer to one question for `replica` until `expires` (renewed while it writes); None when it
    is already answered or being answered.

    Slack delivers a mention twice (app_mention and message) and may retry either: the
    UNIQUE (channel, question_ts) makes sure only one of them produces an answer, across replicas too.
    """
    async with db.transaction() as tx:
        return await tx.insert(
            "INSERT INTO answers (team_id, channel, thread_ts, question_ts, asked_by, model, claimed_by, claim_expires)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (channel, question_ts) DO NOTHING",
            (team_id, channel, thread_ts, question_ts, asked_by, model, replica, expires),
        )


async def take_over(
    db: Database, channel: str, question_ts: str, *, replica: str, now: float, expires: float
) -> TakenOver | None:
    """The pending answer to this question, if no live replica is writing it (its claim expired, was released,
    or is this replica's own): claimed for `replica` in one statement, so two replicas cannot both take it."""
    rows = await db.write_returning(
        "UPDATE answers SET claimed_by = ?, claim_expires = ? WHERE channel = ? AND question_ts = ?"
        " AND status = 'pending' AND (claim_expires IS NULL OR claim_expires < ? OR claimed_by = ?)"
        " RETURNING id, answer_ts, model",
        (replica, expires, channel, question_ts, now, replica),
    )
    return TakenOver(**dict(rows[0])) if rows else None


async def get(db: Database, answer_id: int) -> AnswerRow | None:
    row = await db.fetchone(f"{_ROW} WHERE id = ?", (answer_id,))
    return AnswerRow(**dict(row)) if row else None


async def find(db: Database, channel: str, question_ts: str) -> AnswerRow | None:
    row = await db.fetchone(f"{_ROW} WHERE channel = ? AND question_ts = ?", (channel, question_ts))
    return AnswerRow(**dict(row)) if row else None


async def set_placeholder(db: Database, answer_id: int, answer_ts: str) -> None:
    await db.execute("UPDATE answers SET answer_ts = ? WHERE id = ?", (answer_ts, answer_id))


async def complete(
    db: Database,
    answer_id: int,
    *,
    request_messages: list[dict[str, Any]],
    text: str,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    latency_ms: int,
    part_ts: list[str],
    bot_user_id: str | None,
    trace: TraceIds | None = None,
) -> None:
    """Record the answer and every Slack message it was posted as, in one transaction."""
    trace_id, span_id = trace or (None, None)
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE answers SET status = 'answered', request_messages = ?, answer_text = ?, prompt_tokens = ?,"
            " completion_tokens = ?, latency_ms = ?, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),"
            " trace_id = ?, span_id = ? WHERE id = ?",
            (
                json.dumps(request_messages),
                text,
                prompt_tokens,
                completion_tokens,
                latency_ms,
                trace_id,
                span_id,
                answer_id,
            ),
        )
        row = await tx.fetchone("SELECT team_id, channel, thread_ts FROM answers WHERE id = ?", (answer_id,))
        assert row is not None  # the same transaction just updated it
        await tx.executemany(
            "INSERT INTO messages (channel, ts, team_id, thread_ts, user_id, is_bot, text, answer_id)"
            " VALUES (?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT (channel, ts) DO UPDATE SET text = excluded.text,"
            " answer_id = excluded.answer_id",
            [(row["channel"], ts, row["team_id"], row["thread_ts"], bot_user_id, text, answer_id) for ts in part_ts],
        )


async def fail(
    db: Database,
    answer_id: int,
    *,
    request_messages: list[dict[str, Any]] | None,
    error: str,
    latency_ms: int,
    trace: TraceIds | None = None,
) -> None:
    trace_id, span_id = trace or (None, None)
    await db.execute(
        "UPDATE answers SET status = 'failed', request_messages = ?, error = ?, latency_ms = ?,"
        " finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), trace_id = ?, span_id = ? WHERE id = ?",
        (
            json.dumps(request_messages) if request_messages is not None else None,
            error,
            latency_ms,
            trace_id,
            span_id,
            answer_id,
        ),
    )


async def trace_of(db: Database, answer_id: int) -> TraceIds | None:
    """The answer's trace and span ids, when it was traced."""
    row = await db.fetchone("SELECT trace_id, span_id FROM answers WHERE id = ?", (answer_id,))
    return TraceIds(row["trace_id"], row["span_id"]) if row and row["trace_id"] else None


async def first_messages_in_thread(db: Database, channel: str, thread_ts: str, *, besides: int) -> frozenset[str]:
    """The recorded first message of every other answer in this thread."""
    rows = await db.fetchall(
        "SELECT answer_ts FROM answers WHERE channel = ? AND thread_ts = ? AND answer_ts IS NOT NULL AND id != ?",
        (channel, thread_ts, besides),
    )
    return frozenset(row[0] for row in rows)


async def thread_is_answered(db: Database, channel: str, thread_ts: str) -> bool:
    """True when the bot has answered (or is answering) in this thread."""
    row = await db.fetchone("SELECT 1 FROM answers WHERE channel = ? AND thread_ts = ? LIMIT 1", (channel, thread_ts))
    return row is not None


async def answered_before(db: Database, channel: str, thread_ts: str, question_ts: str) -> bool:
    """Whether a question earlier than `question_ts` in this thread has an answer row."""
    row = await db.fetchone(
        "SELECT 1 FROM answers WHERE channel = ? AND thread_ts = ? AND CAST(question_ts AS REAL) < CAST(? AS REAL)"
        " LIMIT 1",
        (channel, thread_ts, question_ts),
    )
    return row is not None
