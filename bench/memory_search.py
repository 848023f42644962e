"""Benchmark: team memory's search (storage/memory.py) on SQLite's FTS5 beside PostgreSQL's full-text search.

    python bench/memory_search.py                       # 10k and 100k approved memories, 300 questions each
    python bench/memory_search.py --sizes 10000 100000 1000000 --queries 500

For each size, the same synthetic memories (questions and answers of 8-14 words drawn by Zipf's law from a
50,000-word vocabulary less its 100 most frequent words, which are stop words a question's terms leave out:
the commonest remaining word is in about 3% of memories, most are rare) are loaded into a fresh SQLite
file and a fresh database on a PostgreSQL server this bench starts (initdb + pg_ctl in a temporary folder, as
the tests do: tests/pg_server.py). Then the same questions (a memory's question with some words replaced,
terms as tuning/answering/memory.py extracts them) go through `storage.memory.search`, one at a time, scope and
similarity floor included, as the answer path calls it. Printed: p50 and p99 per database and the ratio
PostgreSQL / SQLite. The issue's budget is FTS5's: 10 ms p99 at 100k.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage import memory as memory_rows  # noqa: E402
from storage import migrate, open_database  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.memory import Scope  # noqa: E402
from tuning.answering.memory import terms  # noqa: E402

RANKS = range(101, 50_101)
VOCABULARY = [f"w{rank}" for rank in RANKS]
ZIPF = list(itertools.accumulate(1 / rank for rank in RANKS))
BATCH = 5_000
CHANNEL = "C0BENCH"


def word(rng: random.Random) -> str:
    return rng.choices(VOCABULARY, cum_weights=ZIPF)[0]


def sentence(rng: random.Random) -> str:
    return " ".join(word(rng) for _ in range(rng.randint(8, 14)))


async def load(db: Database, size: int, seed: int) -> None:
    """`size` approved memories: examples and memory_items in bulk, then the index built once."""
    rng = random.Random(seed)
    for start in range(0, size, BATCH):
        rows = [
            (start + i + 1, f"{start + i}.0001", sentence(rng), sentence(rng)) for i in range(min(BATCH, size - start))
        ]
        async with db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO examples (id, source, state, channel, message_ts, conversation, question, answer,"
                " decided_by) VALUES (?, 'correction', 'approved', 'C0BENCH', ?, '[]', ?, ?, 'U0ADMIN')",
                rows,
            )
            await tx.executemany(
                "INSERT INTO memory_items (example_id, channel, message_ts, question, answer)"
                " VALUES (?, 'C0BENCH', ?, ?, ?)",
                rows,
            )
    if db.dialect == "sqlite":
        await db.execute("INSERT INTO memory_fts (memory_fts) VALUES ('rebuild')")
    else:
        await db.execute("ANALYZE memory_items")


def questions(size: int, count: int, seed: int) -> list[list[str]]:
    """Memories' questions regenerated, with a third of their words replaced: near, not exact, matches."""
    rng = random.Random(seed)
    stored = [sentence(rng) for _ in range(size * 2)][::2]  # the questions, as load() drew them
    picker = random.Random(seed + 1)
    asked = []
    for question in picker.sample(stored, min(count, len(stored))):
        words = [w if picker.random() > 0.33 else word(picker) for w in question.split()]
        asked.append(terms(" ".join(words)))
    return asked


async def measure(db: Database, asked: list[list[str]]) -> list[float]:
    scope = Scope(CHANNEL, share=True)
    for query in asked[:20]:  # warm caches and plans
        await memory_rows.search(db, query, scope, limit=12)
    seconds = []
    for query in asked:
        started = time.perf_counter()
        hits = await memory_rows.search(db, query, scope, limit=12)
        seconds.append(time.perf_counter() - started)
        assert hits, query
    return seconds


def summary(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


async def run(sizes: list[int], count: int, pg_url: str) -> None:
    from tests.pg_server import postgres_server  # noqa: PLC0415 - only the bench starts a server

    with tempfile.TemporaryDirectory() as folder, postgres_server() if not pg_url else _given(pg_url) as server:
        print(
            f"{'memories':>10}  {'SQLite p50/p99 ms':>18}  {'PostgreSQL p50/p99 ms':>22}  {'p99 ratio PG/SQLite':>20}"
        )
        for size in sizes:
            results = []
            for kind in ("sqlite", "postgresql"):
                target = str(Path(folder) / f"m{size}.db") if kind == "sqlite" else server.create_database()
                db = await open_database(target, home=Path(folder))
                await migrate(db)
                await load(db, size, seed=size)
                results.append(summary(await measure(db, questions(size, count, seed=size))))
                await db.close()
            (s50, s99), (p50, p99) = results
            print(
                f"{size:>10,}  {s50:>8.2f} / {s99:>7.2f}  {p50:>10.2f} / {p99:>9.2f}  {p99 / s99:>19.2f}x", flush=True
            )


class _given:
    """A server given by URL (its admin database): fresh databases are created in it."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> _given:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def create_database(self) -> str:
        import uuid

        import psycopg

        name = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + "/" + name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--postgresql", default="", help="an existing server's admin URL (default: start one)")
    args = parser.parse_args()
    asyncio.run(run(args.sizes, args.queries, args.postgresql))


if __name__ == "__main__":
    main()
