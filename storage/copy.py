"""`tuneloop db copy --to postgresql://…`: every row of an SQLite database into a new PostgreSQL one.

The target is migrated first (the same list), then each table is copied in foreign-key order in one
transaction, keeping ids; identity counters are moved past the copied ids. A target that already holds
data is refused: copying merges nothing. The leases are not copied (they name the processes of the source).
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.db import Database
from storage.migrations import migrate

SKIPPED = frozenset({"_migrations", "writer_lease", "leader_lease"})
# Tables a migration fills with defaults (one settings row): the source's rows replace them.
SEEDED = frozenset({"memory_config"})
BATCH = 1_000


class CopyRefused(Exception):
    """The copy cannot be made; the message says why. Nothing was written."""


@dataclass(frozen=True)
class Copied:
    table: str
    rows: int


async def copy_database(source: Database, target: Database) -> list[Copied]:
    if source.dialect != "sqlite" or target.dialect != "postgresql":
        raise CopyRefused("copy goes from an SQLite file (TUNELOOP_DB) to a postgresql:// database")
    await migrate(source)  # both at the same schema
    await migrate(target)
    tables = await _tables_in_dependency_order(source)
    async with target.transaction() as tx:
        for table in tables:
            if table not in SEEDED and await tx.fetchval(f"SELECT count(*) FROM {table}"):
                raise CopyRefused(f"the target database already has rows in {table}: copy into an empty database")
        for table in SEEDED & set(tables):
            await tx.execute(f"DELETE FROM {table}")
        copied = []
        for table in tables:
            columns = [row["name"] for row in await source.fetchall(f"PRAGMA table_info({table})")]
            rows = await source.fetchall(f"SELECT {', '.join(columns)} FROM {table}")
            insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            for start in range(0, len(rows), BATCH):
                await tx.executemany(insert, [tuple(row) for row in rows[start : start + BATCH]])
            if "id" in columns and await tx.fetchval("SELECT pg_get_serial_sequence(?, 'id')", (table,)) is not None:
                await tx.execute(
                    f"SELECT setval(pg_get_serial_sequence(?, 'id'), coalesce(max(id), 0) + 1, false) FROM {table}",
                    (table,),
                )
            copied.append(Copied(table, len(rows)))
    return copied


async def _tables_in_dependency_order(db: Database) -> list[str]:
    names = [
        row[0]
        for row in await db.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    # FTS5's own tables (memory_fts and its shadows) are SQLite's index, not data: PostgreSQL indexes the rows.
    tables = [name for name in names if name not in SKIPPED and not name.startswith("memory_fts")]
    needs = {
        table: {row["table"] for row in await db.fetchall(f"PRAGMA foreign_key_list({table})")} - {table}
        for table in tables
    }
    ordered: list[str] = []
    while len(ordered) < len(tables):
        ready = [table for table in tables if table not in ordered and needs[table] <= set(ordered)]
        if not ready:
            raise CopyRefused(f"foreign keys form a cycle among {sorted(set(tables) - set(ordered))}")
        ordered += ready
    return ordered
