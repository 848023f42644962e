"""Slack's streaming budget and the "told once" notices shared through the database (issue 27: several replicas
on one database draw on one budget and tell the admins once), on SQLite and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.fakes import FakeSlack
from bot.runtime import stream_budget
from handlers.stream_budget import APPEND, START, DbStreamBudget, LocalStreamBudget
from storage import lifecycle as lifecycle_rows
from storage import open_database, rate_buckets
from storage.db import Database
from tests.conftest import ALICE, BOT, BOTH_DATABASES, GENERAL, Harness
from tests.dataset_helpers import new_db


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def replicas(tmp_path: Path, database: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two connections to one database, as two replicas hold them (each its own pool on PostgreSQL)."""
    first = await new_db(tmp_path, database if database.startswith("postgresql://") else None)
    second = await open_database(database, home=tmp_path)
    yield first, second
    await second.close()
    await first.close()


def shared(db: Database, clock: Clock) -> DbStreamBudget:
    return DbStreamBudget(functools.partial(rate_buckets.take, db), clock=clock)


@BOTH_DATABASES
async def test_replicas_share_one_budget_per_workspace_and_method(replicas: tuple[Database, Database]) -> None:
    clock = Clock()
    one, two = shared(replicas[0], clock), shared(replicas[1], clock)
    assert [await one.try_start("T1") for _ in range(10)] == [True] * 10
    assert [await two.try_start("T1") for _ in range(10)] == [True] * 8 + [False] * 2  # 18: Tier 2, a tenth kept
    assert not await one.try_start("T1")
    assert await two.try_start("T2")  # another workspace has its own
    assert await one.try_append("T1")  # and each method its own
    clock.now += 60 / 18  # one start comes back every 60 / 18 s, to whichever replica asks first
    assert await two.try_start("T1") and not await one.try_start("T1")
    clock.now -= 30  # a replica whose clock is behind refills nothing (and takes nothing back)
    assert not await one.try_start("T1")


@BOTH_DATABASES
async def test_a_burst_from_two_replicas_at_once_takes_exactly_the_budget(replicas: tuple[Database, Database]) -> None:
    takes = [rate_buckets.take(db, "T1", START, 18.0, 1_000_000.0) for _ in range(30) for db in replicas]
    granted = await asyncio.gather(*takes)
    assert granted.count(True) == 18
    row = await replicas[0].fetchone("SELECT tokens, at FROM rate_buckets WHERE team = 'T1' AND method = ?", (START,))
    assert row is not None and 0 <= row[0] < 1 and row[1] == 1_000_000.0


@BOTH_DATABASES
async def test_appends_pace_by_this_replicas_open_streams(replicas: tuple[Database, Database]) -> None:
    budget = shared(replicas[0], Clock())
    assert budget.append_every("T1") == 1.0
    for _ in range(18):
        assert await budget.try_start("T1")
    assert budget.append_every("T1") == 18 * 60 / 90
    for _ in range(17):
        budget.ended("T1")
    assert budget.append_every("T1") == 1.0
    assert [await budget.try_append("T1") for _ in range(91)].count(True) == 90


async def test_a_database_error_grants_no_call() -> None:
    async def broken(team: str, method: str, per_minute: float, now: float) -> bool:
        raise OSError("connection refused")

    budget = DbStreamBudget(broken)
    assert not await budget.try_start("T1") and not await budget.try_append("T1")
    assert budget.append_every("T1") == 1.0  # the refused start is not counted as open


@BOTH_DATABASES
async def test_replicas_tell_the_admins_once(replicas: tuple[Database, Database]) -> None:
    claims = [lifecycle_rows.claim_notice(db, "stream-refused:C1") for _ in range(5) for db in replicas]
    assert (await asyncio.gather(*claims)).count(True) == 1
    await lifecycle_rows.release_notice(replicas[1], "stream-refused:C1")  # its post failed: the next may try
    assert await lifecycle_rows.claim_notice(replicas[0], "stream-refused:C1")


@BOTH_DATABASES
async def test_the_app_uses_the_shared_budget_on_postgresql(app: Harness, slack: FakeSlack) -> None:
    assert isinstance(stream_budget(app.db), DbStreamBudget if app.db.dialect == "postgresql" else LocalStreamBudget)
    ts = slack.add_message(GENERAL, ALICE, f"<@{BOT}> how do I reset the router?")
    assert (
        await app.event(
            {
                "type": "app_mention",
                "user": ALICE,
                "text": f"<@{BOT}> how do I reset the router?",
                "ts": ts,
                "channel": GENERAL,
            }
        )
        == 200
    )
    await app.settle()
    assert len(slack.calls_to("chat.startStream")) == 1
    taken = {row[0] for row in await app.db.fetchall("SELECT method FROM rate_buckets")}
    assert taken == (
        {START} | ({APPEND} if slack.calls_to("chat.appendStream") else set())
        if app.db.dialect == "postgresql"
        else set()
    )
