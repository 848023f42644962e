"""Benchmark: build a dataset from 100,000 and 1,000,000 synthetic examples.

    python bench/dataset_build.py                    # both sizes, default workers
    python bench/dataset_build.py --sizes 100000 --workers 1
    python bench/dataset_build.py --tokenizer        # threads vs processes for bpe-openai
    python bench/dataset_build.py --postgresql --sizes 100000   # SQLite and PostgreSQL side by side

Each size gets a fresh SQLite file, filled by one subprocess; the build then runs in another fresh
subprocess, so the peak RSS printed is that build's alone (worker processes reported separately).
Examples are about 300 tokens each, with exact duplicates, near-duplicates, invalid lines, a few over
the token limit, corrections and non-approved rows mixed in.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import random
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SYSTEM = "You are Tuneloop, a helpful assistant in a team's Slack workspace. Answer clearly and concisely."
CHANNELS = [f"C{n:08d}" for n in range(20)]


def _words() -> list[str]:
    """English words, offline: the vocabulary of a few standard-library docstrings."""
    import argparse as a
    import asyncio as b
    import collections as c
    import json as d
    import sqlite3 as e
    import subprocess as f
    import typing as g

    text = " ".join(
        inspect.getdoc(member) or "" for module in (a, b, c, d, e, f, g) for _, member in inspect.getmembers(module)
    )
    return re.findall(r"[A-Za-z][a-z]+|[0-9]+|[,.;:()']", text)


class Generator:
    """Synthetic examples shaped like Slack's: a third continue a recent thread (the conversation is
    the thread so far, so earlier turns repeat across its examples); a small window of recent ones
    feeds exact and near duplicates."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.words = _words()
        self.recent: deque[tuple[list[dict[str, str]], str, str, str]] = deque(maxlen=1000)

    def text(self, low: int, high: int) -> str:
        return " ".join(self.rng.choices(self.words, k=self.rng.randint(low, high))).capitalize() + "."

    def question(self) -> dict[str, str]:
        return {"role": "user", "content": self.text(15, 35) + "?"}

    def new_thread(self) -> list[dict[str, str]]:
        turns = [{"role": "system", "content": SYSTEM}]
        for _ in range(self.rng.randint(0, 1)):
            turns += [{"role": "user", "content": self.text(8, 20)}, {"role": "user", "content": self.text(10, 30)}]
        return turns + [self.question()]

    def example(self, n: int) -> tuple:
        kind, channel, thread = self.rng.random(), self.rng.choice(CHANNELS), f"{n}.000"
        if kind < 0.05 and self.recent:  # exact duplicate, different spacing and case
            conversation, answer, _, _ = self.rng.choice(self.recent)
            conversation = [{**m, "content": "  " + m["content"].upper()} for m in conversation]
            answer = answer.replace(" ", "  ")
        elif kind < 0.08 and self.recent:  # same question, another answer
            conversation, answer = self.rng.choice(self.recent)[0], self.text(100, 170)
        elif kind < 0.40 and self.recent and len(self.recent[-1][0]) < 6:  # the thread goes on
            previous, previous_answer, channel, thread = self.recent[-1]
            conversation = [*previous, {"role": "assistant", "content": previous_answer}, self.question()]
            answer = self.text(60, 110)
        else:
            conversation, answer = self.new_thread(), self.text(100, 170)
        if kind >= 0.08:
            self.recent.append((conversation, answer, channel, thread))
        return self._row(n, conversation, answer, channel, thread)

    def _row(self, n: int, conversation: list[dict[str, str]], answer: str, channel: str, thread: str) -> tuple:
        corrected = self.text(100, 170) if self.rng.random() < 0.1 else None
        thumbs_down = self.rng.random() < 0.03
        up, down = (0, self.rng.randint(1, 3)) if thumbs_down else (self.rng.randint(1, 4), 0)
        state = "candidate" if thumbs_down else "approved" if self.rng.random() < 0.95 else "rejected"
        created = f"20{24 + n % 3}-{1 + n % 12:02d}-{1 + n % 28:02d}T10:00:00.000Z"
        return (
            "bot_answer",
            state,
            channel,
            thread,
            f"{n}.001",
            self._maybe_broken(conversation, n),
            conversation[-1]["content"],
            answer,
            corrected,
            up,
            down,
            created,
        )

    def _maybe_broken(self, conversation: list[dict[str, str]], n: int) -> str:
        roll = self.rng.random()
        if n % 20_000 == 7:  # far over every per-example limit
            conversation = [*conversation[:-1], {"role": "user", "content": "long " * 70_000}]
        elif roll < 0.003:
            return json.dumps(conversation)[:-5]  # truncated JSON
        elif roll < 0.006:
            conversation = [*conversation, {"role": "wizard", "content": "abracadabra"}]
        elif roll < 0.009:
            conversation = [*conversation[:-1], {"role": "user", "content": "   "}]
        elif roll < 0.012:
            conversation = [*conversation[:-1], {"role": "user", "content": "hi", "mood": "happy"}]
        return json.dumps(conversation)


_FILL = (
    "INSERT INTO examples (source, state, channel, thread_ts, message_ts, conversation, question, answer,"
    " corrected, up_votes, down_votes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def fill(db_path: str, size: int) -> None:
    from storage import migrate, open_database

    async def create() -> None:
        db = await open_database(db_path, home=Path(tempfile.gettempdir()))
        await migrate(db)
        if db.dialect == "postgresql":
            generator = Generator()
            for start in range(0, size, 10_000):
                await db.executemany(_FILL, [generator.example(n) for n in range(start, min(size, start + 10_000))])
        await db.close()

    asyncio.run(create())
    if db_path.startswith("postgresql://"):
        return
    conn = sqlite3.connect(db_path)
    generator = Generator()
    sql = _FILL
    for start in range(0, size, 10_000):
        with conn:
            conn.executemany(sql, (generator.example(n) for n in range(start, min(size, start + 10_000))))
    conn.close()


def measure_build(db_path: str, home: Path, workers: int, fmt: str) -> dict:
    from storage import open_database
    from tuning.training.datasets import BuildRequest, DatasetService

    async def run() -> tuple[float, object, int]:
        db = await open_database(db_path, home=home)
        matched = await db.fetchval("SELECT count(*) FROM examples WHERE state = 'approved'")
        started = time.perf_counter()
        summary = await DatasetService(db, workers=workers).build(BuildRequest(name="bench", format=fmt))
        elapsed = time.perf_counter() - started
        await db.close()
        return elapsed, summary, matched

    load_before = os.getloadavg()[0]
    elapsed, summary, matched = asyncio.run(run())
    cpu = _cpu_seconds(resource.RUSAGE_SELF) + _cpu_seconds(resource.RUSAGE_CHILDREN)
    return {
        "approved_examples": matched,
        "seconds": round(elapsed, 1),
        "examples_per_second": round(matched / elapsed),
        "train": summary.train,
        "validation": summary.validation,
        "dropped": summary.dropped,
        "tokens_median": summary.tokens.median,
        "tokens_p90": summary.tokens.p90,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "peak_rss_worker_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
        "format": fmt,
        "workers": workers,
        "cpu_seconds": round(cpu, 1),
        "examples_per_cpu_second": round(matched / cpu),
        # Other processes on the machine slow the wall clock down; the load average says how busy it was.
        "load_average_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def tokenizer_scaling() -> dict:
    """Does encoding on two threads beat one? (It does not: the Rust tokenizer holds the GIL.)"""
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    generator = Generator()
    texts = [generator.text(200, 240) for _ in range(8000)]
    chunks = [texts[i : i + 500] for i in range(0, len(texts), 500)]
    _count_tokens(chunks[0])  # load the encoding before timing anything
    rates = {}
    for label, pool in (
        ("1 thread", None),
        ("2 threads", ThreadPoolExecutor(2)),
        ("2 processes", ProcessPoolExecutor(2)),
    ):
        if pool is not None:
            list(pool.map(_count_tokens, chunks[:2]))  # warm up: import and load the encoding
        best = 0.0
        for _ in range(3):  # best of three: other processes on the machine only ever slow a run down
            started = time.perf_counter()
            total = sum(pool.map(_count_tokens, chunks) if pool else map(_count_tokens, chunks))
            best = max(best, total / (time.perf_counter() - started))
        rates[label] = f"{best / 1e6:.2f} M tokens/s"
        if pool is not None:
            pool.shutdown()
    return rates


def _count_tokens(texts: list[str]) -> int:
    from tuning.catalogue.tokens import text_counter

    return sum(map(text_counter("o200k_base"), texts))


def _child(*args: str) -> dict:
    result = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: CPUs available)")
    parser.add_argument("--dir", type=Path, default=None, help="where the SQLite files go (default: a temp dir)")
    parser.add_argument("--format", choices=["sft", "dpo"], default="sft")
    parser.add_argument("--keep", action="store_true", help="keep the databases and dataset files afterwards")
    parser.add_argument("--tokenizer", action="store_true", help="only measure tokenizer threads vs processes")
    parser.add_argument("--fill", nargs=2, metavar=("DB", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--build", metavar="DB", help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--postgresql",
        action="store_true",
        help="each size on SQLite and on a PostgreSQL server the bench starts (tests/pg_server.py)",
    )
    args = parser.parse_args()
    if args.fill:
        fill(args.fill[0], int(args.fill[1]))
        print(json.dumps({"filled": int(args.fill[1])}))
    elif args.build:
        from tuning.training.datasets.parallel import default_workers

        home = args.home or Path(args.build).parent
        print(json.dumps(measure_build(args.build, home, args.workers or default_workers(), args.format)))
    elif args.tokenizer:
        print(json.dumps(tokenizer_scaling(), indent=1))
    else:
        _run_sizes(args)


def _run_sizes(args: argparse.Namespace) -> None:
    if not args.postgresql:
        _run_on(args, None)
        return
    from tests.pg_server import postgres_server

    with postgres_server(durable=True) as server:
        _run_on(args, server)


def _run_on(args: argparse.Namespace, postgres: object) -> None:
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="tuneloop-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    for size, kind in (
        (int(s), kind)
        for s in args.sizes.split(",")
        for kind in (("SQLite", "PostgreSQL") if postgres else ("SQLite",))
    ):
        sized = workdir / f"{size}-{kind}"  # one data folder per database: datasets/ lives there
        shutil.rmtree(sized, ignore_errors=True)
        sized.mkdir()
        db_path = str(sized / "bench.db") if kind == "SQLite" else postgres.create_database()  # type: ignore[attr-defined]
        started = time.perf_counter()
        _child("--fill", db_path, str(size))
        os.sync()  # the fill's writes go to disk now, not while the build is timed
        print(f"{size:>9,} examples generated in {time.perf_counter() - started:.0f} s ({kind})", file=sys.stderr)
        worker_args = ["--workers", str(args.workers)] if args.workers else []
        result = _child("--build", db_path, "--home", str(sized), "--format", args.format, *worker_args)
        print(
            f"{size:>9,} {kind:<10}: {result['examples_per_second']:>7,} examples/s ({result['seconds']} s, "
            f"{result['workers']} workers, load {result['load_average_before_after']}) · peak RSS "
            f"{result['peak_rss_mb']} MB build process, {result['peak_rss_worker_mb']} MB largest worker · "
            f"{result['examples_per_cpu_second']:,} examples per CPU-second"
        )
        print("           " + json.dumps(result))
        if not args.keep:
            shutil.rmtree(sized, ignore_errors=True)  # about 4 GB at a million examples


if __name__ == "__main__":
    main()
