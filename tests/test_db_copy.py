"""`tuneloop db copy --to postgresql://…` on a database built end to end: questions answered, votes, a
correction's example, a dataset built; every table's rows arrive unchanged, and the copy keeps working."""

from __future__ import annotations

from pathlib import Path

from bot.fakes import FakeSlack
from storage import Database, open_database
from storage.copy import SKIPPED
from tests.capture_helpers import answered_question, vote
from tests.conftest import BOB, Harness
from tests.pg_server import PostgresServer
from tests.test_cli import tuneloop
from tuning.training.datasets.specs import BuildRequest


async def table_rows(db: Database, table: str, columns: list[str]) -> list[tuple]:
    """The rows of SQLite's columns (PostgreSQL may add its own, such as memory's generated tsvector)."""
    return sorted((tuple(row) for row in await db.fetchall(f"SELECT {', '.join(columns)} FROM {table}")), key=repr)


async def test_an_end_to_end_database_is_copied_to_postgresql_row_for_row(
    app: Harness, slack: FakeSlack, tmp_path: Path, postgres: PostgresServer
) -> None:
    for n in range(3):
        ts = await answered_question(app, slack, f"how do I reset thing {n}?")
        await vote(app, user=BOB, ts=ts)
    summary = await app.runtime.services.datasets.build(BuildRequest(name="support", val=0.0))
    assert summary.train == 3
    url = postgres.create_database()

    result = tuneloop(tmp_path, "db", "copy", "--to", url)
    assert result.returncode == 0, result.stderr
    assert "copied" in result.stdout and "tables" in result.stdout

    target = await open_database(url, home=tmp_path)
    try:
        tables = [
            row[0]
            for row in await app.db.fetchall(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        copied = [table for table in tables if table not in SKIPPED and not table.startswith("memory_fts")]
        assert {"inbox", "answers", "examples", "reaction_events", "dataset_versions", "dataset_members"} <= set(copied)
        for table in copied:
            columns = [row["name"] for row in await app.db.fetchall(f"PRAGMA table_info({table})")]
            assert await table_rows(target, table, columns) == await table_rows(app.db, table, columns), table
        assert await target.fetchval("SELECT count(*) FROM dataset_members") == 3
        # New rows continue after the copied ids.
        new_id = await target.insert(
            "INSERT INTO model_changes (action, model, changed_by) VALUES ('promote', 'm', 'U')"
        )
        assert new_id > (await app.db.fetchval("SELECT coalesce(max(id), 0) FROM model_changes"))
        examples_max = await target.fetchval("SELECT max(id) FROM examples")
        assert (
            await target.insert(
                "INSERT INTO examples (source, channel, message_ts, conversation, question, answer)"
                " VALUES ('bot_answer', 'C9', '9.9', '[]', 'q', 'a')"
            )
            == examples_max + 1
        )
    finally:
        await target.close()

    again = tuneloop(tmp_path, "db", "copy", "--to", url)  # into a database that has rows now
    assert again.returncode == 1 and "already has rows" in again.stderr
    postgres.drop_database(url)
