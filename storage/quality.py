"""The numbers behind quality alerts: recent answers, their votes, and the alerts already sent."""

from __future__ import annotations

from dataclasses import dataclass

from storage.db import Database


@dataclass(frozen=True)
class RatedAnswer:
    id: int
    channel: str
    answer_ts: str
    thread_ts: str
    model: str
    up: int
    down: int


@dataclass(frozen=True)
class FinishedAnswer:
    id: int
    channel: str
    thread_ts: str
    question_ts: str
    status: str
    error: str | None


async def rated_answers(db: Database, limit: int) -> list[RatedAnswer]:
    """The newest `limit` answers someone voted on (votes on the answer's first message), newest first."""
    rows = await db.fetchall(
        "SELECT a.id, a.channel, a.answer_ts, a.thread_ts, a.model,"
        " sum(v.direction = 1) AS up, sum(v.direction = -1) AS down"
        " FROM answers a JOIN votes v ON v.channel = a.channel AND v.ts = a.answer_ts"
        " WHERE a.status = 'answered' GROUP BY a.id ORDER BY a.id DESC LIMIT ?",
        (limit,),
    )
    return [RatedAnswer(**dict(row)) for row in rows]


async def finished_answers(db: Database, limit: int) -> list[FinishedAnswer]:
    """The newest `limit` answers given or failed, newest first."""
    rows = await db.fetchall(
        "SELECT id, channel, thread_ts, question_ts, status, error FROM answers WHERE status != 'pending'"
        " ORDER BY id DESC LIMIT ?",
        (limit,),
    )
    return [FinishedAnswer(**dict(row)) for row in rows]


async def alerts_sent(db: Database, prefix: str) -> dict[str, str]:
    """Notice keys starting with `prefix` (quality alerts: `quality:<cause>:<day>`) and when each was sent."""
    rows = await db.fetchall(
        "SELECT key, sent_at FROM lifecycle_notices WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
    )
    return {row["key"]: row["sent_at"] for row in rows}
