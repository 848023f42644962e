"""What an operator's dashboards read: counts and ages, each one indexed query (see bot/metrics.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from storage.db import Database


@dataclass(frozen=True)
class OpsSnapshot:
    inbox_backlog: int
    oldest_pending_seconds: float
    answers: dict[str, int] = field(default_factory=dict)  # by status
    failed_answers_by_model: dict[str, int] = field(default_factory=dict)
    new_latencies_ms: list[tuple[int, int]] = field(default_factory=list)  # (answer id, latency) after the mark
    votes: dict[str, int] = field(default_factory=dict)  # "up" / "down", summed over examples
    jobs: dict[str, int] = field(default_factory=dict)  # by state


class Backlog(NamedTuple):
    """Events stored but not processed, and how long the oldest has waited (seconds)."""

    events: int
    oldest_seconds: float


async def inbox_backlog(db: Database) -> Backlog:
    row = await db.fetchone(
        "SELECT count(*), coalesce((julianday('now') - julianday(min(received_at))) * 86400.0, 0)"
        " FROM inbox WHERE processed_at IS NULL"
    )
    assert row is not None
    return Backlog(int(row[0]), float(row[1]))


async def snapshot(db: Database, *, answers_after: int) -> OpsSnapshot:
    backlog = await inbox_backlog(db)
    answers = {r[0]: r[1] for r in await db.fetchall("SELECT status, count(*) FROM answers GROUP BY status")}
    failed = {
        r[0]: r[1]
        for r in await db.fetchall("SELECT model, count(*) FROM answers WHERE status = 'failed' GROUP BY model")
    }
    latencies = [
        (r[0], r[1])
        for r in await db.fetchall(
            "SELECT id, latency_ms FROM answers WHERE id > ? AND status = 'answered' AND latency_ms IS NOT NULL"
            " ORDER BY id",
            (answers_after,),
        )
    ]
    votes = await db.fetchone("SELECT coalesce(sum(up_votes), 0), coalesce(sum(down_votes), 0) FROM examples")
    assert votes is not None
    jobs = {r[0]: r[1] for r in await db.fetchall("SELECT state, count(*) FROM jobs GROUP BY state")}
    return OpsSnapshot(
        backlog.events, backlog.oldest_seconds, answers, failed, latencies, {"up": votes[0], "down": votes[1]}, jobs
    )
