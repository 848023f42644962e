"""Reaction events and the votes they add up to."""

from __future__ import annotations

from typing import NamedTuple

from storage.db import Database, Transaction


class Tally(NamedTuple):
    up: int
    down: int


async def record_reaction(
    db: Database,
    *,
    channel: str,
    ts: str,
    voter: str,
    reaction: str,
    direction: int,
    added: bool,
    event_ts: str,
    source: str = "reaction",
) -> bool:
    """Append one reaction (or feedback-button) event; False when this exact event was already recorded (a retry)."""
    added_rows = await db.write_returning(
        "INSERT INTO reaction_events (channel, ts, voter, reaction, direction, added, event_ts, source)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING 1",
        (channel, ts, voter, reaction, direction, int(added), event_ts, source),
    )
    return bool(added_rows)


async def is_present(db: Database, *, channel: str, ts: str, voter: str, reaction: str) -> bool:
    """Whether this person's reaction is currently on the message, by the newest event."""
    row = await db.fetchone(
        "SELECT added FROM reaction_events WHERE channel = ? AND ts = ? AND voter = ? AND reaction = ?"
        " ORDER BY event_ts DESC, added ASC LIMIT 1",
        (channel, ts, voter, reaction),
    )
    return bool(row and row["added"])


async def tally(tx: Transaction, channel: str, ts: str, *, exclude: tuple[str, ...] = ()) -> Tally:
    """(👍, 👎) on one message, one vote per person, ignoring `exclude` (the author, the bot).

    Takes the transaction so the count and what is written from it agree.
    """
    marks = ",".join("?" * len(exclude)) or "''"
    row = await tx.fetchone(
        "SELECT count(*) FILTER (WHERE direction = 1) AS up, count(*) FILTER (WHERE direction = -1) AS down FROM votes"
        f" WHERE channel = ? AND ts = ? AND voter NOT IN ({marks})",
        (channel, ts, *exclude),
    )
    return Tally(row["up"], row["down"]) if row else Tally(0, 0)
