"""The cached list of workspace members (names to scrub)."""

from __future__ import annotations

from collections.abc import Iterable

from storage.db import Database


async def replace_all(db: Database, members: Iterable[tuple[str, str, str, str]]) -> None:
    """(user_id, name, real_name, display_name) rows replace the cache in one transaction."""
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM members")
        await tx.executemany(
            "INSERT INTO members (user_id, name, real_name, display_name) VALUES (?, ?, ?, ?)", list(members)
        )


async def names(db: Database) -> list[str]:
    rows = await db.fetchall("SELECT name, real_name, display_name FROM members")
    return [value for row in rows for value in (row["name"], row["real_name"], row["display_name"]) if value]


async def refreshed_at(db: Database) -> str | None:
    moment: str | None = await db.fetchval("SELECT max(refreshed_at) FROM members")
    return moment
