"""`python bench/ingest.py --databases`: `tuneloop serve` processes on SQLite and on PostgreSQL (one and two
replicas), side by side in one run, then the failover time. See bench/ingest.py's docstring."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.ingest import SECRET, Result, load, result, seed_workspace

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/slack/events"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / "serve.log").open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "serve",
                "--http",
                "--port",
                str(self.port),
                "--log-level",
                "WARNING",
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.returncode is None, (self.folder / "serve.log").read_text()[-3000:]
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            await asyncio.sleep(0.1)
        raise SystemExit(f"serve did not start: {(self.folder / 'serve.log').read_text()[-3000:]}")

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(sig)
            await asyncio.wait_for(self.process.wait(), 60)


def environment(slack: Any, oai: Any, **database: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": tempfile.gettempdir(),
        "PYTHONPATH": str(REPO),
        "SLACK_BOT_TOKEN": "xoxb-fake-for-the-bench",
        "SLACK_SIGNING_SECRET": SECRET,
        "OPENAI_API_KEY": "sk-fake-for-the-bench",
        "SLACK_API_URL": slack.api_url,
        "OPENAI_BASE_URL": oai.base_url,
        **database,
    }


async def backlog(db: Any) -> int:
    return int(await db.fetchval("SELECT count(*) FROM inbox WHERE processed_at IS NULL"))


async def drained(db: Any, timeout: float = 600) -> float:
    began = time.perf_counter()
    while await backlog(db):
        if time.perf_counter() - began > timeout:
            raise SystemExit("FAILED: the backlog did not drain")
        await asyncio.sleep(0.05)
    return time.perf_counter() - began


async def one_config(
    name: str,
    processes: list[ServeProcess],
    db: Any,
    targets: list[tuple[str, str]],
    args: argparse.Namespace,
    prefix: str,
) -> tuple[Result, float]:
    for process in processes:
        await process.start()
    urls = [process.url for process in processes]
    await load(urls, targets, count=args.warmup, seed=1, prefix=f"{prefix}W", concurrency=args.concurrency, seconds=60)
    await drained(db)
    measured = result(
        name,
        await load(
            urls,
            targets,
            count=args.events,
            seed=2,
            prefix=f"{prefix}M",
            concurrency=args.concurrency,
            seconds=args.seconds,
        ),
    )
    after = await drained(db)
    rows = await db.fetchval("SELECT count(*) FROM inbox WHERE event_id LIKE ?", (f"Ev{prefix}M%",))
    assert rows == measured.acked, f"{name}: {rows} rows for {measured.acked} acknowledged events"
    return measured, after


async def failover(
    processes: list[ServeProcess], db: Any, targets: list[tuple[str, str]], args: argparse.Namespace
) -> float:
    """Kill the leader during a burst; seconds from the kill to the first of its unfinished events processed."""
    leader_name = await db.fetchval("SELECT holder FROM leader_lease")
    leader = next(p for p in processes if leader_name and f"-{p.process.pid}-" in leader_name)  # type: ignore[union-attr]
    burst = asyncio.create_task(
        load(
            [p.url for p in processes],
            targets,
            count=args.events,
            seed=3,
            prefix="FO",
            concurrency=args.concurrency,
            seconds=args.seconds,
        )
    )
    while not await db.fetchval(  # noqa: ASYNC110 - a poll of the database, which has no event to wait on
        "SELECT count(*) FROM inbox WHERE claimed_by = ? AND processed_at IS NULL", (leader_name,)
    ):
        await asyncio.sleep(0.01)
    await leader.stop(signal.SIGKILL)
    killed = time.perf_counter()
    orphans = [
        row[0]
        for row in await db.fetchall(
            "SELECT id FROM inbox WHERE claimed_by = ? AND processed_at IS NULL", (leader_name,)
        )
    ]
    marks = ", ".join("?" * len(orphans))
    while not await db.fetchval(  # noqa: ASYNC110 - as above
        f"SELECT count(*) FROM inbox WHERE id IN ({marks}) AND processed_at IS NOT NULL", orphans
    ):
        await asyncio.sleep(0.02)
    took = time.perf_counter() - killed
    await burst
    await drained(db)
    return took


async def main(args: argparse.Namespace) -> int:
    from bot.fakes import FakeOpenAI, FakeSlack
    from storage import migrate, open_database
    from tests.pg_server import postgres_server

    print(
        f"tuneloop serve processes; {args.concurrency} connections, up to {args.events} events or "
        f"{args.seconds:.0f} s per configuration after {args.warmup} warm-up events",
        flush=True,
    )
    lines = []
    with tempfile.TemporaryDirectory(prefix="tuneloop-bench-") as tmp, postgres_server(durable=True) as postgres:
        root = Path(tmp)
        async with FakeSlack() as slack, FakeOpenAI() as oai:
            targets = seed_workspace(slack)
            sqlite_path = root / "sqlite" / "bench.db"
            sqlite_path.parent.mkdir()
            configs = [("SQLite ×1", {"TUNELOOP_DB": str(sqlite_path)}, 1, str(sqlite_path))]
            for replicas in (1, 2):
                url = postgres.create_database()
                configs.append(
                    (
                        f"PostgreSQL ×{replicas}",
                        {"TUNELOOP_DATABASE_URL": url, "TUNELOOP_DATA_DIR": str(root / "shared")},
                        replicas,
                        url,
                    )
                )
            for index, (name, database, count, target) in enumerate(configs):
                db = await open_database(target, home=root)
                await migrate(db)
                env = environment(slack, oai, **database)
                processes = [ServeProcess(root / f"c{index}r{n}", env) for n in range(count)]
                try:
                    measured, after = await one_config(name, processes, db, targets, args, f"C{index}")
                    lines.append(f"{measured.line()}   backlog processed {after:.1f} s after the load")
                    print(lines[-1], flush=True)
                    if count == 2:
                        took = await failover(processes, db, targets, args)
                        lines.append(
                            f"failover (PostgreSQL ×2): SIGKILL of the leader to the survivor processing "
                            f"the first of its unfinished events: {took:.1f} s"
                        )
                        print(lines[-1], flush=True)
                finally:
                    for process in processes:
                        await process.stop()
                    await db.close()
    print("\n".join(["", *lines]))
    return 0
