"""Team memory's index: approved examples an answer may draw on, searched by BM25 (SQLite FTS5) or by
PostgreSQL's full-text search (a tsvector column of memory_items, GIN-indexed, ranked by ts_rank).

`sync` (in the caller's transaction, whenever an example's state, votes or text change), `search`, `purge`, the
embeddings, the per-channel facts and the record of use. Only the index's writes, its queries and `purge`
differ by dialect.

A memory is an example that is approved and either decided by an admin or vouched for by at least
memory_config.min_votes 👍 (more 👍 than 👎); examples from DMs never are (Tuneloop keeps none anyway).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from storage.db import Database, Transaction

ChannelKind = Literal["public", "private", "shared", "dm"]

_ELIGIBLE = (
    "e.state = 'approved' AND e.question != '' AND e.channel NOT LIKE 'D%'"
    " AND (e.decided_by IS NOT NULL OR (e.up_votes >= c.min_votes AND e.up_votes > e.down_votes))"
)


@dataclass(frozen=True)
class MemoryHit:
    example_id: int
    channel: str
    thread_ts: str | None
    message_ts: str
    question: str
    answer: str
    score: float  # BM25 as a positive number: higher is closer


@dataclass(frozen=True)
class Scope:
    """Where a question is asked: its own channel's memories, and the workspace's public ones when `share`."""

    channel: str
    share: bool
    exclude_threads: frozenset[tuple[str, str]] = frozenset()  # (channel, thread_ts): an evaluation's own threads


@dataclass(frozen=True)
class ChannelFacts:
    channel: str
    kind: ChannelKind | None
    enabled: bool | None  # None: as the workspace


@dataclass(frozen=True)
class UsedMemory:
    example_id: int
    rank: int
    channel: str
    thread_ts: str | None
    message_ts: str
    question: str
    answer: str


@dataclass(frozen=True)
class MemoryStats:
    size: int
    answers: int
    answers_with_memory: int
    most_used: list[tuple[int, str, int]]  # (example id, question, times used)


async def configure(db: Database, *, min_votes: int) -> None:
    """TUNELOOP_MEMORY_MIN_VOTES, then every example re-judged by it."""
    async with db.transaction() as tx:
        await tx.execute("UPDATE memory_config SET min_votes = ? WHERE id = 1", (min_votes,))
        await sync_all(tx)


async def sync(tx: Transaction, example_ids: Iterable[int]) -> None:
    """Bring these examples' memories in line with their rows: index the eligible, drop the rest, re-index a
    changed text. Runs inside the transaction that changed them, so no reader ever sees them apart."""
    ids = sorted(set(example_ids))
    if not ids:
        return
    marks = ", ".join("?" * len(ids))
    indexed = {
        row["example_id"]: row
        for row in await tx.fetchall(
            f"SELECT example_id, question, answer FROM memory_items WHERE example_id IN ({marks})", ids
        )
    }
    wanted = {
        row["id"]: row
        for row in await tx.fetchall(
            "SELECT e.id, e.channel, e.thread_ts, e.message_ts, e.question, COALESCE(e.corrected, e.answer) AS answer"
            f" FROM examples e, memory_config c WHERE e.id IN ({marks}) AND {_ELIGIBLE}",
            ids,
        )
    }
    changed = False
    for example_id in ids:
        old, new = indexed.get(example_id), wanted.get(example_id)
        if old is not None and (new is None or (old["question"], old["answer"]) != (new["question"], new["answer"])):
            await _fts_delete(tx, example_id, old["question"], old["answer"])
            await tx.execute("DELETE FROM memory_items WHERE example_id = ?", (example_id,))
            old, changed = None, True
        if new is not None and old is None:
            await tx.execute(
                "INSERT INTO memory_items (example_id, channel, thread_ts, message_ts, question, answer)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (example_id, new["channel"], new["thread_ts"], new["message_ts"], new["question"], new["answer"]),
            )
            await _fts_insert(tx, example_id, new["question"], new["answer"])
            changed = True
    if changed:
        await tx.execute("UPDATE memory_config SET generation = generation + 1 WHERE id = 1")


async def sync_all(tx: Transaction) -> None:
    """Re-judge every example (after votes were recounted wholesale, or the threshold changed)."""
    stale = await tx.fetchall(
        "SELECT m.example_id FROM memory_items m JOIN examples e ON e.id = m.example_id, memory_config c"
        f" WHERE NOT ({_ELIGIBLE})"
    )
    missing = await tx.fetchall(
        "SELECT e.id FROM examples e, memory_config c"
        f" WHERE {_ELIGIBLE} AND NOT EXISTS (SELECT 1 FROM memory_items m WHERE m.example_id = e.id)"
    )
    await sync(tx, [row[0] for row in [*stale, *missing]])


async def _fts_insert(tx: Transaction, example_id: int, question: str, answer: str) -> None:
    if tx.dialect == "postgresql":
        return  # the row's generated tsvector is its index entry (migration 0014_memory)
    await tx.execute(
        "INSERT INTO memory_fts (rowid, question, answer) VALUES (?, ?, ?)", (example_id, question, answer)
    )


async def _fts_delete(tx: Transaction, example_id: int, question: str, answer: str) -> None:
    if tx.dialect == "postgresql":
        return  # its index entry goes with the row
    # External content: FTS5 removes a row's terms given the values it indexed.
    await tx.execute(
        "INSERT INTO memory_fts (memory_fts, rowid, question, answer) VALUES ('delete', ?, ?, ?)",
        (example_id, question, answer),
    )


# BM25 weights: the question matters most (an answer shares a question's words less often).
_WEIGHTS = (1.0, 0.4)
_CANDIDATES = 200  # ranked by BM25 alone, then filtered by scope: a question's neighbours are rarely all elsewhere


# A term in more memories than this says little about which one fits (BM25 weighs it near zero), and scoring every
# memory it matches is what makes a search slow: the rarest RARE_TERMS of the others are OR'ed, so at most
# RARE_TERMS × COMMON memories are scored; a question made only of common terms needs them all (AND).
COMMON = 200
RARE_TERMS = 6


async def search(
    db: Database, terms: Sequence[str], scope: Scope, *, limit: int, counts: dict[str, int] | None = None
) -> list[MemoryHit]:
    """The memories closest to `terms` that may be shown where `scope` asks, best first: any of the rarer terms,
    or, when every term is common, all of them together. `counts` caches how many memories each term is in (the
    caller's to keep: it only ranks terms by rarity, so a stale count costs a little ranking, never a match)."""
    query = await _match_query(db, terms, {} if counts is None else counts)
    if query is None:
        return []
    search_sql = _PG_SEARCH if db.dialect == "postgresql" else _FTS5_SEARCH
    rows = await db.fetchall(
        search_sql, (query, _CANDIDATES, scope.channel, int(scope.share), limit + len(scope.exclude_threads))
    )
    hits = [MemoryHit(**dict(row)) for row in rows]
    return [hit for hit in hits if (hit.channel, hit.thread_ts or hit.message_ts) not in scope.exclude_threads][:limit]


def _quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


async def _match_query(db: Database, terms: Sequence[str], counts: dict[str, int]) -> str | None:
    """The search's query: the rarer terms OR'ed, else the common ones AND'ed; None when no term is in any memory."""
    if not terms:
        return None
    missing = [term for term in terms if term not in counts]
    if missing:
        # How many memories each term is in, up to COMMON + 1 (each engine stems the term as it indexed it).
        rows = await db.fetchall(
            " UNION ALL ".join(
                f"SELECT {i}, ({_TERM_COUNT[db.dialect].format(cap=COMMON + 1)})" for i in range(len(missing))
            ),
            [_quoted(term) for term in missing],
        )
        fresh = {missing[row[0]]: row[1] for row in rows}
        counts.update({term: n for term, n in fresh.items() if n})  # a term in no memory yet may be in the next
    else:
        fresh = {}
    found = {i: counts.get(term, fresh.get(term, 0)) for i, term in enumerate(terms)}
    rarest = sorted((found[i], i) for i in range(len(terms)) if 0 < found[i] <= COMMON)[:RARE_TERMS]
    rare = [_quoted(terms[i]) for _, i in sorted(rarest, key=lambda pair: pair[1])]
    common = [_quoted(term) for i, term in enumerate(terms) if found[i] > COMMON]
    if rare:
        return " OR ".join(rare)
    return " ".join(common) or None  # side by side: AND to FTS5 and to websearch_to_tsquery alike


# How many memories a quoted term is in, up to `cap`, through each engine's own index.
_TERM_COUNT = {
    "sqlite": "SELECT count(*) FROM (SELECT 1 FROM memory_fts WHERE memory_fts MATCH ? LIMIT {cap}) AS n",
    "postgresql": "SELECT count(*) FROM (SELECT 1 FROM memory_items"
    " WHERE search @@ websearch_to_tsquery('english', ?) LIMIT {cap}) AS n",
}


# Its own channel's memories, or a public channel's where the asking channel may share; never a switched-off one.
# Parameters: the asking channel, then 1 if it may share (0 if not).
_SCOPE_JOIN = "LEFT JOIN memory_channels mc ON mc.channel = m.channel, memory_config cfg"
_SCOPE_WHERE = "(m.channel = ? OR (? = 1 AND mc.kind = 'public')) AND COALESCE(mc.enabled, cfg.enabled) = 1"

# Both take (query, candidates, channel, share, limit). The query is FTS5's: quoted terms joined by OR or side
# by side (AND), which PostgreSQL's websearch_to_tsquery reads the same way (and never rejects). The question's
# lexemes weigh as FTS5's question column does (weights {D, C, B, A}: the answer is B, the question A).
# ts_rank, not ts_rank_cd: every matching row is ranked, and cover density cost about 4x as much at 100k memories
# (bench/memory_search.py).
_FTS5_SEARCH = (
    "SELECT m.example_id, m.channel, m.thread_ts, m.message_ts, m.question, m.answer, -hits.score AS score"
    f" FROM (SELECT rowid, bm25(memory_fts, {_WEIGHTS[0]}, {_WEIGHTS[1]}) AS score FROM memory_fts"
    "       WHERE memory_fts MATCH ? ORDER BY score LIMIT ?) AS hits"
    " JOIN memory_items m ON m.example_id = hits.rowid"
    f" {_SCOPE_JOIN} WHERE {_SCOPE_WHERE} ORDER BY hits.score LIMIT ?"
)
_PG_SEARCH = (
    "SELECT m.example_id, m.channel, m.thread_ts, m.message_ts, m.question, m.answer, hits.score"
    " FROM (SELECT example_id, ts_rank("
    f"'{{0, 0, {_WEIGHTS[1]}, {_WEIGHTS[0]}}}'::real[], search, query) AS score"
    "       FROM memory_items, websearch_to_tsquery('english', ?) AS query"
    "       WHERE search @@ query ORDER BY score DESC, example_id LIMIT ?) AS hits"
    " JOIN memory_items m ON m.example_id = hits.example_id"
    f" {_SCOPE_JOIN} WHERE {_SCOPE_WHERE} ORDER BY hits.score DESC, m.example_id LIMIT ?"
)


async def vectors(db: Database, model: str) -> list[tuple[int, bytes]]:
    """Every memory's embedding by `model` (float32 bytes)."""
    rows = await db.fetchall(
        "SELECT example_id, embedding FROM memory_items WHERE embedding_model = ? AND embedding IS NOT NULL", (model,)
    )
    return [(row[0], row[1]) for row in rows]


async def without_vector(db: Database, model: str, limit: int) -> list[tuple[int, str]]:
    """Memories not yet embedded by `model`: (id, question)."""
    rows = await db.fetchall(
        "SELECT example_id, question FROM memory_items WHERE embedding_model IS NOT ? OR embedding IS NULL"
        " ORDER BY example_id LIMIT ?",
        (model, limit),
    )
    return [(row[0], row[1]) for row in rows]


async def set_vectors(db: Database, model: str, vectors: Sequence[tuple[int, str, bytes]]) -> None:
    """Store embeddings of (id, the question embedded, vector): one whose question changed meanwhile is skipped."""
    async with db.transaction() as tx:
        await tx.executemany(
            "UPDATE memory_items SET embedding_model = ?, embedding = ? WHERE example_id = ? AND question = ?",
            [(model, vector, example_id, question) for example_id, question, vector in vectors],
        )
        await tx.execute("UPDATE memory_config SET generation = generation + 1 WHERE id = 1")


async def items(db: Database, example_ids: Sequence[int]) -> list[MemoryHit]:
    """These memories (scores 0), in the order given; ones gone since are left out."""
    if not example_ids:
        return []
    marks = ", ".join("?" * len(example_ids))
    rows = await db.fetchall(
        "SELECT example_id, channel, thread_ts, message_ts, question, answer, 0.0 AS score FROM memory_items"
        f" WHERE example_id IN ({marks})",
        list(example_ids),
    )
    by_id = {row[0]: MemoryHit(**dict(row)) for row in rows}
    return [by_id[i] for i in example_ids if i in by_id]


async def in_scope(db: Database, example_ids: Sequence[int], scope: Scope) -> set[int]:
    """Which of these memories may be shown where `scope` asks."""
    if not example_ids:
        return set()
    marks = ", ".join("?" * len(example_ids))
    rows = await db.fetchall(
        f"SELECT m.example_id, m.channel, m.thread_ts, m.message_ts FROM memory_items m {_SCOPE_JOIN}"
        f" WHERE m.example_id IN ({marks}) AND {_SCOPE_WHERE}",
        [*example_ids, scope.channel, int(scope.share)],
    )
    return {row[0] for row in rows if (row[1], row[2] or row[3]) not in scope.exclude_threads}


async def threads_of(db: Database, example_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """Each example's (channel, thread): its thread's root ts, or its own ts at top level."""
    found: dict[int, tuple[str, str]] = {}
    for start in range(0, len(example_ids), 500):
        chunk = list(example_ids[start : start + 500])
        rows = await db.fetchall(
            f"SELECT id, channel, COALESCE(thread_ts, message_ts) FROM examples WHERE id IN ({', '.join('?' * len(chunk))})",
            chunk,
        )
        found |= {row[0]: (row[1], row[2]) for row in rows}
    return found


async def workspace_enabled(db: Database) -> bool:
    return bool(await db.fetchval("SELECT enabled FROM memory_config WHERE id = 1"))


async def generation(db: Database) -> int:
    return int(await db.fetchval("SELECT generation FROM memory_config WHERE id = 1"))


async def purge(db: Database) -> None:
    """Make erased text unrecoverable: FTS5 keeps a deleted row's terms in its segments until they are merged
    (this SQLite has no secure-delete option), so rewrite the index as one segment; then checkpoint the WAL and
    truncate it. Freed pages are zeroed (PRAGMA secure_delete, storage/db.py).

    PostgreSQL: nothing to do for the index. A memory's tsvector is a column of its row, so the commit that
    deletes the row takes its text and its terms out of every query at once; the dead tuple's bytes stay in the
    table's pages, the GIN index and the server's WAL until (auto)vacuum and checkpoints reclaim them, as with
    any deleted row there: the byte-level guarantee above is SQLite's."""
    if db.dialect == "postgresql":
        return
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO memory_fts (memory_fts) VALUES ('optimize')")
    await db.checkpoint()


async def channel(db: Database, channel_id: str) -> ChannelFacts | None:
    row = await db.fetchone("SELECT channel, kind, enabled FROM memory_channels WHERE channel = ?", (channel_id,))
    if row is None:
        return None
    return ChannelFacts(row[0], row[1], None if row[2] is None else bool(row[2]))


async def set_kind(db: Database, channel_id: str, kind: ChannelKind) -> None:
    await db.execute(
        "INSERT INTO memory_channels (channel, kind) VALUES (?, ?) ON CONFLICT (channel) DO UPDATE SET"
        " kind = excluded.kind, checked_at = excluded.checked_at",
        (channel_id, kind),
    )


async def switch(db: Database, channel_id: str | None, enabled: bool) -> None:
    """An admin's switch: one channel's, or the workspace's (None)."""
    if channel_id is None:
        await db.execute("UPDATE memory_config SET enabled = ? WHERE id = 1", (int(enabled),))
        return
    await db.execute(
        "INSERT INTO memory_channels (channel, enabled) VALUES (?, ?) ON CONFLICT (channel) DO UPDATE SET"
        " enabled = excluded.enabled",
        (channel_id, int(enabled)),
    )


async def enabled(db: Database, channel_id: str) -> bool:
    value = await db.fetchval(
        "SELECT COALESCE(mc.enabled, c.enabled) FROM memory_config c"
        " LEFT JOIN memory_channels mc ON mc.channel = ? WHERE c.id = 1",
        (channel_id,),
    )
    return bool(value)


async def switched(db: Database) -> tuple[bool, dict[str, bool]]:
    """The workspace's switch, and each channel an admin switched."""
    workspace = bool(await db.fetchval("SELECT enabled FROM memory_config WHERE id = 1"))
    rows = await db.fetchall("SELECT channel, enabled FROM memory_channels WHERE enabled IS NOT NULL ORDER BY channel")
    return workspace, {row[0]: bool(row[1]) for row in rows}


async def record_use(tx: Transaction, answer_id: int, hits: Sequence[tuple[int, float]]) -> None:
    """The memories (example id, score) an answer was given, best first."""
    await tx.executemany(
        "INSERT INTO answer_memory (answer_id, example_id, rank, score) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (answer_id, example_id) DO NOTHING",
        [(answer_id, example_id, rank, score) for rank, (example_id, score) in enumerate(hits)],
    )


async def used_by(db: Database, answer_id: int) -> list[UsedMemory]:
    """The memories an answer was given, with their text now (an erased one reads empty)."""
    rows = await db.fetchall(
        "SELECT am.example_id, am.rank, e.channel, e.thread_ts, e.message_ts, e.question,"
        " COALESCE(e.corrected, e.answer) AS answer FROM answer_memory am JOIN examples e ON e.id = am.example_id"
        " WHERE am.answer_id = ? ORDER BY am.rank",
        (answer_id,),
    )
    return [UsedMemory(**dict(row)) for row in rows]


async def used_for_examples(db: Database, example_ids: Sequence[int]) -> dict[int, list[UsedMemory]]:
    """For examples made from Tuneloop's answers: the memories each of those answers was given."""
    if not example_ids:
        return {}
    marks = ", ".join("?" * len(example_ids))
    rows = await db.fetchall(
        "SELECT x.id AS example, am.example_id, am.rank, e.channel, e.thread_ts, e.message_ts, e.question,"
        " COALESCE(e.corrected, e.answer) AS answer FROM examples x JOIN answer_memory am ON am.answer_id = x.answer_id"
        f" JOIN examples e ON e.id = am.example_id WHERE x.id IN ({marks}) ORDER BY x.id, am.rank",
        list(example_ids),
    )
    used: dict[int, list[UsedMemory]] = {}
    for row in rows:
        values = dict(row)
        used.setdefault(values.pop("example"), []).append(UsedMemory(**values))
    return used


async def stats(db: Database, *, top: int) -> MemoryStats:
    size = int(await db.fetchval("SELECT count(*) FROM memory_items"))
    answers = int(await db.fetchval("SELECT count(*) FROM answers WHERE status = 'answered'"))
    with_memory = int(
        await db.fetchval(
            "SELECT count(DISTINCT am.answer_id) FROM answer_memory am JOIN answers a ON a.id = am.answer_id"
            " WHERE a.status = 'answered'"
        )
    )
    rows = await db.fetchall(
        "SELECT am.example_id, m.question, count(*) AS uses FROM answer_memory am"
        " JOIN memory_items m ON m.example_id = am.example_id GROUP BY am.example_id, m.question"
        " ORDER BY uses DESC, am.example_id LIMIT ?",
        (top,),
    )
    return MemoryStats(size, answers, with_memory, [(row[0], row[1], row[2]) for row in rows])
