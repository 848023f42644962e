"""Benchmark: signed reaction events over HTTP, Tuneloop against a bare Bolt app, 50 connections.

    python bench/ingest.py                          # 3 rounds × (5,000 events or 20 s) per app, 50 connections
    python bench/ingest.py --rounds 5 --events 10000 --seconds 30 --concurrency 50
    python bench/ingest.py --worker off             # Tuneloop's inbox worker stopped: the ack path alone
    python bench/ingest.py --profile ingest.prof    # cProfile of the serving process during Tuneloop's runs
    python bench/ingest.py --no-freeze              # without serve's gc.freeze() of the start-up heap
    python bench/ingest.py --databases              # `tuneloop serve` processes: SQLite, PostgreSQL ×1, ×2, failover

`--databases` compares whole `tuneloop serve --http` processes (not the in-process app): one on an SQLite
file, one replica on PostgreSQL, two replicas on one PostgreSQL (the load's connections split between
them, as DNS or a load balancer would), each with its inbox worker; a round's events/s counts the
acknowledgements, and the time until every event is processed is printed beside it. Then the failover
time: during a burst on the two replicas the leader is killed with SIGKILL, and the clock runs from the
kill to the first of its claimed, unfinished events processed by the survivor. PostgreSQL is a real
server the bench starts (tests/pg_server.py: initdb and pg_ctl in a temporary folder), durable: every
commit flushed to disk (fsync on), as SQLite's commits are.

Both apps are served in this process at the same time (each measured alone), exactly as `tuneloop serve
--http` serves (bot.server.http_server: aiohttp, 127.0.0.1, /slack/events), against the loopback fakes of
Slack and OpenAI. Tuneloop is the real runtime on a fresh SQLite file; the bare app is a
`slack_bolt.async_app.AsyncApp` with the same client and signing secret, `process_before_response=True`
like Tuneloop's, and a no-op `reaction_added` listener. The load comes from a separate process (so its
CPU is not charged to the server's event loop): `--concurrency` keep-alive connections, each sending the
next pre-built, signed `reaction_added` event (👍/👎 by 50 people on 40 answers, unique event ids) as soon
as the previous one is answered, until `--events` have been sent or `--seconds` have passed. Time to
acknowledge is measured by the client, from sending a request to reading all of its response. The
rounds alternate bare, Tuneloop, bare, …; each Tuneloop round is compared with the bare round just
before it and the round with the median ratio is reported, because a shared machine's speed drifts.

By default Tuneloop's inbox worker runs during the measurement, as in production: every stored event is
processed (votes recorded, examples counted) in the same process and competes for its CPU and its
database connection. During a burst it defers to acknowledgements (bot/worker.py: it starts an event once
no event has waited for a commit for 20 ms, or after 0.5 s regardless), so most of a round's events are
processed after it; the bench prints how many were processed during the load and how long the rest took.
Its backlog is drained after each round, so it never runs during a bare round. At
the end the bench checks that the inbox table holds every acknowledged event exactly once (unique ids,
row count equal), all processed. Target: Tuneloop ≥ 0.7× the bare app's events/s, p99 ≤ 100 ms.
Exit status 0 when met, 1 when not.

Like `tuneloop serve` (bot.server.serve), the bench freezes the start-up heap once both apps are up
(gc.freeze), so full collections do not walk it: a full collection of it pauses the event loop for
about 120 ms, which alone put Tuneloop's p99 above 100 ms. `--no-freeze` shows that.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import multiprocessing
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SECRET = "bench-signing-secret"
TEAM, APP_ID, BOT, CHANNEL = "T0001", "A0001", "U0BOT", "C0BENCH"
VOTERS = [f"U0V{n:03d}" for n in range(50)]
REACTIONS = ("+1", "thumbsup", "+1::skin-tone-2", "-1", "thumbsdown")
THROUGHPUT_TARGET, P99_TARGET_MS = 0.7, 100.0


# -- the load: a separate process ---------------------------------------------------------------------------


def events(targets: list[tuple[str, str]], count: int, seed: int, prefix: str) -> list[str]:
    """`count` signed-ready JSON bodies of reaction_added events on `targets` ((ts, item_user) pairs)."""
    rng = random.Random(seed)
    bodies = []
    for n in range(count):
        ts, author = rng.choice(targets)
        event = {
            "type": "reaction_added",
            "user": rng.choice(VOTERS),
            "reaction": rng.choice(REACTIONS),
            "item_user": author,
            "item": {"type": "message", "channel": CHANNEL, "ts": ts},
            "event_ts": f"{1_700_000_000 + n}.{seed % 1_000_000:06d}",
        }
        bodies.append(
            json.dumps(
                {
                    "token": "verification-token",
                    "team_id": TEAM,
                    "api_app_id": APP_ID,
                    "event": event,
                    "type": "event_callback",
                    "event_id": f"Ev{prefix}{n:07d}",
                    "event_time": int(time.time()),
                    "authorizations": [
                        {
                            "enterprise_id": None,
                            "team_id": TEAM,
                            "user_id": BOT,
                            "is_bot": True,
                            "is_enterprise_install": False,
                        }
                    ],
                    "is_ext_shared_channel": False,
                }
            )
        )
    return bodies


async def drive(url: str | list[str], bodies: list[str], concurrency: int, seconds: float) -> dict[str, Any]:
    import aiohttp

    from bot.fakes import FakeSlack

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    acked: list[str] = []
    queue = iter(bodies)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        deadline = time.monotonic() + seconds

        urls = [url] if isinstance(url, str) else url

        async def connection(url: str) -> None:
            for body in queue:
                if time.monotonic() > deadline:
                    return
                headers = {"Content-Type": "application/json", **FakeSlack.sign(body, SECRET)}
                started = time.perf_counter()
                try:
                    async with session.post(url, data=body.encode(), headers=headers) as response:
                        await response.read()
                except aiohttp.ClientConnectionError:  # a server killed mid-request (--databases' failover)
                    statuses[0] = statuses.get(0, 0) + 1
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[response.status] = statuses.get(response.status, 0) + 1
                if response.status == 200:
                    acked.append(json.loads(body)["event_id"])

        began = time.perf_counter()
        await asyncio.gather(*(connection(urls[n % len(urls)]) for n in range(concurrency)))
        elapsed = time.perf_counter() - began
    return {"latencies": latencies, "statuses": statuses, "elapsed": elapsed, "acked": acked}


def load_process(
    conn: Connection,
    url: str | list[str],
    targets: list[tuple[str, str]],
    count: int,
    seed: int,
    prefix: str,
    concurrency: int,
    seconds: float,
) -> None:
    bodies = events(targets, count, seed, prefix)
    conn.send("ready")
    conn.recv()
    conn.send(asyncio.run(drive(url, bodies, concurrency, seconds)))
    conn.close()


async def load(
    url: str | list[str],
    targets: list[tuple[str, str]],
    *,
    count: int,
    seed: int,
    prefix: str,
    concurrency: int,
    seconds: float,
) -> dict[str, Any]:
    """Run the load process against `url`; returns its measurements (bodies are built before timing)."""
    here, there = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=load_process, args=(there, url, targets, count, seed, prefix, concurrency, seconds), daemon=True
    )
    process.start()
    loop = asyncio.get_running_loop()
    try:
        assert await loop.run_in_executor(None, here.recv) == "ready"
        here.send("go")
        return await loop.run_in_executor(None, here.recv)
    finally:
        await loop.run_in_executor(None, process.join, 30)


# -- the servers: this process ---------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    sent: int
    acked: int
    elapsed: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        return self.acked / self.elapsed

    def line(self) -> str:
        return (
            f"{self.name:<10} {self.acked:>7} acked in {self.elapsed:6.2f} s  {self.rate:8.0f} events/s"
            f"   p50 {self.p50_ms:6.1f} ms   p99 {self.p99_ms:6.1f} ms   statuses {self.statuses}"
        )


def result(name: str, measured: dict[str, Any]) -> Result:
    latencies = sorted(measured["latencies"]) or [0.0]

    def pick(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return Result(
        name,
        len(measured["latencies"]),
        len(measured["acked"]),
        measured["elapsed"],
        pick(0.50),
        pick(0.99),
        measured["statuses"],
    )


def seed_workspace(slack: Any) -> list[tuple[str, str]]:
    """20 threads, each with the bot's answer and a teammate's reply: 40 messages to vote on."""
    slack.add_channel(CHANNEL, "bench")
    for voter in VOTERS:
        slack.add_user(voter, voter.lower(), real_name=f"Bench Voter {voter[-3:]}")
    slack.add_user("U0ASKER", "asker", real_name="Question Asker")
    slack.add_user("U0MATE", "mate", real_name="Team Mate")
    targets = []
    for n in range(20):
        root = slack.add_message(CHANNEL, "U0ASKER", f"How do I restart worker pool {n}?")
        targets.append(
            (
                slack.add_message(
                    CHANNEL, BOT, f"Drain pool {n} first, then restart it.", thread_ts=root, bot_id="B0BOT"
                ),
                BOT,
            )
        )
        targets.append(
            (slack.add_message(CHANNEL, "U0MATE", f"Pool {n} restarts itself at night.", thread_ts=root), "U0MATE")
        )
    return targets


async def serve(web_app: Any) -> tuple[Any, str]:
    """Serve an aiohttp app as bot.server.http_server does; returns (runner, events URL)."""
    from aiohttp import web

    runner = web.AppRunner(web_app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"


class BareApp:
    """A bare AsyncApp with a no-op reaction_added listener, served like Tuneloop."""

    def __init__(self, slack: Any) -> None:
        from slack_bolt.async_app import AsyncApp
        from slack_sdk.web.async_client import AsyncWebClient

        client = AsyncWebClient(token="xoxb-fake-for-the-bench", base_url=slack.api_url)
        self.app = AsyncApp(client=client, signing_secret=SECRET, process_before_response=True)

        @self.app.event("reaction_added")
        async def noop(event: dict[str, Any]) -> None:
            return None

    async def __aenter__(self) -> str:
        self.runner, url = await serve(self.app.web_app(path="/slack/events"))
        return url

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


class Tuneloop:
    """The real runtime on a fresh database, served by bot.server.http_server."""

    def __init__(self, slack: Any, oai: Any, db_path: Path) -> None:
        from bot.settings import Settings

        self.settings = Settings(
            _env_file=None,
            SLACK_BOT_TOKEN="xoxb-fake-for-the-bench",
            SLACK_SIGNING_SECRET=SECRET,
            OPENAI_API_KEY="sk-fake-for-the-bench",
            SLACK_API_URL=slack.api_url,
            OPENAI_BASE_URL=oai.base_url,
            TUNELOOP_DB=str(db_path),
        )

    async def __aenter__(self) -> str:
        from bot.runtime import Runtime
        from bot.server import EVENTS_PATH, http_server

        self.runtime = await Runtime.start(self.settings)
        self.server = http_server(self.runtime, "127.0.0.1", 0)
        return f"http://127.0.0.1:{await self.server.__aenter__()}{EVENTS_PATH}"

    async def __aexit__(self, *exc: object) -> None:
        await self.server.__aexit__(None, None, None)
        await self.runtime.close()


async def pending(runtime: Any) -> int:
    return await runtime.db.fetchval("SELECT count(*) FROM inbox WHERE processed_at IS NULL")


async def drained(runtime: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while await pending(runtime) or not runtime.worker.idle:
        if time.monotonic() > deadline:
            raise SystemExit("FAILED: the inbox worker did not drain its backlog")
        await asyncio.sleep(0.05)


async def measure(
    url: str, targets: list[tuple[str, str]], args: argparse.Namespace, prefix: str, seed: int
) -> dict[str, Any]:
    return await load(
        url, targets, count=args.events, seed=seed, prefix=prefix, concurrency=args.concurrency, seconds=args.seconds
    )


async def main(args: argparse.Namespace) -> int:
    import logging

    from bot.fakes import FakeOpenAI, FakeSlack

    logging.basicConfig(level=logging.WARNING)
    worker = "running (production-like)" if args.worker == "on" else "stopped (the ack path alone)"
    print(
        f"{args.concurrency} connections; per round and app up to {args.events} events or {args.seconds:.0f} s, "
        f"after {args.warmup} warm-up events; {args.rounds} round(s), the apps alternating; "
        f"Tuneloop's inbox worker {worker}; start-up heap "
        f"{'not frozen (--no-freeze)' if args.no_freeze else 'frozen, as tuneloop serve does'}",
        flush=True,
    )
    bare_runs: list[Result] = []
    our_runs: list[Result] = []
    report: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tuneloop-bench-") as tmp:
        async with FakeSlack() as slack, FakeOpenAI() as oai:
            targets = seed_workspace(slack)
            ours = Tuneloop(slack, oai, Path(tmp) / "bench.db")
            async with BareApp(slack) as bare_url, ours as our_url:
                runtime = ours.runtime
                if not args.no_freeze:
                    from bot.server import freeze_start_up_heap

                    freeze_start_up_heap()  # as `tuneloop serve` does once it has started
                acked: list[str] = []
                for url, prefix in ((bare_url, "BW"), (our_url, "TW")):
                    warm = await load(
                        url, targets, count=args.warmup, seed=1, prefix=prefix, concurrency=args.concurrency, seconds=60
                    )
                    acked += warm["acked"] if url == our_url else []
                await drained(runtime, timeout=300)
                if args.worker == "off":
                    await runtime.worker.stop(0)
                profiler = cProfile.Profile() if args.profile else None
                for n in range(args.rounds):
                    bare_runs.append(result("bare Bolt", await measure(bare_url, targets, args, f"B{n}M", 2 + n)))
                    print(bare_runs[-1].line(), flush=True)
                    backlog_before = await pending(runtime)
                    if profiler:
                        profiler.enable()
                    measured = await measure(our_url, targets, args, f"T{n}M", 2 + n)
                    if profiler:
                        profiler.disable()
                    acked += measured["acked"]
                    our_runs.append(result("Tuneloop", measured))
                    print(our_runs[-1].line(), flush=True)
                    if args.worker == "on":
                        backlog = await pending(runtime)
                        processed = backlog_before + len(measured["acked"]) - backlog
                        began = time.perf_counter()
                        await drained(runtime, timeout=600)
                        report.append(
                            f"round {n + 1}: the worker processed {processed} events during the "
                            f"{our_runs[-1].elapsed:.1f} s of load, the other {backlog} in "
                            f"{time.perf_counter() - began:.1f} s after it"
                        )
                if profiler:
                    profiler.dump_stats(args.profile)
                    report.append(f"profile of the serving process during Tuneloop's runs written to {args.profile}")
                stored = {row[0] for row in await runtime.db.fetchall("SELECT event_id FROM inbox")}
                rows = await runtime.db.fetchval("SELECT count(*) FROM inbox")
                processed = await runtime.db.fetchval("SELECT count(*) FROM inbox WHERE processed_at IS NOT NULL")
                missing = set(acked) - stored
                report.append(
                    f"inbox table: {rows} rows for {len(acked)} acknowledged events, {len(missing)} "
                    f"acknowledged but missing, {processed} processed"
                )
    for line in report:
        print(line)
    ratios = [ours_.rate / bare.rate for bare, ours_ in zip(bare_runs, our_runs, strict=True)]
    middle = sorted(range(len(ratios)), key=ratios.__getitem__)[len(ratios) // 2]
    bare, ours_, ratio = bare_runs[middle], our_runs[middle], ratios[middle]
    stored_once = not missing and rows == len(acked) and (args.worker == "off" or processed == rows)
    print(f"ratio per round (Tuneloop / the bare run just before it): {', '.join(f'{r:.2f}' for r in ratios)}")
    print(
        f"median round ({middle + 1}): bare Bolt {bare.rate:.0f} events/s, p50 {bare.p50_ms:.1f} ms, p99 "
        f"{bare.p99_ms:.1f} ms; Tuneloop {ours_.rate:.0f} events/s, p50 {ours_.p50_ms:.1f} ms, p99 "
        f"{ours_.p99_ms:.1f} ms"
    )
    ok = ratio >= THROUGHPUT_TARGET and ours_.p99_ms <= P99_TARGET_MS and stored_once
    print(
        f"ratio {ratio:.2f}× the bare app (target ≥ {THROUGHPUT_TARGET}×), p99 {ours_.p99_ms:.1f} ms "
        f"(target ≤ {P99_TARGET_MS:.0f} ms), every acknowledged event stored once"
        f"{' and processed' if args.worker == 'on' else ''}: "
        f"{'yes' if stored_once else 'NO'} → {'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5000, help="events per app (the run stops at this count)")
    parser.add_argument("--seconds", type=float, default=20.0, help="or after this long, whichever comes first")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3, help="measurements per app, alternating (median reported)")
    parser.add_argument(
        "--worker",
        choices=["on", "off"],
        default="on",
        help="Tuneloop's inbox worker during the measurement (default: on, as in production)",
    )
    parser.add_argument(
        "--no-freeze",
        action="store_true",
        help="leave the start-up heap to the cyclic GC (serve freezes it: freeze_start_up_heap)",
    )
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of Tuneloop's run to FILE")
    parser.add_argument(
        "--databases",
        action="store_true",
        help="serve processes on SQLite, PostgreSQL with one and two replicas, and failover",
    )
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse()
    if arguments.databases:
        from bench.ingest_databases import main as databases

        sys.exit(asyncio.run(databases(arguments)))
    sys.exit(asyncio.run(main(arguments)))
