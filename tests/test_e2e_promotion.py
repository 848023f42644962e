"""`/tune eval`, `/tune promote`, `/tune rollback` and `/tune model`, end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.fakes import FakeOpenAI, FakeSlack, FakeTogether
from tests.capture_helpers import answered_question, button
from tests.conftest import ADMIN, ALICE, BOTH_DATABASES, GENERAL, Harness, make_settings, served
from tests.dataset_helpers import add_many
from tests.lifecycle_helpers import scripted
from tuning.training.datasets.specs import BuildRequest

pytestmark = BOTH_DATABASES


@pytest.fixture
async def app(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI, together: FakeTogether) -> AsyncIterator[Harness]:
    settings = make_settings(tmp_path, slack, oai, together=together, TUNELOOP_JUDGE_MODEL="gpt-4.1")
    async with served(settings, slack) as harness:
        yield harness


async def dataset(app: Harness) -> str:
    await add_many(app.db, 20, channel=GENERAL)
    return (await app.runtime.services.datasets.build(BuildRequest(name="support", val=0.3))).ref


async def run(app: Harness, text: str, user: str = ADMIN) -> str:
    status, body = await app.command(text, user=user)
    assert status == 200 and body == {}
    await app.settle(timeout=30)
    return app.slack.responses[-1]["text"] if app.slack.responses else ""


def announcements(slack: FakeSlack) -> list[str]:
    """What the bot posted at the top of #general, newest first."""
    return [m["text"] for m in slack.history(GENERAL) if m["user"] == "U0BOT"]


async def test_base_evaluation_scores_the_answering_model_against_the_references(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    await dataset(app)
    oai.reply_with(lambda request: "Answer number " + request["messages"][-1]["content"].split()[-1].rstrip("?") + ".")
    await run(app, "eval base")
    evaluation = await app.db.fetchone("SELECT * FROM evaluations")
    assert (evaluation["candidate"], evaluation["baseline"], evaluation["state"]) == ("gpt-4.1-mini", None, "done")
    assert evaluation["items"] == await app.db.fetchval("SELECT count(*) FROM evaluation_items")
    card = next(m for m in slack.history(GENERAL) if "Evaluation results" in str(m.get("blocks")))
    assert "exact match 1.000" in str(card["blocks"])
    assert {f.filename.rsplit(".", 1)[1] for f in slack.files} == {"png", "jsonl"}


async def test_a_model_against_another_uses_the_judge_in_both_orders(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    ref = await dataset(app)
    oai.add_model("gpt-4o-mini")
    await run(app, f"eval gpt-4o-mini against:gpt-4.1-mini dataset:{ref}")
    evaluation = await app.db.fetchone("SELECT * FROM evaluations")
    assert (evaluation["candidate"], evaluation["baseline"], evaluation["judge"]) == (
        "gpt-4o-mini",
        "gpt-4.1-mini",
        "gpt-4.1",
    )
    judge_calls = [c for c in oai.calls_to("POST /v1/chat/completions") if c.args["model"] == "gpt-4.1"]
    assert len(judge_calls) == 2 * evaluation["items"]


async def test_eval_without_a_dataset_says_what_to_do(app: Harness) -> None:
    assert "/tune dataset build" in await run(app, "eval base")


async def test_promotion_changes_the_model_of_the_next_answer_and_rollback_returns(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    oai.add_model("ft:gpt-4.1-mini-2025-04-14:acme:support:abc12345")
    await run(app, "promote ft:gpt-4.1-mini-2025-04-14:acme:support:abc12345 force:yes reason:smoke-test")
    assert "promoted `ft:gpt-4.1-mini-2025-04-14:acme:support:abc12345`" in announcements(slack)[0]
    await answered_question(app, slack, "who answers now?")
    assert (
        await app.db.fetchval("SELECT model FROM answers ORDER BY id DESC LIMIT 1")
        == "ft:gpt-4.1-mini-2025-04-14:acme:support:abc12345"
    )
    assert oai.calls_to("POST /v1/chat/completions")[-1].args["model"].startswith("ft:")

    await run(app, "rollback")
    assert "`gpt-4.1-mini` again" in announcements(slack)[0]
    await answered_question(app, slack, "and now?")
    assert await app.db.fetchval("SELECT model FROM answers ORDER BY id DESC LIMIT 1") == "gpt-4.1-mini"

    history = await run(app, "model", user=ALICE)
    assert "answers with `gpt-4.1-mini`" in history and "rollback" in history and "promote" in history
    assert f"<@{ADMIN}>" in history


async def test_promoting_a_job_names_its_model_and_the_latest_evaluation(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    await dataset(app)
    await app.db.execute(
        "INSERT INTO jobs (id, dataset_id, dataset, trainer, base_model, method, options, examples, tokens, epochs,"
        " state, provider_job_id, fine_tuned_model, channel, requested_by) VALUES ('jdone01', 1, 'support@1', 'openai',"
        " 'gpt-4.1-mini-2025-04-14', 'sft', '{}', 14, 500, 3, 'succeeded', 'ftjob-1',"
        " 'ft:gpt-4.1-mini-2025-04-14:acme:x:1', ?, ?)",
        (GENERAL, ADMIN),
    )
    oai.add_model("ft:gpt-4.1-mini-2025-04-14:acme:x:1")
    await run(app, "eval jdone01 against:gpt-4.1-mini")
    await run(app, "promote jdone01")
    text = announcements(slack)[0]
    assert "ft:gpt-4.1-mini-2025-04-14:acme:x:1" in text and "Latest evaluation: token F1" in text
    change = await app.db.fetchone("SELECT * FROM model_changes")
    assert (change["job_id"], change["changed_by"]) == ("jdone01", ADMIN) and change["evaluation_id"]


async def test_a_together_model_with_no_endpoint_is_refused_with_what_to_do(
    app: Harness, slack: FakeSlack, together: FakeTogether
) -> None:
    """Together answers a tuned model only by the name of a started dedicated endpoint."""
    await dataset(app)
    await app.db.execute(  # Tuneloop tuned it on Together: that is how it knows who serves it
        "INSERT INTO jobs (id, dataset_id, dataset, trainer, base_model, method, options, examples, tokens, epochs,"
        " state, provider_job_id, fine_tuned_model, channel, requested_by) VALUES ('jtg0001', 1, 'support@1',"
        " 'together', 'Qwen/Qwen2.5-7B-Instruct', 'sft', '{}', 14, 500, 3, 'succeeded', 'ft-1',"
        " 'acme/Qwen2.5-7B-Instruct:support:ft-1', ?, ?)",
        (GENERAL, ADMIN),
    )
    reply = await run(app, "promote acme/Qwen2.5-7B-Instruct:support:ft-1 force:yes")
    assert "did not answer" in reply and "endpoint" in reply
    assert await app.db.fetchval("SELECT count(*) FROM model_changes") == 0
    endpoint = together.endpoints.create(
        {
            "model": "Qwen/Qwen2.5-7B-Instruct",
            "hardware": "1x_nvidia_h100_80gb_sxm",
            "autoscaling": {"min_replicas": 1, "max_replicas": 1},
        }
    )
    together.advance_endpoint(endpoint.id)
    together.advance_endpoint(endpoint.id)
    await app.db.execute(  # as Deploy records it
        "INSERT INTO endpoints (id, name, model, job_id, hardware, state, created_by) VALUES (?, ?, ?, 'jtg0001',"
        " '1x_nvidia_h100_80gb_sxm', 'STARTED', ?)",
        (endpoint.id, endpoint.name, endpoint.model, ADMIN),
    )
    await run(app, f"promote {endpoint.name} force:yes")
    await answered_question(app, slack, "llama?")
    assert together.calls_to("POST /v1/chat/completions")[-1].args["model"] == endpoint.name


async def test_only_admins_promote_or_roll_back(app: Harness, oai: FakeOpenAI) -> None:
    oai.add_model("ft:gpt-4.1-mini-2025-04-14:acme:support:abc12345")
    assert "Only Tuneloop admins" in await run(
        app, "promote ft:gpt-4.1-mini-2025-04-14:acme:support:abc12345", user=ALICE
    )
    assert "Only Tuneloop admins" in await run(app, "rollback", user=ALICE)
    assert await app.db.fetchval("SELECT count(*) FROM model_changes") == 0


async def test_rollback_with_nothing_promoted_is_explained(app: Harness) -> None:
    assert "Nothing to roll back" in await run(app, "rollback")


async def test_evaluating_a_model_that_does_not_answer_says_what_to_do(app: Harness, oai: FakeOpenAI) -> None:
    await dataset(app)
    reply = await run(app, "eval ft:gpt-4.1-mini-2025-04-14:acme:gone:1")
    assert "did not answer a test request" in reply and "model name" in reply
    assert await app.db.fetchval("SELECT count(*) FROM evaluations") == 0


async def test_a_fresh_job_is_promoted_on_its_automatic_evaluation(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    """As a team would: an SFT set, then a DPO set, train on the SFT one, wait for the automatic evaluation,
    promote. The gate judges on the job's own dataset, and the automatic evaluation is the one it asks for."""
    oai.reply_with(scripted({}))  # every model answers as well as the others: the gate lets it through
    sft = await dataset(app)
    prefs = (await app.runtime.services.datasets.build(BuildRequest(name="prefs", format="dpo", val=0.3))).ref
    await run(app, "train support")
    job = await app.db.fetchone("SELECT id FROM jobs")
    await app.interact(button(slack, "job_start", job["id"], user=ADMIN))
    await app.settle()
    oai.run_to_end(await app.db.fetchval("SELECT provider_job_id FROM jobs"))
    await app.runtime.monitor.tick()
    await app.settle(timeout=30)

    evaluation = await app.db.fetchone("SELECT * FROM evaluations")
    tuned = await app.db.fetchval("SELECT fine_tuned_model FROM jobs")
    assert (evaluation["candidate"], evaluation["baseline"], evaluation["dataset"], evaluation["state"]) == (
        tuned,
        "gpt-4.1-mini",
        sft,
        "done",
    ) and prefs != sft
    assert "Not promoting" not in await run(app, f"promote {job['id']}")
    change = await app.db.fetchone("SELECT * FROM model_changes")
    assert (change["model"], change["job_id"], change["evaluation_id"], change["forced"]) == (
        tuned,
        job["id"],
        evaluation["id"],
        0,
    )


async def test_the_gate_asks_for_the_newest_version_of_the_jobs_own_dataset(app: Harness, oai: FakeOpenAI) -> None:
    await dataset(app)
    newer = (await app.runtime.services.datasets.build(BuildRequest(name="support", val=0.3))).ref
    await app.runtime.services.datasets.build(BuildRequest(name="prefs", format="dpo", val=0.3))
    await app.db.execute(
        "INSERT INTO jobs (id, dataset_id, dataset, trainer, base_model, method, options, examples, tokens, epochs,"
        " state, provider_job_id, fine_tuned_model, channel, requested_by) VALUES ('jdone02', 1, 'support@1', 'openai',"
        " 'gpt-4.1-mini-2025-04-14', 'sft', '{}', 14, 500, 3, 'succeeded', 'ftjob-2',"
        " 'ft:gpt-4.1-mini-2025-04-14:acme:x:2', ?, ?)",
        (GENERAL, ADMIN),
    )
    reply = await run(app, "promote jdone02")
    assert f"dataset:{newer}" in reply and newer == "support@2"
