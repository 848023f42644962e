"""Dataset versions and their members; and the work tables a build streams through.

Two sides. Reading versions back (list, show, export, evaluation) goes through the app's
`Database`. A build runs in a worker thread on its own connection (`connect`: sqlite3, or psycopg's sync
API on PostgreSQL), so a million-row build never blocks the event loop: it reads examples in
keyset-paginated batches, does its grouping in TEMP tables (on disk, not in Python), and publishes in one
transaction. On PostgreSQL the work tables are filled with COPY and the snapshot is REPEATABLE READ.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from storage.db import PRAGMAS, Database, is_postgresql

if TYPE_CHECKING:
    from storage.postgres import BuildConnection

# --- reading versions back --------------------------------------------------------------------


@dataclass(frozen=True)
class VersionFacts:
    """What a build found and estimated; the version number and file paths are fixed when it is published."""

    name: str
    format: str
    filters: str
    val_fraction: float
    created_by: str | None
    train_count: int
    validation_count: int
    dropped: str
    token_model: str
    encoding: str
    tokens_total: int
    tokens_train: int
    tokens_median: int
    tokens_p90: int
    tokens_max: int
    train_sha256: str
    validation_sha256: str
    default_epochs: int
    billed_tokens: int
    cost_trainer: str
    cost_model: str
    usd_per_million: float | None
    cost_usd: float | None
    prices_checked: str | None
    kto_labels: str | None  # JSON: a KTO version's label counts and class weights


@dataclass(frozen=True)
class VersionRow(VersionFacts):
    id: int
    version: int
    created_at: str
    train_path: str
    validation_path: str


class MemberIds(NamedTuple):
    """One line of a split: its example and, for a DPO pair, the rejected example."""

    example_id: int
    rejected_id: int | None


VERSION_COLUMNS = tuple(field.name for field in fields(VersionRow))
_SELECT_VERSION = f"SELECT {', '.join(VERSION_COLUMNS)} FROM dataset_versions"


async def get_version(db: Database, name: str, version: int | None = None) -> VersionRow | None:
    """NAME@version, or NAME's newest version when version is None."""
    if version is None:
        row = await db.fetchone(f"{_SELECT_VERSION} WHERE name = ? ORDER BY version DESC LIMIT 1", (name,))
    else:
        row = await db.fetchone(f"{_SELECT_VERSION} WHERE name = ? AND version = ?", (name, version))
    return VersionRow(**dict(row)) if row else None


async def list_versions(db: Database) -> list[VersionRow]:
    rows = await db.fetchall(f"{_SELECT_VERSION} ORDER BY name, version DESC")
    return [VersionRow(**dict(row)) for row in rows]


async def version_numbers(db: Database, name: str) -> list[int]:
    rows = await db.fetchall("SELECT version FROM dataset_versions WHERE name = ? ORDER BY version", (name,))
    return [row["version"] for row in rows]


async def names(db: Database) -> list[str]:
    return [row["name"] for row in await db.fetchall("SELECT DISTINCT name FROM dataset_versions ORDER BY name")]


async def member_ids(db: Database, dataset_id: int, split: str) -> list[MemberIds]:
    """One split's members, in file order: a split's lines are in id order."""
    rows = await db.fetchall(
        "SELECT example_id, rejected_id FROM dataset_members WHERE dataset_id = ? AND split = ? ORDER BY example_id",
        (dataset_id, split),
    )
    return [MemberIds(row["example_id"], row["rejected_id"]) for row in rows]


# --- the build's own connection -----------------------------------------------------------------

# A build's batches are plain tuples, cheap to pickle to the worker processes; these name what each holds.
ApprovedRow = tuple[int, str, str, str | None, str | None]  # id, conversation, answer, corrected, question
NegativeRow = tuple[int, str, str, str, int, str]  # id, channel, thread_ts, question, down_votes, created_at
SurvivorTokens = tuple[int, int]  # id, tokens
# id, split, rejected_id, conversation, answer, corrected, rejected conversation, rejected answer
SurvivorRow = tuple[int, str, int | None, str, str, str | None, str | None, str | None]
SpilledDrop = tuple[str, int, int, int]  # split, tokens, line_offset, line_length


class BuildConn(Protocol):
    """What the build calls: sqlite3.Connection, or storage.postgres.BuildConnection."""

    def execute(self, sql: str, parameters: Any = (), /) -> Any: ...
    def executemany(self, sql: str, parameters: Any, /) -> Any: ...
    def close(self) -> None: ...


def _pg(conn: BuildConn) -> BuildConnection | None:
    return conn if getattr(conn, "dialect", "sqlite") == "postgresql" else None  # type: ignore[return-value]


def connect(database: str | Path) -> BuildConn:
    """The build's own connection to the app's database (a file, or a postgresql:// URL), for a worker thread."""
    if is_postgresql(database):
        from storage.postgres import BuildConnection

        return BuildConnection(str(database))
    conn = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    # Work tables go to a temporary file, never to RAM: their size grows with the examples.
    conn.execute("PRAGMA temp_store = FILE")
    # This connection writes only a version and its members, whose example ids it has just read in the same
    # file (and examples are never deleted). Checking each member's references anyway is 70% of the publish
    # (0.15 s per 100,000 examples, measured) and holds the write lock the inbox's acks wait on.
    conn.execute("PRAGMA foreign_keys = OFF")
    return conn


@contextmanager
def snapshot(conn: BuildConn) -> Iterator[None]:
    """One read transaction: every pass of a build sees the same examples, whatever is written meanwhile."""
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ" if _pg(conn) else "BEGIN")
    conn.execute("SELECT count(*) FROM dataset_versions").fetchone()  # takes the snapshot now
    try:
        yield
    finally:
        conn.execute("COMMIT")


@contextmanager
def write_transaction(conn: BuildConn) -> Iterator[BuildConn]:
    if _pg(conn):
        from storage.postgres import TRANSACTION_LOCK

        conn.execute("BEGIN")
        conn.execute("SELECT pg_advisory_xact_lock(?)", (TRANSACTION_LOCK,))  # serialised like the app's
    else:
        conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


_WORK_TABLES = (
    # One row per approved example that matched the filters; reason is NULL while it survives.
    """CREATE TEMP TABLE ds_candidates (
        id INTEGER PRIMARY KEY, reason TEXT, tokens INTEGER, split TEXT NOT NULL, exact INTEGER, near INTEGER,
        question INTEGER, corrected INTEGER NOT NULL, line_offset INTEGER, line_length INTEGER,
        rejected_id INTEGER)""",
    # Answers with more 👎 than 👍 (any state): the rejected side of DPO vote pairs.
    """CREATE TEMP TABLE ds_negatives (
        id INTEGER PRIMARY KEY, channel TEXT NOT NULL, thread_ts TEXT NOT NULL, question INTEGER NOT NULL,
        down INTEGER NOT NULL, created_at TEXT NOT NULL)""",
    "CREATE INDEX temp.ds_negatives_thread ON ds_negatives (channel, thread_ts, question)",
)


_CANDIDATE_COLUMNS = (
    "id",
    "reason",
    "tokens",
    "split",
    "exact",
    "near",
    "question",
    "corrected",
    "line_offset",
    "line_length",
)


def create_work_tables(conn: BuildConn) -> None:
    for table in ("ds_candidates", "ds_negatives", "ds_repeated"):
        conn.execute(f"DROP TABLE IF EXISTS temp.{table}")
    for statement in _WORK_TABLES:
        conn.execute(statement)


def _filter_sql(since: str | None, channel: str | None) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if since is not None:
        clauses.append("created_at >= ?")  # ISO-8601 text compares in time order
        params.append(since)
    if channel is not None:
        clauses.append("channel = ?")
        params.append(channel)
    return "".join(f" AND {clause}" for clause in clauses), params


# KTO (every vote counts): an answer is undesirable when rejected, or when its 👎 outnumber its 👍 by at least
# the vote threshold; else desirable when approved. Other candidates are not examples yet. The threshold is an
# int inlined in the SQL: the pages' placeholders stay (last id, filters, size) in that order.
def _kto_undesirable(min_votes: int) -> str:
    return f"(state = 'rejected' OR down_votes - up_votes >= {int(min_votes)})"


def _selected(kto_min_votes: int | None) -> str:
    """Which examples a build reads: approved ones, or for KTO every approved or voted-down answer."""
    if kto_min_votes is None:
        return "state = 'approved'"
    return f"(state = 'approved' OR {_kto_undesirable(kto_min_votes)})"


def count_approved(conn: BuildConn, *, since: str | None, channel: str | None, kto_min_votes: int | None = None) -> int:
    where, params = _filter_sql(since, channel)
    count: int = conn.execute(
        f"SELECT count(*) FROM examples WHERE {_selected(kto_min_votes)}{where}", params
    ).fetchone()[0]
    return count


def approved_batches(
    conn: BuildConn,
    *,
    since: str | None,
    channel: str | None,
    size: int,
    questions: bool = True,
    kto_min_votes: int | None = None,
) -> Iterator[list[ApprovedRow]]:
    """(id, conversation, answer, corrected, question), by id: what a worker inspects. Votes, time and place
    are joined from the examples table when dedupe and pairing need them (few rows, same snapshot).
    questions=False reads NULL for the question (only DPO's vote pairs need it). With kto_min_votes (a KTO
    build) every approved or voted-down answer is read, and the last column is its label: 1 desirable, 0 not."""
    where, params = _filter_sql(since, channel)
    question = "question" if questions else "NULL"
    if kto_min_votes is not None:
        question = f"CASE WHEN {_kto_undesirable(kto_min_votes)} THEN 0 ELSE 1 END"
    sql = (
        f"SELECT id, conversation, answer, corrected, {question} FROM examples"
        f" WHERE {_selected(kto_min_votes)} AND id > ?{where} ORDER BY id LIMIT ?"
    )
    yield from _keyset(conn, sql, params, size)


def kto_label_counts(conn: BuildConn, min_votes: int) -> tuple[int, int]:
    """(desirable, undesirable) among the training split's survivors of a KTO build."""
    undesirable = _kto_undesirable(min_votes)
    row = conn.execute(
        f"SELECT count(*) FILTER (WHERE NOT {undesirable}), count(*) FILTER (WHERE {undesirable})"
        " FROM temp.ds_candidates c JOIN main.examples e ON e.id = c.id"
        " WHERE c.reason IS NULL AND c.split = 'train'"
    ).fetchone()
    return int(row[0]), int(row[1])


def negative_batches(conn: BuildConn, *, channel: str | None, size: int) -> Iterator[list[NegativeRow]]:
    """(id, channel, thread_ts, question, down, created_at) of thread answers with more 👎 than 👍."""
    where, params = _filter_sql(None, channel)
    sql = (
        "SELECT id, channel, thread_ts, question, down_votes, created_at FROM examples"
        f" WHERE down_votes > up_votes AND thread_ts IS NOT NULL AND id > ?{where} ORDER BY id LIMIT ?"
    )
    yield from _keyset(conn, sql, params, size)


def spilled_drops(conn: BuildConn) -> Iterator[SpilledDrop]:
    """(split, tokens, line_offset, line_length) of the candidates dropped after their SFT line was spilled
    (by dedupe), in spill order. One pass over the work table, however many splits."""
    dropped: Iterator[SpilledDrop] = conn.execute(
        "SELECT split, tokens, line_offset, line_length FROM temp.ds_candidates"
        " WHERE reason IS NOT NULL AND line_offset IS NOT NULL ORDER BY id"
    )
    return dropped


def survivor_ids(conn: BuildConn, split: str, *, size: int) -> Iterator[list[SurvivorTokens]]:
    """(id, tokens) of surviving candidates in one split, by id."""
    sql = "SELECT id, tokens FROM temp.ds_candidates WHERE reason IS NULL AND id > ? AND split = ? ORDER BY id LIMIT ?"
    yield from _keyset(conn, sql, [split], size)


def survivor_batches(conn: BuildConn, *, size: int) -> Iterator[list[SurvivorRow]]:
    """(id, split, rejected_id, conversation, answer, corrected, rejected conversation, rejected answer)."""
    sql = (
        "SELECT c.id, c.split, c.rejected_id, e.conversation, e.answer, e.corrected, r.conversation, r.answer"
        " FROM temp.ds_candidates c JOIN main.examples e ON e.id = c.id"
        " LEFT JOIN main.examples r ON r.id = c.rejected_id"
        " WHERE c.reason IS NULL AND c.id > ? ORDER BY c.id LIMIT ?"
    )
    yield from _keyset(conn, sql, [], size)


def _keyset(conn: BuildConn, sql: str, params: list[Any], size: int) -> Iterator[list[Any]]:
    # Keyset pages instead of one long cursor: no statement stays open while the caller writes.
    last = 0
    while True:
        rows = conn.execute(sql, [last, *params, size]).fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def add_candidates(conn: BuildConn, rows: Iterable[Sequence[Any]], line_starts: Mapping[str, int]) -> None:
    """(id, reason, tokens, split, exact, near, question, corrected, line offset, line length), the offset
    within the batch's block of its split's lines; line_starts says where each block begins in its spill."""
    train, validation = int(line_starts.get("train", 0)), int(line_starts.get("validation", 0))
    pg = _pg(conn)
    if pg:
        starts = {"train": train, "validation": validation}
        with _batch(conn):
            pg.copy_rows(
                "pg_temp.ds_candidates",
                _CANDIDATE_COLUMNS,
                ((*row[:8], row[8] + starts[row[3]] if row[8] is not None else None, row[9]) for row in rows),
            )
        return
    with _batch(conn):
        conn.executemany(
            "INSERT INTO temp.ds_candidates (id, reason, tokens, split, exact, near, question, corrected, line_offset,"
            f" line_length) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
            f" ?9 + CASE ?4 WHEN 'train' THEN {train} ELSE {validation} END, ?10)",
            rows,
        )


def add_negatives(conn: BuildConn, rows: Iterable[Sequence[Any]]) -> None:
    """(id, channel, thread_ts, question, down, created_at)."""
    pg = _pg(conn)
    if pg:
        with _batch(conn):
            pg.copy_rows("pg_temp.ds_negatives", ("id", "channel", "thread_ts", "question", "down", "created_at"), rows)
        return
    with _batch(conn):
        conn.executemany("INSERT INTO temp.ds_negatives VALUES (?, ?, ?, ?, ?, ?)", rows)


def drop_candidates(conn: BuildConn, drops: Iterable[tuple[str, int]]) -> None:
    """(reason, id): a survivor that failed a later step."""
    with _batch(conn):
        conn.executemany("UPDATE temp.ds_candidates SET reason = ? WHERE id = ?", drops)


def set_tokens(conn: BuildConn, counts: Iterable[tuple[int, int]]) -> None:
    """(tokens, id): a DPO line is counted again once its pair is known."""
    with _batch(conn):
        conn.executemany("UPDATE temp.ds_candidates SET tokens = ? WHERE id = ?", counts)


def move_to_validation(conn: BuildConn, example_id: int) -> int:
    """The at-least-one-validation rule; returns the example's line number in train before the move."""
    line: int = conn.execute(
        "SELECT count(*) FROM temp.ds_candidates WHERE reason IS NULL AND split = 'train' AND id <= ?", (example_id,)
    ).fetchone()[0]
    with _batch(conn):
        conn.execute("UPDATE temp.ds_candidates SET split = 'validation' WHERE id = ?", (example_id,))
    return line


# Best-supported first: a correction, then more 👍, then newer (and the higher id on a tie).
_BEST_FIRST = "c.corrected DESC, e.up_votes DESC, e.created_at DESC, c.id DESC"


def drop_all_but_best(conn: BuildConn, key: str, reason: str) -> None:
    """Among surviving candidates sharing `key` (exact or near), keep the best supported one.

    The keys that repeat are found first (a narrow GROUP BY), so only their rows are ranked: a few
    percent of the table instead of all of it."""
    assert key in ("exact", "near")
    with _batch(conn):
        conn.execute("DROP TABLE IF EXISTS temp.ds_repeated")
        conn.execute(
            f"CREATE TEMP TABLE ds_repeated AS SELECT {key} AS key FROM temp.ds_candidates"
            f" WHERE reason IS NULL GROUP BY {key} HAVING count(*) > 1"
        )
        conn.execute(
            f"UPDATE temp.ds_candidates SET reason = ? WHERE id IN (SELECT id FROM ("
            f" SELECT c.id, row_number() OVER (PARTITION BY c.{key} ORDER BY {_BEST_FIRST}) AS rank"
            f" FROM temp.ds_candidates c JOIN main.examples e ON e.id = c.id"
            f" WHERE c.reason IS NULL AND c.{key} IN (SELECT key FROM temp.ds_repeated)) AS ranked"
            f" WHERE rank > 1)",
            (reason,),
        )


def pair_with_negatives(conn: BuildConn, no_pair_reason: str) -> None:
    """DPO: a 👍 answer that is not a correction takes the most 👎 answer to the same question in its thread."""
    with _batch(conn):
        conn.execute(
            "UPDATE temp.ds_candidates SET rejected_id = ("
            " SELECT n.id FROM main.examples e JOIN temp.ds_negatives n ON n.channel = e.channel"
            " AND n.thread_ts = e.thread_ts AND n.question = ds_candidates.question AND n.id != e.id"
            " WHERE e.id = ds_candidates.id AND e.up_votes > e.down_votes"
            " ORDER BY n.down DESC, n.created_at DESC, n.id DESC LIMIT 1)"
            " WHERE reason IS NULL AND corrected = 0"
        )
        conn.execute(
            "UPDATE temp.ds_candidates SET reason = ? WHERE reason IS NULL AND corrected = 0 AND rejected_id IS NULL",
            (no_pair_reason,),
        )


def dropped_counts(conn: BuildConn) -> dict[str, int]:
    rows = conn.execute(
        "SELECT reason, count(*) FROM temp.ds_candidates WHERE reason IS NOT NULL GROUP BY reason ORDER BY reason"
    )
    return dict(rows.fetchall())


def next_version(conn: BuildConn, name: str) -> int:
    """Call inside write_transaction, so two builds of one name cannot take the same number."""
    version: int = conn.execute(
        "SELECT coalesce(max(version), 0) + 1 FROM dataset_versions WHERE name = ?", (name,)
    ).fetchone()[0]
    return version


_FACT_COLUMNS = (*(field.name for field in fields(VersionFacts)), "version", "train_path", "validation_path")


def insert_version(conn: BuildConn, facts: VersionFacts, *, version: int, train_path: str, validation_path: str) -> int:
    """Insert the version row and its members from the work table; returns the version's id."""
    (dataset_id,) = conn.execute(
        f"INSERT INTO dataset_versions ({', '.join(_FACT_COLUMNS)}) VALUES ({', '.join('?' * len(_FACT_COLUMNS))})"
        " RETURNING id",
        (*astuple(facts), version, train_path, validation_path),
    ).fetchone()
    # Members in id order: appended to the primary key, one statement for both splits (a line's number is
    # its rank by id in its split, see member_ids).
    conn.execute(
        "INSERT INTO dataset_members (dataset_id, example_id, split, rejected_id, tokens)"
        " SELECT ?, id, split, rejected_id, tokens FROM temp.ds_candidates WHERE reason IS NULL",
        (dataset_id,),
    )
    return int(dataset_id)


def read_version(conn: BuildConn, dataset_id: int) -> VersionRow:
    pg = _pg(conn)
    if pg:
        return VersionRow(**pg.fetch_dicts(f"{_SELECT_VERSION} WHERE id = ?", (dataset_id,))[0])
    assert isinstance(conn, sqlite3.Connection)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute(f"{_SELECT_VERSION} WHERE id = ?", (dataset_id,)).fetchone()
    finally:
        conn.row_factory = None
    return VersionRow(**dict(row))


@contextmanager
def _batch(conn: BuildConn) -> Iterator[None]:
    """Group a batch of work-table writes; inside the build's snapshot this is a savepoint."""
    conn.execute("SAVEPOINT ds_batch")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK TO ds_batch")
        conn.execute("RELEASE ds_batch")
        raise
    conn.execute("RELEASE ds_batch")
