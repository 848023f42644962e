"""The schema exists only through migrations, and this test pins what they produce."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from storage import MIGRATIONS, migrate, migrations, open_database
from storage import datasets as dataset_rows
from storage import examples as example_rows
from storage import inbox as inbox_rows
from tests.dataset_helpers import add_example

_VERSION_REQUIRED = (
    "name",
    "version",
    "format",
    "filters",
    "val_fraction",
    "train_count",
    "validation_count",
    "dropped",
    "token_model",
    "encoding",
    "tokens_total",
    "tokens_train",
    "tokens_median",
    "tokens_p90",
    "tokens_max",
    "train_path",
    "train_sha256",
    "validation_path",
    "validation_sha256",
    "default_epochs",
    "billed_tokens",
    "cost_trainer",
    "cost_model",
)
# A version row's values for those columns, in order.
_VERSION_VALUES = ("faq", 1, "sft", "{}", 0.1, 2, 1, "{}", "gpt-4.1-mini", "o200k_base", 90, 60, 30, 30, 30,
                   "t", "a", "v", "b", 3, 180, "openai", "gpt-4.1-mini")  # fmt: skip
SCHEMA_SNAPSHOT = Path(__file__).parent / "data" / "schema.sql"


async def dump_schema(db) -> str:
    rows = await db.fetchall(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY type DESC, name"
    )
    return "\n".join(" ".join(row["sql"].split()) + ";" for row in rows) + "\n"


async def test_migrations_produce_the_pinned_schema(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "t.db")
    assert await migrate(db) == [name for name, _ in MIGRATIONS]
    assert await dump_schema(db) == SCHEMA_SNAPSHOT.read_text(), "schema changed: add a migration, update the snapshot"
    await db.close()


async def test_migrate_is_idempotent_and_recorded(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "t.db")
    await migrate(db)
    assert await migrate(db) == []
    names = [row["name"] for row in await db.fetchall("SELECT name FROM _migrations ORDER BY name")]
    assert names == sorted(name for name, _ in MIGRATIONS)
    await db.close()


class RolledBack(Exception):
    pass


@pytest.mark.parametrize("where", ["file", "memory"])
async def test_reads_never_see_another_tasks_open_transaction(tmp_path: Path, where: str) -> None:
    """A row written in a transaction that is then rolled back must never have been read by anyone else."""
    db = await open_database(tmp_path / "t.db" if where == "file" else ":memory:")
    await db.execute("CREATE TABLE t (x INTEGER)")
    inside, release = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        with pytest.raises(RolledBack):
            async with db.transaction() as tx:
                assert await tx.insert("INSERT INTO t (x) VALUES (1)") is not None
                assert await tx.fetchval("SELECT count(*) FROM t") == 1  # a transaction sees its own writes
                inside.set()
                await release.wait()
                raise RolledBack

    async def reader() -> int:
        await inside.wait()
        read = asyncio.ensure_future(db.fetchval("SELECT count(*) FROM t"))
        await asyncio.sleep(0)  # let the read reach the database (or the lock) before the writer goes on
        release.set()
        return await read

    _, seen = await asyncio.gather(writer(), reader())
    assert seen == 0
    await db.close()


async def test_connection_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "t.db")
    assert await db.fetchval("PRAGMA journal_mode") == "wal"
    assert await db.fetchval("PRAGMA foreign_keys") == 1
    await db.close()


async def test_migration_names_are_unique_and_ordered() -> None:
    names = [name for name, _ in MIGRATIONS]
    assert names == sorted(set(names))


async def test_inbox_stores_an_event_once(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "t.db")
    await migrate(db)
    first = await inbox_rows.add_many(
        db, [("Ev1", "message", "{}"), ("Ev2", "message", "{}"), ("Ev1", "message", "{}")]
    )
    again = await inbox_rows.add_many(db, [("Ev2", "message", "{}")])
    assert first[0] is not None and first[1] is not None and first[2] is None  # a repeat within the batch
    assert again == [None]  # and in a later one
    assert [row.event_id for row in await inbox_rows.pending(db)] == ["Ev1", "Ev2"]
    await db.close()


async def test_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "t.db")
    await migrate(db)
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO inbox (event_id, event_type, body) VALUES ('E', 'message', '{}')")
            raise RuntimeError("boom")
    assert await db.fetchval("SELECT count(*) FROM inbox") == 0
    await db.close()


async def test_model_history_survives_the_lifecycle_migration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """0008 rebuilds model_changes (a `fallback` action, forced, reason, channel) keeping every row."""
    db = await open_database(tmp_path / "t.db")
    monkeypatch.setattr(migrations, "MIGRATIONS", [(name, sql) for name, sql in MIGRATIONS if name < "0008"])
    await migrate(db)
    await db.execute("INSERT INTO model_changes (action, model, changed_by) VALUES ('promote', 'm1', 'U1')")
    monkeypatch.undo()
    assert (await migrate(db))[:1] == ["0008_model_lifecycle"]
    row = await db.fetchone("SELECT action, model, changed_by, forced, reason FROM model_changes")
    assert tuple(row) == ("promote", "m1", "U1", 0, None)
    await db.execute("INSERT INTO model_changes (action, model, changed_by) VALUES ('fallback', 'm0', 'tuneloop')")
    await db.close()


async def test_reactions_logged_before_feedback_buttons_stay_reactions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await open_database(tmp_path / "t.db")
    monkeypatch.setattr(migrations, "MIGRATIONS", [(n, sql) for n, sql in MIGRATIONS if n < "0009"])
    await migrate(db)
    await db.execute(
        "INSERT INTO reaction_events (channel, ts, voter, reaction, direction, added, event_ts)"
        " VALUES ('C1', '1.000100', 'U1', '+1', 1, 1, '2.0')"
    )
    monkeypatch.undo()
    assert (await migrate(db))[:1] == ["0009_feedback_buttons_and_streaming"]
    assert await db.fetchval("SELECT source FROM reaction_events") == "reaction"
    assert await db.fetchval("SELECT count(*) FROM streaming_refused") == 0
    await db.close()


async def test_members_keep_their_rows_when_the_line_column_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0007 rebuilds dataset_members without `line` (a line is its example's rank by id in its split)."""
    db = await open_database(tmp_path / "t.db")
    before = [(name, sql) for name, sql in MIGRATIONS if name < "0007"]
    monkeypatch.setattr(migrations, "MIGRATIONS", before)
    await migrate(db)
    ids = [await add_example(db, question=f"Q{i}?") for i in range(3)]
    columns, marks = ", ".join(_VERSION_REQUIRED), ", ".join("?" * len(_VERSION_REQUIRED))
    dataset_id = await db.insert(
        f"INSERT INTO dataset_versions ({columns}) VALUES ({marks})",
        list(_VERSION_VALUES),
    )
    for example_id, split, line in [(ids[2], "train", 2), (ids[0], "train", 1), (ids[1], "validation", 1)]:
        await db.execute(
            "INSERT INTO dataset_members (dataset_id, example_id, split, line, rejected_id, tokens)"
            " VALUES (?, ?, ?, ?, NULL, 30)",
            (dataset_id, example_id, split, line),
        )
    monkeypatch.undo()
    assert (await migrate(db))[:1] == ["0007_members_in_id_order"]
    assert await dataset_rows.member_ids(db, dataset_id, "train") == [(ids[0], None), (ids[2], None)]
    assert await dataset_rows.member_ids(db, dataset_id, "validation") == [(ids[1], None)]
    await db.close()


async def test_an_examples_corrections_and_history_read_back_as_rows(tmp_path: Path) -> None:
    """The same person's second correction replaces the first; each step is one event with the state after it."""
    db = await open_database(tmp_path / "t.db")
    await migrate(db)
    new = example_rows.NewExample(
        source="bot_answer",
        team_id="T1",
        channel="C1",
        thread_ts="1.0001",
        message_ts="2.0001",
        author="U0BOT",
        answer_id=None,
        model="m",
        conversation=[{"role": "user", "content": "Q?"}],
        question="Q?",
        answer="A.",
    )
    async with db.transaction() as tx:
        example_id = await example_rows.create(tx, new, actor="U1")
        await example_rows.add_correction(tx, example_id, "U2", "First fix.")
        await example_rows.add_correction(tx, example_id, "U2", "Second fix.")
        await example_rows.set_state(tx, example_id, "approved", action="approve", actor="U3", decided_by="U3")
    first, second = await example_rows.corrections(db, example_id)
    assert (first.text, first.replaced_at is not None) == ("First fix.", True)
    assert (second.corrector, second.text, second.replaced_at) == ("U2", "Second fix.", None)
    events = await example_rows.events(db, example_id)
    assert [(e.action, e.actor, e.state) for e in events] == [
        ("created", "U1", "candidate"),
        ("approve", "U3", "approved"),
    ]
    await db.close()


async def test_kto_widens_both_checks_and_keeps_every_row_and_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0017 rebuilds dataset_versions and jobs (foreign keys off while it does, checked before it commits)."""
    db = await open_database(tmp_path / "t.db")
    monkeypatch.setattr(migrations, "MIGRATIONS", [(name, sql) for name, sql in MIGRATIONS if name < "0017"])
    await migrate(db)
    example = await add_example(db, question="Q?")
    columns, marks = ", ".join(_VERSION_REQUIRED), ", ".join("?" * len(_VERSION_REQUIRED))
    values = list(_VERSION_VALUES)
    dataset_id = await db.insert(f"INSERT INTO dataset_versions ({columns}) VALUES ({marks})", values)
    await db.execute(
        "INSERT INTO dataset_members (dataset_id, example_id, split, rejected_id, tokens)"
        " VALUES (?, ?, 'train', NULL, 30)",
        (dataset_id, example),
    )
    job = ("j1", dataset_id, "faq@1", "local", "m", "sft", "{}", 2, 90, 1, "preflight", "C1", "U1")
    await db.execute(
        "INSERT INTO jobs (id, dataset_id, dataset, trainer, base_model, method, options, examples,"
        " tokens, epochs, state, channel, requested_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        job,
    )
    await db.execute("INSERT INTO job_metrics (job_id, step) VALUES ('j1', 1)")
    monkeypatch.undo()
    assert (await migrate(db))[:1] == ["0017_kto"]
    assert await db.fetchval("SELECT count(*) FROM jobs JOIN dataset_versions d ON d.id = jobs.dataset_id") == 1
    assert await db.fetchval("SELECT kto_labels FROM dataset_versions") is None
    assert await db.fetchval("PRAGMA foreign_keys") == 1
    await db.execute(
        "INSERT INTO dataset_versions ({}) VALUES ({})".format(columns, marks), ["votes", 1, "kto", *values[3:]]
    )
    with pytest.raises(Exception, match="CHECK"):
        await db.execute("UPDATE jobs SET method = 'orpo' WHERE id = 'j1'")
    with pytest.raises(Exception, match="FOREIGN KEY"):
        await db.execute("UPDATE jobs SET dataset_id = 999 WHERE id = 'j1'")
    await db.execute("UPDATE jobs SET method = 'kto' WHERE id = 'j1'")
    await db.close()
