"""Why people voted 👎: a reason (and a note) stored with the vote, counted while the vote stands."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

from storage.db import Database

Reason = Literal["wrong", "outdated", "incomplete", "unclear", "other"]
REASONS: tuple[Reason, ...] = get_args(Reason)

# A reason counts while its voter's vote on that answer is still 👎.
_STANDING = "JOIN votes v ON v.channel = r.channel AND v.ts = r.ts AND v.voter = r.voter AND v.direction = -1"


async def save(db: Database, *, channel: str, ts: str, voter: str, reason: Reason, note: str | None) -> None:
    await db.execute(
        "INSERT INTO vote_reasons (channel, ts, voter, reason, note) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (channel, ts, voter) DO UPDATE SET reason = excluded.reason,"
        " note = coalesce(excluded.note, vote_reasons.note), at = excluded.at",
        (channel, ts, voter, reason, note),
    )


async def counts(db: Database) -> dict[str, int]:
    """Standing 👎 reasons over every answer."""
    rows = await db.fetchall(f"SELECT r.reason, count(*) AS n FROM vote_reasons r {_STANDING} GROUP BY r.reason")
    return {row["reason"]: row["n"] for row in rows}


async def for_messages(
    db: Database, messages: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], list[tuple[str, str | None]]]:
    """(reason, note) of the standing 👎s on each (channel, ts)."""
    found: dict[tuple[str, str], list[tuple[str, str | None]]] = {}
    for channel, ts in messages:
        rows = await db.fetchall(
            f"SELECT r.reason, r.note FROM vote_reasons r {_STANDING} WHERE r.channel = ? AND r.ts = ? ORDER BY r.at",
            (channel, ts),
        )
        if rows:
            found[(channel, ts)] = [(row["reason"], row["note"]) for row in rows]
    return found
