"""Persistence (SQLite, or PostgreSQL behind the same API): connections, migrations and query functions.
A leaf: imports nothing of ours."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from storage.db import Database, DatabaseUnavailable, Transaction, open_database
from storage.migrations import MIGRATIONS, migrate


@asynccontextmanager
async def opened(target: str | Path, home: Path | None = None) -> AsyncIterator[Database]:
    """The database for one operator command: migrated (as `serve` does), closed afterwards. A file that does
    not exist is refused (a mistyped TUNELOOP_DB), not answered from a new empty database."""
    db = await open_database(target, must_exist=True, home=home)
    try:
        await migrate(db)
        yield db
    finally:
        await db.close()


__all__ = ["DatabaseUnavailable", "MIGRATIONS", "Database", "Transaction", "migrate", "open_database", "opened"]
