"""The event inbox: raw events persisted before they are acknowledged."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from storage.db import Database


@dataclass(frozen=True)
class InboxRow:
    id: int
    event_id: str
    event_type: str
    body: str
    attempts: int


async def add_many(db: Database, events: Sequence[tuple[str, str, str]]) -> list[int | None]:
    """Store a batch of (event_id, event_type, body) with one statement: one transaction, one round trip.

    Returns, for each event in order, its new row id, or None when its event_id was already stored
    (before, or earlier in the same batch).
    """
    if not events:
        return []
    values = ", ".join(["(?, ?, ?)"] * len(events))
    rows = await db.write_returning(
        f"INSERT INTO inbox (event_id, event_type, body) VALUES {values}"
        " ON CONFLICT (event_id) DO NOTHING RETURNING id, event_id",
        [value for event in events for value in event],
        urgent=True,  # Slack is waiting for these events' 200s
    )
    new_ids = {event_id: row_id for row_id, event_id in rows}
    return [new_ids.pop(event_id, None) for event_id, _, _ in events]


async def pending(db: Database, *, after_id: int = 0, limit: int = 100) -> list[InboxRow]:
    rows = await db.fetchall(
        "SELECT id, event_id, event_type, body, attempts FROM inbox"
        " WHERE processed_at IS NULL AND id > ? ORDER BY id LIMIT ?",
        (after_id, limit),
    )
    return [InboxRow(**dict(row)) for row in rows]


async def start_attempt(db: Database, row_id: int) -> None:
    await db.execute("UPDATE inbox SET attempts = attempts + 1 WHERE id = ?", (row_id,))


async def finish(db: Database, row_id: int, error: str | None = None) -> None:
    await db.execute(
        "UPDATE inbox SET processed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), error = ? WHERE id = ?",
        (error, row_id),
    )
