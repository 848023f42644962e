"""Events are stored before Slack is acknowledged, then processed; leftovers are replayed at start-up."""

from __future__ import annotations

import asyncio
from typing import Any

from storage import claims
from storage import inbox as inbox_rows
from storage.db import Database
from storage.inbox import InboxRow

# Events Tuneloop acts on; anything else is acknowledged and dropped without touching the database.
VOTE_REACTIONS = frozenset({"+1", "thumbsup", "-1", "thumbsdown"})
GIVE_UP_AFTER_ATTEMPTS = 3
QUIET_SECONDS = 0.02  # no event to commit for this long: a burst is over
MAX_BATCH = 200  # events per group commit (3 SQL parameters each, far below SQLite's limit)


def is_wanted(event: dict[str, Any]) -> bool:
    kind = event.get("type")
    if kind in ("reaction_added", "reaction_removed"):
        return str(event.get("reaction", "")).split("::")[0] in VOTE_REACTIONS
    return kind in ("app_mention", "message", "app_home_opened", "assistant_thread_started")


class Inbox:
    def __init__(self, db: Database, *, replica: str = "", claim_seconds: float = 30.0) -> None:
        """`replica` names this process among those sharing the database; a claim on an event lasts
        `claim_seconds` unless renewed (bot/replicas.py renews them while the process lives)."""
        self._db = db
        self.replica = replica
        self._claim_seconds = claim_seconds
        self._waiting: list[tuple[str, str, str, asyncio.Future[int | None]]] = []
        self._committer: asyncio.Task[None] | None = None
        self._last_acknowledged = float("-inf")  # loop time of the newest commit

    async def accept(self, event_id: str, event_type: str, body: str) -> int | None:
        """Store the event once; None when Slack is re-sending one we already have. Returns once it is committed.

        Group commit: events that arrive while a batch is being written wait for the next one, so concurrent
        requests share a transaction instead of queueing for one each; no one waits for a timer.
        """
        stored: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((event_id, event_type, body, stored))
        if self._committer is None:
            self._committer = asyncio.create_task(self._commit_waiting(), name="inbox-group-commit")
        return await stored

    async def _commit_waiting(self) -> None:
        batch: list[tuple[str, str, str, asyncio.Future[int | None]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                try:
                    row_ids = await inbox_rows.add_many(self._db, [event[:3] for event in batch])
                except Exception as error:  # nobody in this batch is acknowledged; the next batch tries again
                    outcomes: list[int | None | Exception] = [error] * len(batch)
                else:
                    outcomes = list(row_ids)
                for (*_, stored), outcome in zip(batch, outcomes, strict=True):
                    if stored.done():  # the request went away meanwhile
                        continue
                    if isinstance(outcome, Exception):
                        stored.set_exception(outcome)
                    else:
                        stored.set_result(outcome)
                batch = []
        finally:  # empty unless this task was cancelled (shutdown): then no request is left waiting forever
            self._committer = None
            unfinished, self._waiting = batch + self._waiting, []
            for *_, stored in unfinished:
                stored.cancel()
            self._last_acknowledged = asyncio.get_running_loop().time()

    async def settled(self, timeout: float, quiet: float = QUIET_SECONDS) -> None:
        """Return once no event has been waiting for a commit for `quiet` seconds (a burst is over), or after
        `timeout` seconds regardless."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (now := loop.time()) < deadline:
            busy_for = quiet if self._committer else self._last_acknowledged + quiet - now
            if busy_for <= 0:
                return
            await asyncio.sleep(min(busy_for, deadline - now))

    async def claim(self, limit: int) -> list[InboxRow]:
        """Unprocessed events no live replica holds, now this one's: each event is processed by one replica."""
        return await claims.claim_events(self._db, self.replica, ttl=self._claim_seconds, limit=limit)

    async def begin(self, row: InboxRow) -> bool:
        """Count an attempt; False (and the row closed) once it has failed too often to retry."""
        if row.attempts >= GIVE_UP_AFTER_ATTEMPTS:
            await inbox_rows.finish(self._db, row.id, error=f"gave up after {row.attempts} attempts")
            return False
        await inbox_rows.start_attempt(self._db, row.id)
        return True

    async def done(self, row_id: int, error: str | None = None) -> None:
        await inbox_rows.finish(self._db, row_id, error)
