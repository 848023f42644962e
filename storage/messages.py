"""Slack messages Tuneloop has seen, keyed by (channel, ts)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from storage.db import Database


@dataclass(frozen=True)
class MessageRow:
    channel: str
    ts: str
    team_id: str | None
    thread_ts: str | None
    user_id: str | None
    is_bot: bool
    text: str
    answer_id: int | None


async def get(db: Database, channel: str, ts: str) -> MessageRow | None:
    row = await db.fetchone(
        "SELECT channel, ts, team_id, thread_ts, user_id, is_bot, text, answer_id FROM messages"
        " WHERE channel = ? AND ts = ?",
        (channel, ts),
    )
    return MessageRow(**{**dict(row), "is_bot": bool(row["is_bot"])}) if row else None


@dataclass(frozen=True)
class AnswerContext:
    """The chat messages a bot answer was generated from, its text and its model."""

    request_messages: list[dict[str, Any]]
    answer_text: str
    model: str


async def answer_context(db: Database, answer_id: int) -> AnswerContext | None:
    """What an answered question was generated from; None while it is not answered."""
    row = await db.fetchone(
        "SELECT request_messages, answer_text, model FROM answers WHERE id = ? AND status = 'answered'", (answer_id,)
    )
    if row is None or row["request_messages"] is None:
        return None
    return AnswerContext(json.loads(row["request_messages"]), row["answer_text"], row["model"])


async def answer_ts(db: Database, answer_id: int) -> str | None:
    """The first Slack message an answer was posted as."""
    ts: str | None = await db.fetchval("SELECT answer_ts FROM answers WHERE id = ?", (answer_id,))
    return ts


async def save_message(
    db: Database,
    *,
    channel: str,
    ts: str,
    team_id: str | None,
    thread_ts: str | None,
    user_id: str | None,
    text: str,
    is_bot: bool = False,
) -> None:
    """Remember a message seen in a channel; seen again, it keeps the newest text."""
    await db.execute(
        "INSERT INTO messages (channel, ts, team_id, thread_ts, user_id, is_bot, text) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (channel, ts) DO UPDATE SET text = excluded.text",
        (channel, ts, team_id, thread_ts, user_id, int(is_bot), text),
    )
