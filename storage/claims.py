"""Claims that let several replicas share one database: on inbox rows (who processes an event) and on
pending answers (who writes one), each renewed by its replica's heartbeat and taken over once expired.

On PostgreSQL a replica picks inbox rows with FOR UPDATE SKIP LOCKED, so replicas claiming at once
never wait on, or take, each other's rows. Times are Unix seconds from the replica's clock (replicas'
clocks are assumed NTP-close: a claim lasts many times any skew).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from storage.db import Database
from storage.inbox import InboxRow


async def claim_events(db: Database, replica: str, *, ttl: float, limit: int) -> list[InboxRow]:
    """Claim up to `limit` unprocessed inbox rows nobody holds (or whose claim expired), oldest first."""
    now = time.time()
    skip_locked = " FOR UPDATE SKIP LOCKED" if db.dialect == "postgresql" else ""
    rows = await db.write_returning(
        "UPDATE inbox SET claimed_by = ?, claim_expires = ? WHERE id IN ("
        " SELECT id FROM inbox WHERE processed_at IS NULL AND (claim_expires IS NULL OR claim_expires < ?)"
        f" ORDER BY id LIMIT ?{skip_locked}) RETURNING id, event_id, event_type, body, attempts",
        (replica, now + ttl, now, limit),
    )
    return sorted((InboxRow(**dict(row)) for row in rows), key=lambda row: row.id)


async def renew(db: Database, replica: str, *, ttl: float) -> None:
    """Push on every claim this replica holds (events in progress or waiting for a retry, answers being
    written): one statement per table, whatever their number."""
    expires = time.time() + ttl
    await db.execute(
        "UPDATE inbox SET claim_expires = ? WHERE claimed_by = ? AND processed_at IS NULL", (expires, replica)
    )
    await db.execute(
        "UPDATE answers SET claim_expires = ? WHERE claimed_by = ? AND status = 'pending'", (expires, replica)
    )


async def release(db: Database, replica: str) -> None:
    """A replica stopping hands its unfinished events and answers to the others at once."""
    await db.execute("UPDATE inbox SET claim_expires = NULL WHERE claimed_by = ? AND processed_at IS NULL", (replica,))
    await db.execute("UPDATE answers SET claim_expires = NULL WHERE claimed_by = ? AND status = 'pending'", (replica,))


async def release_all(db: Database) -> None:
    """SQLite: the writer lease's holder is the only process, so any claim is a dead one's."""
    await db.execute("UPDATE inbox SET claim_expires = NULL WHERE processed_at IS NULL AND claim_expires IS NOT NULL")
    await db.execute("UPDATE answers SET claim_expires = NULL WHERE status = 'pending' AND claim_expires IS NOT NULL")


async def event_ids_held(db: Database, replica: str, ids: Sequence[int]) -> set[int]:
    """Which of these inbox rows this replica still holds (its claim not taken over)."""
    if not ids:
        return set()
    marks = ", ".join("?" * len(ids))
    rows = await db.fetchall(f"SELECT id FROM inbox WHERE claimed_by = ? AND id IN ({marks})", (replica, *ids))
    return {row[0] for row in rows}
