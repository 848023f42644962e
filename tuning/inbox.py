"""Events are stored before Slack is acknowledged, then processed; leftovers are replayed at start-up."""

from __future__ import annotations

from storage import inbox as inbox_rows
from storage.db import Database
from storage.inbox import InboxRow

# Events Tuneloop acts on; anything else is acknowledged and dropped without touching the database.
VOTE_REACTIONS = frozenset({"+1", "thumbsup", "-1", "thumbsdown"})
GIVE_UP_AFTER_ATTEMPTS = 3


def is_wanted(event: dict) -> bool:
    kind = event.get("type")
    if kind in ("reaction_added", "reaction_removed"):
        return str(event.get("reaction", "")).split("::")[0] in VOTE_REACTIONS
    return kind in ("app_mention", "message", "app_home_opened")


class Inbox:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def accept(self, event_id: str, event_type: str, body: str) -> int | None:
        """Store the event once; None when Slack is re-sending one we already have."""
        return await inbox_rows.add(self._db, event_id, event_type, body)

    async def pending(self, after_id: int = 0, limit: int = 100) -> list[InboxRow]:
        return await inbox_rows.pending(self._db, after_id=after_id, limit=limit)

    async def begin(self, row: InboxRow) -> bool:
        """Count an attempt; False (and the row closed) once it has failed too often to retry."""
        if row.attempts >= GIVE_UP_AFTER_ATTEMPTS:
            await inbox_rows.finish(self._db, row.id, error=f"gave up after {row.attempts} attempts")
            return False
        await inbox_rows.start_attempt(self._db, row.id)
        return True

    async def done(self, row_id: int, error: str | None = None) -> None:
        await inbox_rows.finish(self._db, row_id, error)
