"""PostgreSQL behind the same `Database` API, through psycopg 3 (its async pool here; its sync connection for
the dataset build's worker thread).

Statements arrive in SQLite's SQL and are translated once (storage/dialect.py), then sent with psycopg's raw
cursors: `$n` placeholders go to the server as they are, with no client-side rewriting of `%`.

Write transactions are serialised, as SQLite's `BEGIN IMMEDIATE` serialises them: in this process by the same
`WriteLock`, across processes by a transaction-scoped advisory lock. Every read-modify-write the storage
modules do inside a transaction (a version number, a state transition, a vote recount) therefore keeps the
meaning it has on SQLite, on any number of replicas. Single statements are not serialised (each is atomic on
its own, and the inbox's group commit must not wait behind a transaction). Work that must scale across
replicas (claiming inbox rows) uses single statements with row locks (storage/claims.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
import psycopg.rows
from psycopg import AsyncRawCursor
from psycopg.adapt import Loader
from psycopg.rows import RowMaker
from psycopg_pool import AsyncConnectionPool

from storage.db import Database, DatabaseUnavailable, Params, Row, Transaction, WriteLock
from storage.dialect import Dialect, to_postgresql

# pg_advisory_xact_lock's key for "a write transaction is open": any constant no other lock uses.
TRANSACTION_LOCK = 0x7475_6E65  # "tune"
POOL_SIZE = 10


class PgRow:
    """A row read by position or by column name, like sqlite3.Row."""

    __slots__ = ("_values", "_index")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: int | str) -> Any:
        return self._values[self._index[key] if isinstance(key, str) else key]

    def __iter__(self) -> Any:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._index)

    def __repr__(self) -> str:
        return f"PgRow({dict(zip(self._index, self._values, strict=True))})"


def pg_row(cursor: Any) -> RowMaker[PgRow]:
    index = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: PgRow(values, index)


class NumberLoader(Loader):
    """numeric → int when whole, else float: what SQLite gives for sum() and arithmetic on integers, so rows
    keep their Python types on both databases (sum(bigint) is numeric in PostgreSQL)."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        try:
            return int(text)
        except ValueError:
            return float(text)


def configure_types(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> None:
    conn.adapters.register_loader("numeric", NumberLoader)


def pg_params(params: Params) -> Sequence[Any]:
    """SQLite's parameters for a `$n` statement: a bool is stored as 0/1 (our columns are integers)."""
    assert not isinstance(params, dict), "named parameters are not translated; use ? placeholders"
    return [int(value) if isinstance(value, bool) else value for value in params]


def pg_insert(sql: str) -> str:
    """An INSERT that reports its new id: RETURNING id, unless the statement already returns something."""
    return sql if "RETURNING" in sql.upper() else f"{sql} RETURNING id"


class PgTransaction(Transaction):
    dialect: Dialect = "postgresql"

    def __init__(self, conn: psycopg.AsyncConnection[PgRow]) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        cursor = await self._conn.execute(to_postgresql(sql), pg_params(params))
        return cursor.rowcount

    async def insert(self, sql: str, params: Params = ()) -> int | None:
        cursor = await self._conn.execute(to_postgresql(pg_insert(sql)), pg_params(params))
        row = await cursor.fetchone()
        return None if row is None else row[0]

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self._conn.cursor() as cursor:
            await cursor.executemany(to_postgresql(sql), [pg_params(row) for row in rows])

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        cursor = await self._conn.execute(to_postgresql(sql), pg_params(params))
        return list(await cursor.fetchall()) if cursor.description else []


class PostgresDatabase(Database):
    dialect: Dialect = "postgresql"

    def __init__(self, pool: AsyncConnectionPool[Any], url: str, home: Path | None) -> None:
        self._pool = pool
        self._lock = WriteLock()
        self.target = url
        self.home = home

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._lock.held(), self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", (TRANSACTION_LOCK,))
            yield PgTransaction(conn)

    async def insert(self, sql: str, params: Params = ()) -> int:
        rows = await self.write_returning(pg_insert(sql), params)
        return int(rows[0][0])

    async def write_returning(self, sql: str, params: Params = (), *, urgent: bool = False) -> list[Row]:
        return await self.fetchall(sql, params)  # autocommit: one statement, one transaction

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(to_postgresql(sql), pg_params(params))
            return list(await cursor.fetchall()) if cursor.description else []

    async def check_writable(self) -> None:
        try:
            async with self.transaction() as tx:
                await tx.execute("CREATE TEMP TABLE _write_check (x INTEGER) ON COMMIT DROP")
        except psycopg.Error as error:
            raise DatabaseUnavailable(redacted(self.target), str(error)) from None

    async def close(self) -> None:
        await self._pool.close()


class BuildConnection:
    """The dataset build's connection on PostgreSQL (a worker thread, psycopg's sync API): the few
    sqlite3.Connection calls the build makes, with the statements translated, plus COPY for its bulk writes."""

    dialect: Dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self._conn = psycopg.connect(url, autocommit=True, cursor_factory=psycopg.RawCursor)
        configure_types(self._conn)

    def execute(self, sql: str, params: Params = ()) -> psycopg.Cursor[Any]:
        return self._conn.execute(to_postgresql(sql), pg_params(params))

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(to_postgresql(sql), [pg_params(row) for row in rows])

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Bulk insert through COPY: one round trip for a whole batch."""
        with self._conn.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def fetch_dicts(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        with self._conn.cursor(row_factory=psycopg.rows.dict_row) as cursor:
            return cursor.execute(to_postgresql(sql), pg_params(params)).fetchall()

    def close(self) -> None:
        self._conn.close()


async def open_postgresql(url: str, *, home: Path | None) -> PostgresDatabase:
    try:  # one direct connection first: a wrong host, password or database fails at once, and says why
        conn = await psycopg.AsyncConnection.connect(url, connect_timeout=10)
    except psycopg.Error as error:
        raise DatabaseUnavailable(redacted(url), str(error).strip()) from None
    await conn.close()
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=POOL_SIZE,
        open=False,
        configure=_configure,
        kwargs={"autocommit": True, "cursor_factory": AsyncRawCursor, "row_factory": pg_row},
    )
    try:
        await pool.open(wait=True, timeout=10)
    except Exception as error:  # the server went away between the two
        await pool.close()
        raise DatabaseUnavailable(redacted(url), str(error)) from None
    return PostgresDatabase(pool, url, home)


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    configure_types(conn)


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    info.pop("password", None)
    host, port, name = info.get("host", ""), info.get("port", ""), info.get("dbname", "")
    return f"postgresql://{info.get('user', '')}@{host}{':' + str(port) if port else ''}/{name}"
