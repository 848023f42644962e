"""Retention and erasure: pruning by age, Slack's deletions and edits, `/tune forget` and `tuneloop forget`."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.fakes import FakeSlack
from tests.capture_helpers import answered_question, vote
from tests.conftest import ADMIN, ALICE, BOB, BOTH_DATABASES, GENERAL, Harness, database_settings
from tests.dataset_helpers import add_many
from tests.test_cli import tuneloop
from tuning.errors import TuningError
from tuning.training.datasets.specs import BuildRequest

pytestmark = BOTH_DATABASES


async def everything(app: Harness) -> str:
    """Every value in every table, as one text to search."""
    catalogue = (
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        if app.db.dialect == "sqlite"
        else "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    )
    tables = [row[0] for row in await app.db.fetchall(catalogue)]
    assert "messages" in tables and "inbox" in tables
    rows = [row for table in tables for row in await app.db.fetchall(f"SELECT * FROM {table}")]
    return "\n".join(repr(tuple(row)) for row in rows)


async def alices_example_in_a_dataset(app: Harness, slack: FakeSlack) -> str:
    """Alice asks, the bot answers, Bob votes 👍 (approved), a dataset is built; returns the answer's ts."""
    answer_ts = await answered_question(app, slack, "where is the vpn config kept?")
    await vote(app, user=BOB, ts=answer_ts)
    assert await app.db.fetchval("SELECT state FROM examples") == "approved"
    await app.runtime.services.datasets.build(BuildRequest(name="support", val=0.0))
    return answer_ts


async def test_tune_forget_erases_a_person_and_flags_the_datasets_built_with_them(
    app: Harness, slack: FakeSlack
) -> None:
    await alices_example_in_a_dataset(app, slack)
    assert ALICE in await everything(app) and "vpn config" in await everything(app)
    status, _ = await app.command(f"forget <@{ALICE}|alice>", user=ADMIN)
    await app.settle()
    assert status == 200
    assert "Erased <@U0ALICE>'s data" in slack.responses[-1]["text"]
    left = await everything(app)
    assert ALICE not in left and "vpn config" not in left
    assert await app.db.fetchval("SELECT state FROM examples") == "rejected"
    await app.command("dataset list", user=ADMIN)
    await app.settle()
    assert "contains erased data: rebuild" in str(slack.responses[-1])


async def test_forget_flags_the_jobs_trained_on_a_dataset_built_with_them(app: Harness, slack: FakeSlack) -> None:
    await add_many(app.db, 11, channel=GENERAL)  # with Alice's, enough to train on
    await alices_example_in_a_dataset(app, slack)
    await app.command("train support", user=ADMIN)
    await app.settle()
    job = await app.db.fetchval("SELECT id FROM jobs")
    await app.command("jobs", user=ADMIN)
    await app.settle()
    assert job in slack.responses[-1]["text"] and "erased" not in slack.responses[-1]["text"]
    await app.command(f"forget <@{ALICE}|alice>", user=ADMIN)
    await app.settle()
    for listing in ("jobs", f"status {job}"):
        await app.command(listing, user=ADMIN)
        await app.settle()
        assert job in slack.responses[-1]["text"] and "contains erased data: rebuild" in slack.responses[-1]["text"]


async def test_tuneloop_forget_on_the_command_line(
    app: Harness, slack: FakeSlack, tmp_path: Path, database: str
) -> None:
    await alices_example_in_a_dataset(app, slack)
    where = database_settings(database, tmp_path)
    result = tuneloop(
        tmp_path, "forget", BOB, env=where
    )  # the server holds the lease; forget is one transaction beside it
    assert result.returncode == 0, result.stderr
    assert "Erased U0BOB's data" in result.stdout and "1 vote" in result.stdout
    assert BOB not in await everything(app)
    assert await app.db.fetchval("SELECT up_votes FROM examples") == 0
    bad = tuneloop(tmp_path, "forget", "alice", env=where)
    assert bad.returncode == 1 and "is not a Slack user" in bad.stderr


async def test_a_message_deleted_in_slack_takes_its_example_out_of_future_datasets(
    app: Harness, slack: FakeSlack
) -> None:
    answer_ts = await alices_example_in_a_dataset(app, slack)
    deleted = {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": GENERAL,
        "ts": "1800000000.000100",
        "deleted_ts": answer_ts,
    }
    assert await app.event(deleted) == 200
    await app.settle()
    row = await app.db.fetchone("SELECT state, answer, conversation FROM examples")
    assert tuple(row) == ("rejected", "", "[]")
    assert await app.db.fetchval("SELECT text FROM messages WHERE ts = ?", (answer_ts,)) == ""
    with pytest.raises(TuningError, match="No approved examples"):
        await app.runtime.services.datasets.build(BuildRequest(name="after", val=0.0))


async def test_a_message_edited_in_slack_is_updated(app: Harness, slack: FakeSlack) -> None:
    answer_ts = await answered_question(app, slack, "what is the wifi password?")
    (question_ts,) = [row[0] for row in await app.db.fetchall("SELECT ts FROM messages WHERE user_id = ?", (ALICE,))]
    changed = {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": GENERAL,
        "ts": "1800000000.000200",
        "message": {"type": "message", "user": ALICE, "text": "never mind", "ts": question_ts},
    }
    assert await app.event(changed) == 200
    await app.settle()
    assert await app.db.fetchval("SELECT text FROM messages WHERE ts = ?", (question_ts,)) == "never mind"
    assert answer_ts


async def test_retention_prunes_old_events_and_message_text_but_keeps_examples(app: Harness, slack: FakeSlack) -> None:
    answer_ts = await alices_example_in_a_dataset(app, slack)
    await answered_question(app, slack, "an old question nobody voted on")
    await app.db.execute("UPDATE inbox SET processed_at = '2020-01-01T00:00:00.000Z'")
    await app.db.execute("UPDATE messages SET created_at = '2020-01-01T00:00:00.000Z'")
    await app.db.execute("UPDATE answers SET created_at = '2020-01-01T00:00:00.000Z'")
    pruned = await app.runtime.services.privacy.prune()
    assert pruned.inbox == 3 and pruned.messages >= 2
    assert await app.db.fetchval("SELECT count(*) FROM inbox") == 0
    texts = {row[0]: row[1] for row in await app.db.fetchall("SELECT ts, text FROM messages")}
    assert texts[answer_ts] != "" and sum(1 for text in texts.values() if text == "") == len(texts) - 1
    assert "old question" not in await everything(app)
