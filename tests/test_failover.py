"""Two `tuneloop serve` replicas on one real PostgreSQL, behind one address (a small loopback proxy that,
like a load balancer, sends each request to the next live replica). A burst of mentions, 👍 and slash
commands; the leader is killed with SIGKILL while it holds a claim mid-answer (its answer half streamed).
Every acknowledged event is processed, every question answered exactly once (one message in its thread: the
survivor finishes the dead replica's message), every vote counted once, and the survivor becomes leader.

Answers stream slowly (the fake OpenAI spaces tokens), so the kill lands mid-answer by construction; every
wait is a bounded poll for a condition, never a sleep that assumes a speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web

from bot.fakes import FakeOpenAI, FakeSlack
from storage import Database, migrate, open_database
from tests.capture_helpers import button
from tests.conftest import ADMIN, ALICE, BOB, BOT, GENERAL, SIGNING_SECRET
from tests.dataset_helpers import add_many
from tests.pg_server import PostgresServer
from tests.test_durability import Server
from tuning.training.datasets import BuildRequest, DatasetService

QUESTIONS = 16  # more than one replica's worker claims at once (8), so the leader gets some of them
VOTERS = ["U0VOTER01", "U0VOTER02", "U0VOTER03"]
TIMEOUT = 90.0


class Replica(Server):
    """A serve process on PostgreSQL (test_durability's Server, pointed at the shared database)."""

    def __init__(self, tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI, url: str, name: str, **env: str) -> None:
        folder = tmp_path / name
        folder.mkdir()
        super().__init__(folder, slack, oai)
        self._env |= {
            "TUNELOOP_DATABASE_URL": url,
            "TUNELOOP_DATA_DIR": str(tmp_path / "shared"),
            "TUNELOOP_MODEL": "gpt-4.1-mini",
            **env,
        }

    async def metric(self, session: aiohttp.ClientSession, name: str) -> float | None:
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(self.url.replace("/slack/events", "/metrics")) as response:
                for line in (await response.text()).splitlines():
                    if line.startswith(name + " "):
                        return float(line.split()[1])
        return None


class Proxy:
    """One address for both replicas: each request goes to the next one that accepts a connection."""

    def __init__(self, replicas: list[Replica]) -> None:
        self._replicas = replicas
        self._next = 0
        self._session = aiohttp.ClientSession()
        self.url = ""

    async def __aenter__(self) -> Proxy:
        app = web.Application()
        app.router.add_post("/slack/events", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/slack/events"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.close()
        await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith(("x-slack", "content-type"))}
        for _ in range(len(self._replicas)):
            replica = self._replicas[self._next % len(self._replicas)]
            self._next += 1
            try:
                async with self._session.post(replica.url, data=body, headers=headers) as response:
                    return web.Response(
                        status=response.status, body=await response.read(), content_type=response.content_type
                    )
            except aiohttp.ClientConnectionError:
                continue  # that replica is down: the next one
        return web.Response(status=502)


@pytest.fixture
async def shared_db(postgres: PostgresServer, tmp_path: Path) -> AsyncIterator[tuple[str, Database]]:
    url = postgres.create_database()
    (tmp_path / "shared").mkdir()
    db = await open_database(url, home=tmp_path / "shared")
    await migrate(db)
    yield url, db
    await db.close()
    postgres.drop_database(url)


async def post(session: aiohttp.ClientSession, url: str, body: str, content_type: str) -> int:
    headers = {"Content-Type": content_type, **FakeSlack.sign(body, SIGNING_SECRET)}
    async with session.post(url, data=body.encode(), headers=headers) as response:
        return response.status


def mention_body(slack: FakeSlack, user: str, n: int) -> tuple[str, str]:
    text = f"<@{BOT}> question number {n}?"
    ts = slack.add_message(GENERAL, user, text)
    event = {"type": "app_mention", "user": user, "text": text, "ts": ts, "channel": GENERAL, "event_ts": ts}
    return ts, json.dumps(slack.event_callback(event))


def command_body(slack: FakeSlack, n: int, *, user: str = ALICE, text: str = "stats") -> str:
    return urlencode(
        {
            "token": "x",
            "team_id": "T0001",
            "channel_id": GENERAL,
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/tune",
            "text": text,
            "api_app_id": "A0001",
            "response_url": slack.response_url(f"cmd-{n}"),
            "trigger_id": f"trigger-{n}",
        }
    )


async def until(predicate, what: str, timeout: float = TIMEOUT) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not in time: {what}")
        await asyncio.sleep(0.1)


async def test_a_replica_killed_mid_answer_loses_nothing_and_answers_nothing_twice(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI, shared_db: tuple[str, Database]
) -> None:
    url, db = shared_db
    for voter in VOTERS:
        slack.add_user(voter, voter.lower())
    oai.reply_with(" ".join(["word"] * 30))
    first = Replica(tmp_path, slack, oai, url, "first")
    second = Replica(tmp_path, slack, oai, url, "second")
    session = aiohttp.ClientSession()
    try:
        await first.start()
        await until(lambda: _is(first.metric(session, "tuneloop_leader"), 1.0), "the first replica leads")
        await second.start()
        async with Proxy([first, second]) as proxy:
            # One answered question to vote on, before the burst (answers are quick until then).
            warm_ts, warm = mention_body(slack, BOB, 0)
            assert await post(session, proxy.url, warm, "application/json") == 200
            await until(lambda: _answered(db, [warm_ts]), "the first question is answered")
            answer_ts = slack.thread(GENERAL, warm_ts)[1]["ts"]

            oai.token_seconds = 0.15  # from now on an answer streams for seconds: the kill lands mid-answer
            asked, statuses = [], []
            for n in range(1, QUESTIONS + 1):
                ts, body = mention_body(slack, ALICE if n % 2 else BOB, n)
                asked.append(ts)
                statuses.append(await post(session, proxy.url, body, "application/json"))
                statuses.append(
                    await post(session, proxy.url, command_body(slack, n), "application/x-www-form-urlencoded")
                )
            for voter in VOTERS:
                event = {
                    "type": "reaction_added",
                    "user": voter,
                    "reaction": "+1",
                    "item_user": BOT,
                    "item": {"type": "message", "channel": GENERAL, "ts": answer_ts},
                }
                statuses.append(
                    await post(session, proxy.url, json.dumps(slack.event_callback(event)), "application/json")
                )
            assert statuses == [200] * len(statuses)

            leader_name = await db.fetchval("SELECT holder FROM leader_lease")
            await until(lambda: _mid_answer(db, leader_name), "the leader holds a claim mid-answer")
            half_written = {
                row[0]: row[1]
                for row in await db.fetchall(
                    "SELECT id, answer_ts FROM answers WHERE status = 'pending' AND answer_ts IS NOT NULL"
                    " AND claimed_by = ?",
                    (leader_name,),
                )
            }
            first.kill()  # the leader: started first, so it won the lease
            assert await first.wait_exit() == -9
            killed_at = time.monotonic()

            await until(lambda: _is(second.metric(session, "tuneloop_leader"), 1.0), "the survivor leads")
            took_over = time.monotonic() - killed_at
            await until(lambda: _processed(db), "every acknowledged event is processed")
            await until(lambda: _answered(db, asked), "every question is answered")

        for ts in [warm_ts, *asked]:
            replies = [m for m in slack.thread(GENERAL, ts)[1:] if m.get("user") == BOT or m.get("bot_id")]
            assert len(replies) == 1, f"question {ts}: {len(replies)} answers in its thread"
        finished = {
            row[0]: row[1]
            for row in await db.fetchall(
                "SELECT id, answer_ts FROM answers WHERE status = 'answered' AND claimed_by != ?", (leader_name,)
            )
        }
        assert half_written and all(finished.get(i) == ts for i, ts in half_written.items()), (
            "the survivor finished each half-written answer in its own message"
        )
        answers = await db.fetchall("SELECT question_ts, status FROM answers")
        assert sorted(row[0] for row in answers) == sorted([warm_ts, *asked])  # one row per question
        assert await db.fetchval("SELECT up_votes FROM examples WHERE message_ts = ?", (answer_ts,)) == len(VOTERS)
        assert sum(1 for r in slack.responses if "example" in r.get("text", "").lower()) >= QUESTIONS
        assert took_over < TIMEOUT
        print(f"failover: the survivor led {took_over:.1f} s after the kill")
    finally:
        await session.close()
        for replica in (first, second):
            replica.cleanup()


async def _is(value, expected: float) -> bool:  # type: ignore[no-untyped-def]
    return (await value) == expected


async def _answered(db: Database, question_ts: list[str]) -> bool:
    marks = ", ".join("?" * len(question_ts))
    done = await db.fetchval(
        f"SELECT count(*) FROM answers WHERE status = 'answered' AND question_ts IN ({marks})", question_ts
    )
    return bool(done == len(question_ts))


async def _processed(db: Database) -> bool:
    return bool(await db.fetchval("SELECT count(*) FROM inbox WHERE processed_at IS NULL") == 0)


async def _mid_answer(db: Database, replica: str) -> bool:
    return bool(
        await db.fetchval(
            "SELECT count(*) FROM answers WHERE status = 'pending' AND answer_ts IS NOT NULL AND claimed_by = ?",
            (replica,),
        )
    )


async def test_the_survivor_keeps_a_running_jobs_card_up_to_date(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI, shared_db: tuple[str, Database]
) -> None:
    """The job monitor runs on the leader; killed, its job's card is updated by the replica that leads next."""
    url, db = shared_db
    await add_many(db, 12, channel=GENERAL)
    await DatasetService(db).build(BuildRequest(name="support", val=0.2))
    first = Replica(tmp_path, slack, oai, url, "first", TUNELOOP_POLL_SECONDS="1")
    second = Replica(tmp_path, slack, oai, url, "second", TUNELOOP_POLL_SECONDS="1")
    session = aiohttp.ClientSession()
    try:
        await first.start()
        await until(lambda: _is(first.metric(session, "tuneloop_leader"), 1.0), "the first replica leads")
        await second.start()
        async with Proxy([first, second]) as proxy:
            train = command_body(slack, 1, user=ADMIN, text="train support")
            assert await post(session, proxy.url, train, "application/x-www-form-urlencoded") == 200
            await until(lambda: _has(db, "SELECT count(*) FROM jobs WHERE card_ts IS NOT NULL"), "the preflight card")
            job_id = await db.fetchval("SELECT id FROM jobs")
            click = urlencode({"payload": json.dumps(button(slack, "job_start", job_id, user=ADMIN))})
            assert await post(session, proxy.url, click, "application/x-www-form-urlencoded") == 200
            await until(
                lambda: _has(db, "SELECT count(*) FROM jobs WHERE provider_job_id IS NOT NULL"), "the job starts"
            )
            provider_id, card_ts = (await db.fetchone("SELECT provider_job_id, card_ts FROM jobs")) or ("", "")

            first.kill()  # the leader, whose monitor was following the job
            assert await first.wait_exit() == -9
            oai.run_to_end(provider_id)
            await until(lambda: _is(second.metric(session, "tuneloop_leader"), 1.0), "the survivor leads")
            await until(
                lambda: _has(db, "SELECT count(*) FROM jobs WHERE state = 'succeeded'"),
                "the survivor's monitor follows the job to its end",
            )

            async def card_says_succeeded() -> bool:
                return ":white_check_mark:" in str(slack.message(GENERAL, card_ts))

            await until(card_says_succeeded, "the card shows the job succeeded")
    finally:
        await session.close()
        for replica in (first, second):
            replica.cleanup()


async def _has(db: Database, sql: str) -> bool:
    return bool(await db.fetchval(sql))
