"""Prove it holds: SIGKILL the real server in the middle of a burst of votes and corrections, restart it on
the same database, and every request that got its HTTP 200 is there exactly once; the others at most once.

The server is a separate process (`python -m bot serve --http`) on a file database; the fakes of Slack and
OpenAI run in the test process. Before the burst the fake Slack is told to hold the next few
`conversations.replies` calls, so when the kill lands some votes are known to be half-processed (reaction
recorded, example not yet created, inbox row still pending) and many more are stored but not processed.
The kill is sent only after enough 200s *and* those stuck calls; requests keep coming while the server is
down, so it lands mid-burst by construction. Nothing here depends on how fast the machine is: every wait is
a bounded poll for a condition.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import socket
import sqlite3
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bot.fakes import FakeOpenAI, FakeSlack
from storage import inbox as inbox_rows
from storage import migrate, open_database
from storage.db import WriteLock
from tests.capture_helpers import reaction, shortcut, submission
from tests.conftest import ADMIN, ALICE, BOB, BOT, GENERAL, REPO, SIGNING_SECRET
from tests.waiting import eventually, listening
from tuning.capture.inbox import Inbox

VOTERS = [f"U0VOTER{n:02d}" for n in range(10)]
# Only the admin corrects: a member's correction of an approved example is refused (README), and the targets
# become approved during the burst (the admin's corrections, the votes).
CORRECTORS = [ADMIN]
REACTIONS = ("+1", "thumbsup", "+1::skin-tone-3", "-1", "thumbsdown")
THREADS = 6
REQUESTS = 480  # votes and corrections, mixed
CORRECTION_SHARE = 0.15
CONCURRENCY = 16
KILL_AFTER_ACKS = 150
WAVE, WAVE_PAUSE = 60, 0.3  # the burst arrives in waves of 60 requests, 0.3 s apart
STUCK_CALLS = 3  # conversations.replies calls the fake Slack holds until the end: votes caught mid-processing
TIMEOUT = 120.0  # generous bound for every wait; only hit when something is broken


@dataclass
class Target:
    ts: str
    author: str  # the item_user of a reaction on it
    teammate: bool


@dataclass
class Request:
    kind: str  # "vote" or "correction"
    body: str
    content_type: str
    key: str  # the vote's event_ts, the correction's text
    event: dict[str, Any] = field(default_factory=dict)
    event_id: str = ""
    retries: int = 0


@dataclass
class Outcome:
    acked: list[Request] = field(default_factory=list)
    failed: list[Request] = field(default_factory=list)


class Server:
    """`python -m bot serve --http` as a child process, logging to a file."""

    def __init__(self, tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI) -> None:
        self.db_path = tmp_path / "durable.db"
        self.log_path = tmp_path / "server.log"
        self._cwd = tmp_path
        self._env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "SLACK_BOT_TOKEN": "xoxb-test",
            "OPENAI_API_KEY": "sk-test-0000",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "OPENAI_BASE_URL": oai.base_url,
            "TUNELOOP_DB": str(self.db_path),
            "TUNELOOP_ADMINS": ADMIN,
            "PYTHONPATH": str(REPO),  # the server runs the code this test imports, whatever is installed
        }
        self.process: asyncio.subprocess.Process | None = None
        self.url = ""

    async def start(self) -> None:
        port = free_port()
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "serve",
                "--http",
                "--port",
                str(port),
                cwd=self._cwd,
                env=self._env,
                stdout=log,
                stderr=log,
            )
        self.url = f"http://127.0.0.1:{port}/slack/events"
        await self._wait_listening(port)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)

    async def wait_exit(self) -> int:
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), TIMEOUT)

    async def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await self.wait_exit()

    def cleanup(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""

    async def _wait_listening(self, port: int) -> None:
        await eventually(
            lambda: listening(port),
            timeout=TIMEOUT,
            interval=0.1,
            what="the server listening",
            give_up=lambda: self.process is None or self.process.returncode is not None,
            detail=self.log,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def database(path: Path) -> Iterator[sqlite3.Connection]:
    """A short-lived connection of the test's own (WAL: readers never wait for the server)."""
    conn = sqlite3.connect(path, timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


def inbox_processed(db_path: Path) -> bool:
    with database(db_path) as db:
        return db.execute("SELECT count(*) FROM inbox WHERE processed_at IS NULL").fetchone()[0] == 0


# -- the workspace -------------------------------------------------------------------------------------------


def seed_workspace(slack: FakeSlack) -> tuple[list[Target], list[Target]]:
    """Threads of a question, the bot's answer and a teammate's reply. Returns (vote targets, correction targets)."""
    for n, voter in enumerate(VOTERS):
        slack.add_user(voter, f"voter{chr(97 + n)}", real_name=f"Voter {chr(65 + n)}")
    targets = []
    for n in range(THREADS):
        root = slack.add_message(GENERAL, ALICE, f"How do I rotate the keys of service {chr(65 + n)}?")
        answer = slack.add_message(
            GENERAL, BOT, f"Run the rotate command for service {chr(65 + n)}.", thread_ts=root, bot_id="B0BOT"
        )
        reply = slack.add_message(GENERAL, BOB, f"It is in the runbook, section {chr(65 + n)}.", thread_ts=root)
        targets += [Target(answer, BOT, teammate=False), Target(reply, BOB, teammate=True)]
    return targets, [targets[0], targets[1], targets[2]]  # examples made before the burst: no Slack reads then


class Votes:
    """Reaction events that toggle each (message, person, reaction), with strictly increasing event_ts."""

    def __init__(self, slack: FakeSlack) -> None:
        self._slack = slack
        self._present: set[tuple[str, str, str]] = set()
        self._clock = 1_700_000_000
        self.sent: list[Request] = []

    def make(self, target: Target, voter: str, name: str) -> Request:
        self._clock += 1
        key = (target.ts, voter, name)
        kind = "reaction_removed" if key in self._present else "reaction_added"
        self._present ^= {key}
        event_ts = f"{self._clock}.000100"
        event = reaction(kind, user=voter, ts=target.ts, reaction=name, item_user=target.author, event_ts=event_ts)
        event_id = f"Ev0DUR{self._clock}"
        body = json.dumps(self._slack.event_callback(event, event_id=event_id))
        request = Request("vote", body, "application/json", event_ts, event, event_id)
        self.sent.append(request)
        return request


def correction(view: dict[str, Any], *, user: str, n: int) -> Request:
    reference = f"zq{n:04d}"  # corrections are scrubbed: they are found by this token, not by their whole text
    text = f"Rotate them from the settings page, then restart. Reference {reference}."
    body = urlencode({"payload": json.dumps(submission(view, user=user, text=text))})
    return Request("correction", body, "application/x-www-form-urlencoded", reference)


# -- sending -------------------------------------------------------------------------------------------------


async def send(session: aiohttp.ClientSession, url: str, request: Request) -> bool:
    """True when the app answered 200 with a complete body; a correction's 200 must carry no field error."""
    headers = {"Content-Type": request.content_type, **FakeSlack.sign(request.body, SIGNING_SECRET)}
    if request.retries:
        headers |= {"X-Slack-Retry-Num": str(request.retries), "X-Slack-Retry-Reason": "http_error"}
    try:
        async with session.post(url, data=request.body.encode(), headers=headers) as response:
            text = await response.text()
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return False
    if response.status != 200:
        return False
    assert not text.strip().startswith("{") or "response_action" not in json.loads(text), text
    return True


async def burst(url: str, requests: list[Request], on_ack: Callable[[int], None], *, wave: int = 0) -> Outcome:
    """Send every request, CONCURRENCY at a time; `on_ack(count)` after each 200 (it may kill the server).

    With `wave`, in waves of that many with a pause between, as a busy workspace's events arrive: the inbox
    worker starts events between bursts (it defers to acknowledgements during one)."""
    outcome = Outcome()
    timeout = aiohttp.ClientTimeout(total=TIMEOUT / 4)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:

        async def sender(queue: Iterator[Request]) -> None:
            for request in queue:
                if await send(session, url, request):
                    outcome.acked.append(request)
                    on_ack(len(outcome.acked))
                else:
                    outcome.failed.append(request)

        size = wave or len(requests)
        for start in range(0, len(requests), size):
            queue = iter(requests[start : start + size])
            await asyncio.gather(*(sender(queue) for _ in range(CONCURRENCY)))
            if wave:
                await asyncio.sleep(WAVE_PAUSE)
    return outcome


async def send_all(url: str, requests: list[Request]) -> None:
    outcome = await burst(url, requests, lambda _: None)
    assert not outcome.failed, f"{len(outcome.failed)} requests were refused by the running server"


# -- what the database must say --------------------------------------------------------------------------------


def expected_votes(votes: list[Request]) -> dict[str, tuple[int, int]]:
    """(👍, 👎) per message: the newest event of each (person, reaction); per person the newest still present."""
    newest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for vote in sorted(votes, key=lambda v: v.key):
        event = vote.event
        newest[(event["item"]["ts"], event["user"], event["reaction"])] = event
    per_person: dict[tuple[str, str], dict[str, Any]] = {}
    for (ts, user, _), event in newest.items():
        if event["type"] == "reaction_added":
            current = per_person.get((ts, user))
            if current is None or event["event_ts"] > current["event_ts"]:
                per_person[(ts, user)] = event
    tally: dict[str, tuple[int, int]] = {}
    for (ts, _), event in per_person.items():
        up, down = tally.get(ts, (0, 0))
        is_up = event["reaction"].split("::")[0] in ("+1", "thumbsup")
        tally[ts] = (up + is_up, down + (not is_up))
    return tally


def stored(db: sqlite3.Connection, request: Request) -> int:
    """How many times a vote (by its unique event_ts) or a correction (by its unique reference) is in the database."""
    if request.kind == "vote":
        return db.execute("SELECT count(*) FROM reaction_events WHERE event_ts = ?", (request.key,)).fetchone()[0]
    return db.execute("SELECT count(*) FROM corrections WHERE text LIKE ?", (f"% {request.key}.",)).fetchone()[0]


def check_once(db: sqlite3.Connection, requests: list[Request], acked: list[Request]) -> None:
    """Each acknowledged request exactly once; each other one at most once."""
    acked_ids = {id(r) for r in acked}
    for request in requests:
        count = stored(db, request)
        assert count == 1 if id(request) in acked_ids else count <= 1, (request.kind, request.key, count)


def check_totals(db: sqlite3.Connection, votes: list[Request], corrections: list[Request]) -> None:
    """Nothing that was not sent, nothing that failed for good."""
    assert db.execute("SELECT count(*) FROM reaction_events").fetchone()[0] <= len(votes)
    assert db.execute("SELECT count(*) FROM corrections").fetchone()[0] <= len(corrections)
    assert db.execute("SELECT count(*) FROM inbox WHERE error IS NOT NULL").fetchone()[0] == 0


def integrity_problems(db: sqlite3.Connection) -> list[str]:
    """PRAGMA integrity_check, less SQLite 3.40's false "NULL value in T.C" for WITHOUT ROWID tables (such as
    reaction_events), reported only when a query confirms the column really holds a NULL."""
    problems = [row[0] for row in db.execute("PRAGMA integrity_check") if row[0] != "ok"]
    real = []
    for problem in problems:
        match = re.fullmatch(r"NULL value in (\w+)\.(\w+)", problem)
        if match and not db.execute(f"SELECT count(*) FROM {match[1]} WHERE {match[2]} IS NULL").fetchone()[0]:
            continue
        real.append(problem)
    return real


def check_examples(db: sqlite3.Connection, targets: list[Target], votes: list[Request]) -> None:
    """One example per voted-on answer, whose counts and state follow from exactly the votes sent."""
    tally = expected_votes(votes)
    for target in targets:
        events = [v.event for v in votes if v.event["item"]["ts"] == target.ts]
        creates = [
            e
            for e in events
            if e["type"] == "reaction_added"
            and (not target.teammate or e["reaction"].split("::")[0] in ("+1", "thumbsup"))
        ]
        rows = db.execute(
            "SELECT * FROM examples WHERE channel = ? AND message_ts = ?", (GENERAL, target.ts)
        ).fetchall()
        assert len(rows) == (1 if creates else 0), target
        if not rows:
            continue
        row = rows[0]
        up, down = tally.get(target.ts, (0, 0))
        assert (row["up_votes"], row["down_votes"]) == (up, down), target
        newest = db.execute(
            "SELECT text FROM corrections WHERE example_id = ? ORDER BY id DESC LIMIT 1", (row["id"],)
        ).fetchone()
        if newest is None:
            assert row["state"] == ("approved" if up >= 1 and up > down else "candidate"), target
        else:
            assert (row["source"], row["corrected"]) == ("correction", newest["text"]), target


# -- the test ----------------------------------------------------------------------------------------------------


async def test_sigkill_mid_burst_loses_nothing_acknowledged_and_stores_nothing_twice(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    rng = random.Random(20240611)
    targets, correctable = seed_workspace(slack)
    votes = Votes(slack)
    server = Server(tmp_path, slack, oai)
    try:
        await server.start()
        # Before the burst: examples for the answers that will be corrected, and the modals, opened as Slack does.
        await send_all(server.url, [votes.make(t, ADMIN, "+1") for t in correctable])
        await eventually(
            lambda: inbox_processed(server.db_path), timeout=TIMEOUT, what="warm-up votes processed", detail=server.log
        )
        views = []
        for n, target in enumerate(correctable):
            body = urlencode({"payload": json.dumps(shortcut(slack, user=ALICE, channel=GENERAL, ts=target.ts))})
            await send_all(server.url, [Request("shortcut", body, "application/x-www-form-urlencoded", f"s{n}")])
            await eventually(
                lambda n=n: len(slack.calls_to("views.update")) > n,
                timeout=TIMEOUT,
                what="the modal opened",
                detail=server.log,
            )
            views.append(slack.calls_to("views.update")[n].args["view"])
        assert [json.loads(v["private_metadata"])["ts"] for v in views] == [t.ts for t in correctable]

        corrections: list[Request] = []
        requests = []
        for n in range(REQUESTS):
            if rng.random() < CORRECTION_SHARE:
                corrections.append(correction(rng.choice(views), user=rng.choice(CORRECTORS), n=n))
                requests.append(corrections[-1])
            else:
                requests.append(votes.make(rng.choice(targets), rng.choice(VOTERS), rng.choice(REACTIONS)))

        replies_before = len(slack.calls_to("conversations.replies"))
        slack.fail("conversations.replies", delay=10 * TIMEOUT, times=STUCK_CALLS)

        def stuck() -> int:
            return len(slack.calls_to("conversations.replies")) - replies_before

        killed_at: list[int] = []

        def kill_mid_burst(acks: int) -> None:
            if not killed_at and acks >= KILL_AFTER_ACKS and stuck() >= STUCK_CALLS:
                server.kill()
                killed_at.append(acks)

        outcome = await burst(server.url, requests, kill_mid_burst, wave=WAVE)
        assert killed_at, f"the burst ended before the kill: {len(outcome.acked)} acked, {stuck()} stuck calls"
        assert await server.wait_exit() == -signal.SIGKILL
        assert outcome.failed, "the kill did not interrupt the burst"
        assert slack.pending_faults == 0
        sent_votes = [r for r in requests if r.kind == "vote"]
        acked_votes = [r for r in outcome.acked if r.kind == "vote"]
        acked_ids = {id(r) for r in outcome.acked}

        # The moment after the crash: each acknowledged request is stored; some votes were caught half-processed.
        with database(server.db_path) as db:
            stored_ids = {row[0] for row in db.execute("SELECT event_id FROM inbox")}
            assert {v.event_id for v in acked_votes} <= stored_ids
            half_done = db.execute("SELECT count(*) FROM inbox WHERE processed_at IS NULL AND attempts > 0").fetchone()[
                0
            ]
            assert half_done >= STUCK_CALLS
            # An acknowledged correction is in the inbox (saved when replayed) or already saved, never lost.
            submissions = [row[0] for row in db.execute("SELECT body FROM inbox WHERE event_type = 'view_submission'")]
            for request in corrections:
                waiting = sum(f" {request.key}." in body for body in submissions)
                saved = stored(db, request)
                assert saved <= 1 and (waiting >= 1 or saved == 1 or id(request) not in acked_ids), request.key

        # Restarted on the same database, it replays its inbox: each acknowledged request is there exactly once.
        await server.start()
        await eventually(
            lambda: inbox_processed(server.db_path),
            timeout=TIMEOUT,
            what="the inbox replayed after the restart",
            detail=server.log,
        )
        with database(server.db_path) as db:
            check_once(db, [*sent_votes, *corrections], outcome.acked)
            check_totals(db, sent_votes, corrections)

        # Slack retries what got no 200 (and sometimes what did): now every vote is stored, still once.
        retried = [*(r for r in outcome.failed if r.kind == "vote"), *acked_votes[:20]]
        for request in retried:
            request.retries = 1
        await send_all(server.url, retried)
        await eventually(
            lambda: inbox_processed(server.db_path), timeout=TIMEOUT, what="the retries processed", detail=server.log
        )
        assert await server.stop() == 0, server.log()
        with database(server.db_path) as db:
            assert integrity_problems(db) == []
            check_once(db, [*votes.sent, *corrections], [*votes.sent, *outcome.acked])
            check_totals(db, votes.sent, corrections)
            assert db.execute("SELECT count(*) FROM reaction_events").fetchone()[0] == len(votes.sent)
            check_examples(db, targets, votes.sent)
    finally:
        server.cleanup()


# -- the pieces the ingest path is made of -------------------------------------------------------------------------


async def test_concurrent_events_share_a_commit_and_each_is_durable_when_accepted(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "inbox.db")
    await migrate(db)
    inbox = Inbox(db)
    try:
        assert await inbox.accept("Ev0", "reaction_added", "{}") is not None
        committed: list[bool] = []

        async def accept(event_id: str) -> int | None:
            row_id = await inbox.accept(event_id, "reaction_added", json.dumps({"id": event_id}))
            with database(tmp_path / "inbox.db") as other:  # another connection sees only what is committed
                committed.append(
                    other.execute("SELECT 1 FROM inbox WHERE event_id = ?", (event_id,)).fetchone() is not None
                )
            return row_id

        ids = await asyncio.gather(*(accept(f"Ev{n % 120}") for n in range(1, 301)))  # retries among them
        assert all(committed)
        new = [row_id for row_id in ids if row_id is not None]
        assert len(new) == len(set(new)) == 119  # Ev1…Ev119 once each; Ev0 was already there
        assert await db.fetchval("SELECT count(*) FROM inbox") == 120
    finally:
        await db.close()


async def test_a_batch_reports_new_rows_and_repeats(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "inbox.db")
    await migrate(db)
    try:
        first = await inbox_rows.add_many(
            db, [("Ev1", "message", "a"), ("Ev2", "message", "b"), ("Ev1", "message", "c")]
        )
        assert first[0] is not None and first[1] is not None and first[2] is None
        again = await inbox_rows.add_many(db, [("Ev2", "message", "b"), ("Ev3", "message", "d")])
        assert again[0] is None and again[1] is not None
        assert [row.body for row in await inbox_rows.pending(db)] == ["a", "b", "d"]
    finally:
        await db.close()


async def test_the_write_lock_lets_urgent_holders_go_first_and_survives_cancellation() -> None:
    lock = WriteLock()
    order: list[str] = []

    async def hold(name: str, urgent: bool = False, release: asyncio.Event | None = None) -> None:
        async with lock.held(urgent=urgent):
            order.append(name)
            if release is not None:
                await release.wait()

    release = asyncio.Event()
    first = asyncio.create_task(hold("first", release=release))
    await asyncio.sleep(0)
    waiting = [
        asyncio.create_task(hold(name, urgent=name.startswith("urgent")))
        for name in ("ordinary-1", "urgent-1", "cancelled", "ordinary-2", "urgent-2")
    ]
    await asyncio.sleep(0)
    waiting[2].cancel()
    release.set()
    async with asyncio.timeout(5):  # and free again, even after a waiter was cancelled
        await asyncio.gather(first, *waiting, return_exceptions=True)
        async with lock.held():
            pass
    assert order == ["first", "urgent-1", "urgent-2", "ordinary-1", "ordinary-2"]


async def test_a_waiter_cancelled_as_the_lock_is_handed_to_it_passes_it_on() -> None:
    lock = WriteLock()
    order: list[str] = []

    async def hold(name: str) -> None:
        async with lock.held():
            order.append(name)

    holding = lock.held()
    await holding.__aenter__()
    handed, next_one = asyncio.create_task(hold("handed")), asyncio.create_task(hold("next"))
    await asyncio.sleep(0)
    await holding.__aexit__(None, None, None)  # hands the lock to `handed`, which has not run yet
    handed.cancel()
    async with asyncio.timeout(5):  # a lock lost with the cancelled waiter would hang here
        await asyncio.gather(handed, next_one, return_exceptions=True)
        async with lock.held():
            pass
    assert handed.cancelled() and order == ["next"]
