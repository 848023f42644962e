"""Replicas sharing one PostgreSQL database: each event claimed by one, each answer written by one, one leader;
a dead replica's claims and leadership pass to a survivor once they expire. Each replica here is a Database
of its own (its own connection pool), as in separate processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.replicas import Replica
from storage import Database, answers, claims, leader, migrate, open_database
from storage import inbox as inbox_rows
from tests.pg_server import PostgresServer


@pytest.fixture
async def two(postgres: PostgresServer, tmp_path: Path) -> AsyncIterator[tuple[Database, Database]]:
    url = postgres.create_database()
    first = await open_database(url, home=tmp_path)
    await migrate(first)
    second = await open_database(url, home=tmp_path)
    yield first, second
    await first.close()
    await second.close()
    postgres.drop_database(url)


async def stored(db: Database, n: int) -> None:
    await inbox_rows.add_many(db, [(f"Ev{i}", "message", "{}") for i in range(n)])


async def test_replicas_claiming_at_once_share_the_events_without_overlap(two: tuple[Database, Database]) -> None:
    a, b = two
    await stored(a, 200)
    taken: dict[str, list[int]] = {"a": [], "b": []}

    async def drain(name: str, db: Database) -> None:
        while rows := await claims.claim_events(db, name, ttl=30, limit=7):
            taken[name] += [row.id for row in rows]

    await asyncio.gather(drain("a", a), drain("b", b))
    assert not set(taken["a"]) & set(taken["b"])
    assert len(taken["a"]) + len(taken["b"]) == 200
    assert taken["a"] and taken["b"], "both replicas got work"


async def test_a_dead_replicas_claim_is_taken_over_once_it_expires_and_a_live_one_is_not(
    two: tuple[Database, Database],
) -> None:
    a, b = two
    await stored(a, 2)
    mine = await claims.claim_events(a, "a", ttl=0.5, limit=1)
    held = await claims.claim_events(a, "a-live", ttl=0.5, limit=1)
    assert len(mine) == len(held) == 1
    assert await claims.claim_events(b, "b", ttl=30, limit=10) == []  # both claims live
    await asyncio.sleep(0.3)
    await claims.renew(a, "a-live", ttl=30)  # its heartbeat; "a" has died
    await asyncio.sleep(0.4)
    taken = await claims.claim_events(b, "b", ttl=30, limit=10)
    assert [row.id for row in taken] == [mine[0].id]
    assert await claims.event_ids_held(a, "a", [mine[0].id]) == set()


async def test_an_answer_is_written_by_one_replica_and_finished_by_another_if_it_dies(
    two: tuple[Database, Database],
) -> None:
    a, b = two
    question = {
        "team_id": "T1",
        "channel": "C1",
        "thread_ts": "1.0",
        "question_ts": "1.0",
        "asked_by": "U1",
        "model": "m",
    }
    now = time.time()
    first = await answers.claim(a, **question, replica="a", expires=now + 0.5)
    assert first is not None
    assert await answers.claim(b, **question, replica="b", expires=now + 30) is None  # one row per question
    await answers.set_placeholder(a, first, "2.0")  # "a" posted the start of its answer, then died
    assert await answers.take_over(b, "C1", "1.0", replica="b", now=time.time(), expires=now + 30) is None
    await asyncio.sleep(0.6)
    taken = await answers.take_over(b, "C1", "1.0", replica="b", now=time.time(), expires=time.time() + 30)
    assert taken == answers.TakenOver(first, "2.0", "m")  # the survivor edits "a"'s message, not a second one
    # Both replicas trying at once after expiry: one wins.
    await b.execute("UPDATE answers SET claim_expires = 0")
    results = await asyncio.gather(
        *(
            answers.take_over(db, "C1", "1.0", replica=name, now=time.time(), expires=time.time() + 30)
            for db, name in ((a, "a"), (b, "b"))
        )
    )
    assert sum(result is not None for result in results) == 1


async def test_leadership_moves_when_the_leader_stops_renewing(two: tuple[Database, Database]) -> None:
    a, b = two
    assert await leader.try_lead(a, "a", ttl=0.5)
    assert not await leader.try_lead(b, "b", ttl=0.5)
    assert await leader.leader(b) == "a"
    results = await asyncio.gather(*(leader.try_lead(db, name, ttl=5) for db, name in ((a, "a"), (b, "b"))))
    assert results == [True, False]  # renewing keeps it
    await b.execute("UPDATE leader_lease SET expires_at = 0")  # "a" died: its lease ran out
    assert await leader.try_lead(b, "b", ttl=5)
    assert not await leader.try_lead(a, "a", ttl=5)
    assert await leader.leader(a) == "b"


async def test_periodic_work_runs_on_one_replica_and_moves_when_it_dies(
    two: tuple[Database, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.replicas.LEAD_RENEW_SECONDS", 0.05)
    monkeypatch.setattr("bot.replicas.LEAD_TTL_SECONDS", 0.3)
    a, b = two
    ticks: list[str] = []

    def work(name: str) -> list:
        async def tick() -> None:
            while True:
                ticks.append(name)
                await asyncio.sleep(0.02)

        return [("tick", tick)]

    first, second = Replica(a, "a"), Replica(b, "b")
    leading_a = asyncio.create_task(first.lead(work("a")))
    await asyncio.sleep(0.1)
    leading_b = asyncio.create_task(second.lead(work("b")))
    await asyncio.sleep(0.3)
    assert first.leading and not second.leading and set(ticks) == {"a"}
    leading_a.cancel()  # dies without stepping down: its lease must expire
    await asyncio.gather(leading_a, return_exceptions=True)
    died = time.monotonic()
    while not second.leading:
        assert time.monotonic() - died < 5, "the survivor never took over"
        await asyncio.sleep(0.02)
    ticks.clear()
    await asyncio.sleep(0.1)
    assert set(ticks) == {"b"}
    leading_b.cancel()
    await asyncio.gather(leading_b, return_exceptions=True)
