"""Migration: the answering OpenAI fine-tune retrained on Together, compared, and promoted through the gate."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.fakes import FakeOpenAI, FakeSlack, FakeTogether
from tests.capture_helpers import button
from tests.conftest import ADMIN, ALICE, GENERAL, Harness, make_settings, served
from tests.lifecycle_helpers import JUDGE, TUNED, announcements, dataset, run, scripted

H100 = "1x_nvidia_h100_80gb_sxm"


@pytest.fixture
async def app(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI, together: FakeTogether) -> AsyncIterator[Harness]:
    settings = make_settings(
        tmp_path, slack, oai, together=together, TUNELOOP_JUDGE_MODEL=JUDGE, TUNELOOP_POLL_SECONDS="3600"
    )
    async with served(settings, slack) as harness:
        ref = await dataset(harness)
        await harness.db.execute(
            "INSERT INTO jobs (id, dataset_id, dataset, trainer, base_model, method, options, examples, tokens, epochs,"
            " state, provider_job_id, fine_tuned_model, channel, requested_by) VALUES ('jsource1', 1, ?, 'openai',"
            " 'gpt-4.1-mini-2025-04-14', 'sft', ?, 14, 500, 3, 'succeeded', 'ftjob-1', ?, ?, ?)",
            (ref, json.dumps({"learning_rate": 0.2, "batch_size": 4, "seed": 7}), TUNED, GENERAL, ADMIN),
        )
        oai.add_model(TUNED)
        await run(harness, f"promote {TUNED} force:yes")
        yield harness


def card(slack: FakeSlack) -> dict:
    return next(m for m in slack.history(GENERAL) if m["user"] == "U0BOT" and "Migration" in str(m.get("blocks")))


async def migrate_and_train(app: Harness, slack: FakeSlack, together: FakeTogether) -> str:
    """`/tune migrate`, Start, the Together job to its end; returns the new job's id."""
    assert await run(app, "migrate to:together") == ""
    job = await app.db.fetchone("SELECT * FROM jobs WHERE trainer = 'together'")
    assert (job["dataset"], job["epochs"], job["state"]) == ("support@1", 3, "preflight")
    await app.interact(button(slack, "job_start", job["id"], user=ADMIN))
    await app.settle()
    created = together.calls_to("POST /v1/fine-tunes")[-1].args
    assert (created["n_epochs"], created["batch_size"], created["random_seed"]) == (3, 4, 7)
    assert created["learning_rate"] == pytest.approx(2e-5)  # OpenAI's multiplier 0.2 over its default 0.1 × 1e-5
    provider_id = (await app.db.fetchone("SELECT provider_job_id FROM jobs WHERE id = ?", (job["id"],)))[0]
    together.run_to_end(provider_id)
    await app.runtime.monitor.tick()  # succeeded; Together answers it only once it runs on an endpoint
    await app.settle(timeout=30)
    await app.interact(button(slack, "job_deploy", job["id"], user=ADMIN))
    await app.settle()
    await app.interact(button(slack, f"endpoint_create:{H100}", f"{job['id']} {H100}", user=ADMIN))
    await app.settle()
    endpoint_id = await app.db.fetchval("SELECT id FROM endpoints WHERE job_id = ?", (job["id"],))
    together.advance_endpoint(endpoint_id)
    together.advance_endpoint(endpoint_id)
    await app.runtime.monitor.tick()  # the endpoint runs: the migration's evaluation goes through its name
    await app.settle(timeout=30)
    return job["id"]


async def test_a_migration_to_together_ends_in_a_gated_promotion(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI, together: FakeTogether
) -> None:
    oai.reply_with(scripted({}))
    together.reply_with(scripted({}))
    job_id = await migrate_and_train(app, slack, together)
    new_model = await app.db.fetchval("SELECT name FROM endpoints WHERE job_id = ?", (job_id,))  # what answers
    evaluation = await app.db.fetchone("SELECT * FROM evaluations ORDER BY id DESC LIMIT 1")
    assert (evaluation["candidate"], evaluation["baseline"], evaluation["dataset"]) == (new_model, TUNED, "support@1")
    thread = slack.thread(GENERAL, (await app.db.fetchone("SELECT card_ts FROM jobs WHERE id = ?", (job_id,)))[0])
    assert any("promotion gate lets it through" in m["text"] for m in thread)
    story = str(card(slack)["blocks"])
    assert TUNED in story and job_id in story and "learning rate 2e-05" in story and "Promote" in story

    await app.interact(button(slack, "migration_promote", job_id, user=ALICE))  # admins only
    await app.settle()
    assert await app.runtime.services.current_model() == TUNED
    await app.interact(button(slack, "migration_promote", job_id, user=ADMIN))
    await app.settle()
    assert await app.runtime.services.current_model() == new_model
    assert f"promoted `{new_model}`" in announcements(slack)[0]
    assert f"promoted by <@{ADMIN}>" in str(card(slack)["blocks"])


async def test_a_worse_migrated_model_is_refused_by_the_gate(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI, together: FakeTogether
) -> None:
    oai.reply_with(scripted({}))
    together.reply_with(lambda request: "I do not know.")
    job_id = await migrate_and_train(app, slack, together)
    thread = slack.thread(GENERAL, (await app.db.fetchone("SELECT card_ts FROM jobs WHERE id = ?", (job_id,)))[0])
    assert any("would refuse" in m["text"] and "token F1" in m["text"] for m in thread)
    await app.interact(button(slack, "migration_promote", job_id, user=ADMIN))
    await app.settle()
    assert await app.runtime.services.current_model() == TUNED
    assert "refused by the gate" in str(card(slack)["blocks"])


async def test_a_model_tuneloop_did_not_train_cannot_be_migrated(app: Harness) -> None:
    await run(app, "rollback")
    assert "did not train it" in await run(app, "migrate")
    assert await app.db.fetchval("SELECT count(*) FROM model_migrations") == 0


async def test_migrating_to_the_same_back_end_is_refused(app: Harness) -> None:
    assert "name another back-end" in await run(app, "migrate to:openai")
    assert await app.db.fetchval("SELECT count(*) FROM jobs") == 1
