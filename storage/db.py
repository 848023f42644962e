"""The database, spoken one way: `Database` for single statements and reads, `Transaction` inside
`async with db.transaction() as tx`; both offer fetchone / fetchall / fetchval / execute / executemany / insert.

Writes go through one aiosqlite connection, serialised (a transaction's statements stay together). Reads go
through a second connection, so they see only what is committed, never another task's open transaction
(WAL lets them run while a write is in progress). An in-memory database has no second connection: its
reads wait for the write lock instead."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiosqlite

PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA foreign_keys = ON",
    # NORMAL in WAL mode survives a process crash (SIGKILL); only power loss may drop the newest commits.
    "PRAGMA synchronous = NORMAL",
    "PRAGMA busy_timeout = 10000",
)
READER_PRAGMAS = (*PRAGMAS, "PRAGMA query_only = ON")

Params = Sequence[Any] | dict[str, Any]


class DatabaseUnavailable(Exception):
    """The database file cannot be opened, read or written; the message says which file and why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot use the database {path}: {reason}")
        self.path = path
        self.reason = reason


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


Row = aiosqlite.Row


class Transaction:
    """The statements of one open write transaction. Its reads see its own writes."""

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

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return next(iter(await self._conn.execute_fetchall(sql, params)), None)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]


class Database:
    """Every write is its own transaction unless grouped in `transaction()`; reads see only committed data.

    aiosqlite runs one connection on one thread, so statements from concurrent coroutines
    interleave; the lock keeps each transaction's statements together (and lets urgent writes go first).
    """

    def __init__(self, conn: aiosqlite.Connection, path: Path, reader: aiosqlite.Connection | None = None) -> None:
        self._conn = conn
        self._reader = reader
        self._lock = WriteLock()
        self.path = path

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._lock.held():
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(self._conn)
            except BaseException:
                await self._conn.rollback()
                raise
            await self._conn.commit()

    async def execute(self, sql: str, params: Params = ()) -> None:
        """Run one write statement as its own transaction (autocommit), in one round trip to the database thread."""
        await self.write_returning(sql, params)

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

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

    # Reads take one round trip to the database thread (a cursor would take three: execute, fetch, close).
    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of a query that returns few (by key, or with LIMIT)."""
        return next(iter(await self.fetchall(sql, params)), None)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        if self._reader is not None:
            return list(await self._reader.execute_fetchall(sql, params))
        async with self._lock.held():  # in memory: one connection, so wait until no transaction is open
            return list(await self._conn.execute_fetchall(sql, params))

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

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


async def open_database(path: str | Path, *, must_exist: bool = False) -> Database:
    """Open (creating unless `must_exist`) the database; DatabaseUnavailable, with no thread left behind, if not."""
    path = Path(path)
    in_memory = str(path) == ":memory:"
    if must_exist and not in_memory and not path.is_file():
        raise DatabaseUnavailable(path, "there is no database file there (check TUNELOOP_DB)")
    try:
        if not in_memory:
            path.parent.mkdir(parents=True, exist_ok=True)
            # aiosqlite, failing to open, stops its thread without waiting: the thread then reports to a loop
            # that may be closed by then. Opening once here first keeps that failure out of its thread.
            await asyncio.to_thread(lambda: sqlite3.connect(path).close())
    except (OSError, sqlite3.Error) as error:
        raise DatabaseUnavailable(path, str(error)) from None
    conn = await _connect(path, PRAGMAS)
    try:
        reader = None if in_memory else await _connect(path, READER_PRAGMAS)
    except BaseException:
        await conn.close()
        raise
    return Database(conn, path, reader)


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
