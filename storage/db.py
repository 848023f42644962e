"""The database, spoken one way: `Database` for single statements and reads, `Transaction` inside
`async with db.transaction() as tx`; both offer fetchone / fetchall / fetchval / execute / executemany / insert.

Two implementations: SQLite here (the embedded default) and PostgreSQL (storage/postgres.py, chosen by a
`postgresql://` target). Both take SQLite's SQL; `storage/dialect.py` translates it for PostgreSQL.

SQLite: writes go through one aiosqlite connection, serialised (a transaction's statements stay together). Reads go
through a second connection, so they see only what is committed, never another task's open transaction
(WAL lets them run while a write is in progress). An in-memory database has no second connection: its
reads wait for the write lock instead."""

from __future__ import annotations

import asyncio
import sqlite3
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from storage.dialect import Dialect

PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA foreign_keys = ON",
    # NORMAL in WAL mode survives a process crash (SIGKILL); only power loss may drop the newest commits.
    "PRAGMA synchronous = NORMAL",
    "PRAGMA busy_timeout = 10000",
    # What is erased is overwritten with zeros, not left in free space (README, "Privacy").
    "PRAGMA secure_delete = ON",
)
# Erasure (README, "Privacy"): deleted content is overwritten with zeros, not left in free space.
WRITER_PRAGMAS = (*PRAGMAS, "PRAGMA secure_delete = ON")
READER_PRAGMAS = (*PRAGMAS, "PRAGMA query_only = ON")

Params = Sequence[Any] | dict[str, Any]


class DatabaseUnavailable(Exception):
    """The database cannot be opened, read or written; the message says which (file or server) and why."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"cannot use the database {path}: {reason}")
        self.path = path
        self.reason = reason


class Row(Protocol):
    """A result row: by position (`row[0]`, unpacking) or by column name (`row["id"]`, `dict(row)`)."""

    def __getitem__(self, key: int | str, /) -> Any: ...
    def __iter__(self) -> Any: ...
    def __len__(self) -> int: ...
    def keys(self) -> list[str]: ...


class WriteLock:
    """First come, first served, except that an urgent holder goes before every ordinary one still waiting.

    The inbox's group commit is urgent: Slack is waiting for those events' 200s, while the transactions of
    the events being processed are not, and each of those spans several round trips to the database thread.
    It never interrupts a transaction; ordinary holders still get it between two urgent ones.
    """

    def __init__(self) -> None:
        self._held = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._ordinary: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def held(self, *, urgent: bool = False) -> AsyncIterator[None]:
        await self._acquire(self._urgent if urgent else self._ordinary)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, queue: deque[asyncio.Future[None]]) -> None:
        if not self._held and not self._urgent and not self._ordinary:
            self._held = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # it was handed over just as this waiter was cancelled: pass it on
            else:
                with suppress(ValueError):  # already skipped by a release
                    queue.remove(turn)
            raise

    def _release(self) -> None:
        for queue in (self._urgent, self._ordinary):
            while queue:
                turn = queue.popleft()
                if not turn.done():
                    turn.set_result(None)  # handed over: it stays held
                    return
        self._held = False


class Transaction(ABC):
    """The statements of one open write transaction. Its reads see its own writes."""

    dialect: Dialect  # as its Database's

    @abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """One statement; returns how many rows it changed."""

    @abstractmethod
    async def insert(self, sql: str, params: Params = ()) -> int | None:
        """One INSERT into a table with an `id` key; the new row's id, or None when it inserted nothing."""

    @abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...

    @abstractmethod
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return next(iter(await self.fetchall(sql, params)), None)

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]


class Database(ABC):
    """Every write is its own transaction unless grouped in `transaction()`; reads see only committed data.

    `dialect` says which SQL a statement that cannot be written portably needs; `home` is the folder for the
    files kept beside the database (datasets, the operator's models.toml), None for an in-memory database."""

    dialect: Dialect
    target: str  # what open_database was given: a file path or a postgresql:// URL
    home: Path | None

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    async def execute(self, sql: str, params: Params = ()) -> None:
        """Run one write statement as its own transaction."""
        await self.write_returning(sql, params)

    @abstractmethod
    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run one INSERT as its own transaction; returns the new row's id."""

    @abstractmethod
    async def write_returning(self, sql: str, params: Params = (), *, urgent: bool = False) -> list[Row]:
        """One write statement as its own transaction, committed (or rolled back whole) when this returns;
        its rows (RETURNING). `urgent` goes before other waiting writers where writes queue in-process."""

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of a query that returns few (by key, or with LIMIT)."""
        return next(iter(await self.fetchall(sql, params)), None)

    @abstractmethod
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def checkpoint(self) -> bool:
        """Empty the write-ahead log into the database, so erased text leaves the log's bytes too. A server
        database manages its own log: nothing to do there."""
        return True

    @abstractmethod
    async def check_writable(self) -> None:
        """Raise DatabaseUnavailable unless a write transaction can be started."""

    @abstractmethod
    async def close(self) -> None: ...


class SqliteTransaction(Transaction):
    dialect: Dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """One statement; returns how many rows it changed."""
        async with self._conn.execute(sql, params) as cursor:
            return cursor.rowcount

    async def insert(self, sql: str, params: Params = ()) -> int | None:
        """One INSERT; the new row's id, or None when it inserted nothing (ON CONFLICT DO NOTHING)."""
        async with self._conn.execute(sql, params) as cursor:
            return cursor.lastrowid if cursor.rowcount else None

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._conn.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self._conn.execute_fetchall(sql, params))


class SqliteDatabase(Database):
    """aiosqlite runs one connection on one thread, so statements from concurrent coroutines
    interleave; the lock keeps each transaction's statements together (and lets urgent writes go first).
    """

    dialect: Dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, path: Path, reader: aiosqlite.Connection | None = None) -> None:
        self._conn = conn
        self._reader = reader
        self._lock = WriteLock()
        self.path = path
        self.target = str(path)
        self.home = None if str(path) == ":memory:" else path.resolve().parent

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._lock.held():
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteTransaction(self._conn)
            except BaseException:
                await self._conn.rollback()
                raise
            await self._conn.commit()

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run one INSERT as its own transaction, in one round trip; returns the new row's id."""
        async with self._lock.held():
            row = await self._conn.execute_insert(sql, params)
        assert row is not None
        row_id: int = row[0]
        return row_id

    async def write_returning(self, sql: str, params: Params = (), *, urgent: bool = False) -> list[Row]:
        """One write statement as its own transaction (the connection is in autocommit mode), in a single round
        trip to the database thread; committed, or rolled back whole, when this returns. Returns its rows
        (RETURNING). The lock keeps it out of another coroutine's open transaction; `urgent` goes first."""
        async with self._lock.held(urgent=urgent):
            return list(await self._conn.execute_fetchall(sql, params))

    # Reads take one round trip to the database thread (a cursor would take three: execute, fetch, close).
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        if self._reader is not None:
            return list(await self._reader.execute_fetchall(sql, params))
        async with self._lock.held():  # in memory: one connection, so wait until no transaction is open
            return list(await self._conn.execute_fetchall(sql, params))

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def checkpoint(self) -> bool:
        """Copy the write-ahead log into the file and empty it, so what was erased leaves the log's bytes too.
        False when a reader kept it from finishing (the next one will). SQLite only: a no-op elsewhere."""
        async with self._lock.held():
            row = next(iter(await self._conn.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")), None)
        return row is None or row[0] == 0

    async def check_writable(self) -> None:
        """Raise DatabaseUnavailable unless a write transaction can be started (a read-only file, a full disk)."""
        try:
            async with self.transaction() as conn:
                await conn.execute("CREATE TABLE IF NOT EXISTS _write_check (x INTEGER)")
                await conn.execute("DROP TABLE _write_check")
        except sqlite3.Error as error:
            raise DatabaseUnavailable(self.path, str(error)) from None

    async def close(self) -> None:
        async with self._lock.held():
            if self._reader is not None:
                await self._reader.close()
            await self._conn.close()


def is_postgresql(target: str | Path) -> bool:
    return str(target).startswith(("postgresql://", "postgres://"))


async def open_database(target: str | Path, *, must_exist: bool = False, home: Path | None = None) -> Database:
    """Open the database at `target`: a postgresql:// URL (its files kept in `home`), or an SQLite file (created
    unless `must_exist`; its files beside it). DatabaseUnavailable, with no thread or connection left behind, if not."""
    if is_postgresql(target):
        from storage.postgres import open_postgresql  # psycopg is imported only by those who use it

        return await open_postgresql(str(target), home=home)
    return await open_sqlite(Path(target), must_exist=must_exist)


async def open_sqlite(path: Path, *, must_exist: bool = False) -> SqliteDatabase:
    in_memory = str(path) == ":memory:"
    if must_exist and not in_memory and not path.is_file():  # noqa: ASYNC240 - one stat, before any thread
        raise DatabaseUnavailable(path, "there is no database file there (check TUNELOOP_DB)")
    try:
        if not in_memory:
            path.parent.mkdir(parents=True, exist_ok=True)
            # aiosqlite, failing to open, stops its thread without waiting: the thread then reports to a loop
            # that may be closed by then. Opening once here first keeps that failure out of its thread.
            await asyncio.to_thread(lambda: sqlite3.connect(path).close())
    except (OSError, sqlite3.Error) as error:
        raise DatabaseUnavailable(path, str(error)) from None
    conn = await _connect(path, WRITER_PRAGMAS)
    try:
        reader = None if in_memory else await _connect(path, READER_PRAGMAS)
    except BaseException:
        await conn.close()
        raise
    return SqliteDatabase(conn, path, reader)


async def _connect(path: Path, pragmas: Sequence[str]) -> aiosqlite.Connection:
    try:
        conn = await aiosqlite.connect(path, isolation_level=None)
    except sqlite3.Error as error:
        raise DatabaseUnavailable(path, str(error)) from None
    try:
        conn.row_factory = aiosqlite.Row
        for pragma in pragmas:
            await conn.execute(pragma)
    except BaseException as error:
        await conn.close()  # else aiosqlite's (non-daemon) thread keeps the process alive
        if isinstance(error, sqlite3.Error):
            raise DatabaseUnavailable(path, str(error)) from None
        raise
    return conn
