"""The inbox's group commit and the worker's rule that acknowledgements go first."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.response import BoltResponse

from bot import worker as worker_module
from bot.worker import InboxWorker
from storage import inbox as inbox_rows
from storage import migrate, open_database
from storage.db import Database
from tests.waiting import eventually
from tuning.capture.inbox import QUIET_SECONDS, Inbox

# Waiting this long on a busy inbox with `settled` gives every other waiter several quiet periods in which
# it would have returned (each of its checks sleeps at most one): the condition before a negative check.
SEVERAL_CHECKS = 5 * QUIET_SECONDS


@pytest.fixture
async def db(tmp_path: Path):
    database = await open_database(tmp_path / "inbox.db")
    await migrate(database)
    yield database
    await database.close()


class HeldCommits:
    """Stands in for storage.inbox.add_many: commits only once released, counting the batches."""

    def __init__(self) -> None:
        self.released = asyncio.Event()
        self.batches: list[int] = []

    async def __call__(self, db: Database, events: list[tuple[str, str, str]]) -> list[int | None]:
        self.batches.append(len(events))
        await self.released.wait()
        return await ADD_MANY(db, events)


ADD_MANY = inbox_rows.add_many


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> HeldCommits:
    commits = HeldCommits()
    monkeypatch.setattr(inbox_rows, "add_many", commits)
    return commits


class WatchedInbox(Inbox):
    """Counts the worker's claims of pending events (the reads that found some)."""

    reads = 0

    async def claim(self, limit: int) -> list[Any]:
        rows = await super().claim(limit)
        self.reads += bool(rows)
        return rows


class RecordingApp:
    def __init__(self) -> None:
        self.dispatched: list[str] = []

    async def async_dispatch(self, request: Any) -> BoltResponse:
        self.dispatched.append(request.body["event_id"])
        return BoltResponse(status=200, body="")


async def test_concurrent_events_share_a_commit_and_a_repeat_is_stored_once(db: Database, held: HeldCommits) -> None:
    inbox = Inbox(db)
    first = asyncio.create_task(inbox.accept("Ev0", "message", "{}"))
    await eventually(lambda: held.batches == [1])  # the first batch is being written…
    rest = [asyncio.create_task(inbox.accept(f"Ev{n % 5}", "message", "{}")) for n in range(1, 11)]
    await asyncio.sleep(0)  # one turn of the loop: each of the ten is now waiting for the next commit
    held.released.set()
    ids = await asyncio.gather(first, *rest)
    assert held.batches == [1, 10]  # …so the ten that arrived meanwhile went together in the next
    assert len({row_id for row_id in ids if row_id is not None}) == 5
    assert await db.fetchval("SELECT count(*) FROM inbox") == 5


async def test_settled_waits_for_the_acknowledgements_in_flight(db: Database, held: HeldCommits) -> None:
    inbox = Inbox(db)
    accepting = asyncio.create_task(inbox.accept("Ev1", "message", "{}"))
    await eventually(lambda: held.batches == [1])
    waiting = asyncio.create_task(inbox.settled(timeout=30))
    finished, _ = await asyncio.wait({waiting}, timeout=SEVERAL_CHECKS)  # at once, had it returned in its checks
    assert not finished  # the commit is still held
    held.released.set()
    await asyncio.wait_for(waiting, timeout=5)
    assert await accepting is not None


async def worker_during_a_burst(
    db: Database, held: HeldCommits, arriving: str
) -> tuple[RecordingApp, InboxWorker, asyncio.Task[None], asyncio.Task[int | None], WatchedInbox]:
    """EvOld stored; `arriving` waiting for its commit (a burst in progress); a worker started on the inbox."""
    inbox = WatchedInbox(db)
    held.released.set()
    await inbox.accept("EvOld", "message", '{"event_id": "EvOld"}')
    held.released.clear()
    burst = asyncio.create_task(inbox.accept(arriving, "message", f'{{"event_id": "{arriving}"}}'))
    app = RecordingApp()
    worker = InboxWorker(app, inbox)  # type: ignore[arg-type]
    return app, worker, asyncio.create_task(worker.run()), burst, inbox


async def test_the_worker_defers_to_acknowledgements_then_processes(db: Database, held: HeldCommits) -> None:
    app, worker, running, burst, inbox = await worker_during_a_burst(db, held, "EvNew")
    await eventually(lambda: inbox.reads == 1, what="the worker reading EvOld")
    await inbox.settled(timeout=SEVERAL_CHECKS)  # the worker has had as long to go on (ACKS_FIRST_SECONDS is 0.5 s)
    assert app.dispatched == []  # a stored event waits while Slack waits for an acknowledgement
    held.released.set()
    await burst
    await eventually(lambda: app.dispatched == ["EvOld", "EvNew"])
    await worker.stop(timeout=1)
    await running


async def test_a_steady_stream_of_acknowledgements_slows_the_worker_but_never_stops_it(
    db: Database, held: HeldCommits, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "ACKS_FIRST_SECONDS", 0.05)
    app, worker, running, never_committed, _ = await worker_during_a_burst(db, held, "EvStuck")
    await eventually(lambda: app.dispatched == ["EvOld"])  # while EvStuck is still not committed
    await worker.stop(timeout=1)
    await running
    held.released.set()
    await never_committed
