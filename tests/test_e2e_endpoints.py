"""A tuned Together model from its card to a dedicated endpoint, then evaluated and promoted through it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.fakes import FakeOpenAI, FakeSlack, FakeTogether
from tests.capture_helpers import answered_question, button
from tests.conftest import ADMIN, ALICE, GENERAL, Harness, make_settings, served
from tests.lifecycle_helpers import scripted
from tests.test_e2e_jobs import card_text, dataset, job_row, preflight, start
from tuning.training.jobs import monitor

QWEN = "Qwen/Qwen2.5-7B-Instruct"
H100 = "1x_nvidia_h100_80gb_sxm"


@pytest.fixture(autouse=True)
def fast_cards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitor, "CARD_INTERVAL_SECONDS", 0.0)


@pytest.fixture
async def app(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI, together: FakeTogether) -> AsyncIterator[Harness]:
    settings = make_settings(
        tmp_path,
        slack,
        oai,
        together=together,
        TUNELOOP_POLL_SECONDS="3600",
        TUNELOOP_JUDGE_MODEL="gpt-4.1",
        TUNELOOP_ENDPOINT_IDLE_MINUTES="30",
    )
    async with served(settings, slack) as harness:
        yield harness


async def succeeded_job(app: Harness, together: FakeTogether) -> dict:
    await dataset(app, n=20)
    job = await preflight(app, "train support trainer:together")
    await start(app, job)
    together.run_to_end((await job_row(app, job["id"]))["provider_job_id"])
    await tick(app)
    return await job_row(app, job["id"])


async def tick(app: Harness) -> None:
    await app.runtime.monitor.tick()
    await app.settle(timeout=30)


async def run(app: Harness, text: str, user: str = ADMIN) -> str:
    status, body = await app.command(text, user=user)
    assert status == 200 and body == {}
    await app.settle(timeout=30)
    return app.slack.responses[-1]["text"]


async def deploy(app: Harness, job: dict, hardware: str = H100) -> dict:
    await app.interact(button(app.slack, "job_deploy", job["id"], user=ADMIN))
    await app.settle()
    choices = app.slack.responses[-1]
    await app.interact(button(app.slack, f"endpoint_create:{hardware}", f"{job['id']} {hardware}", user=ADMIN))
    await app.settle()
    return {"choices": choices, "row": dict(await app.db.fetchone("SELECT * FROM endpoints"))}


async def running_endpoint(app: Harness, together: FakeTogether, job: dict) -> dict:
    """Deployed from the card, then PENDING -> STARTING -> STARTED at Together."""
    row = (await deploy(app, job))["row"]
    together.advance_endpoint(row["id"])
    together.advance_endpoint(row["id"])
    return row


async def test_deploy_lists_hardware_with_prices_creates_an_endpoint_and_evaluates_through_it(
    app: Harness, slack: FakeSlack, together: FakeTogether, oai: FakeOpenAI
) -> None:
    job = await succeeded_job(app, together)
    assert "job_deploy" in card_text(slack, job) and "Deploy" in card_text(slack, job)
    no_endpoint = [m["text"] for m in slack.thread(GENERAL, job["card_ts"]) if "No automatic evaluation" in m["text"]]
    assert no_endpoint and "Deploy" in no_endpoint[0]  # the output name alone can never answer

    deployed = await deploy(app, job)
    assert "$3.99/h" in str(deployed["choices"]["blocks"]) and "$5.49/h" in str(deployed["choices"]["blocks"])
    created = together.calls_to("POST /v1/endpoints")[0].args
    assert created == {
        "model": job["fine_tuned_model"],
        "hardware": H100,
        "display_name": f"tuneloop {job['id']}",
        "autoscaling": {"min_replicas": 1, "max_replicas": 1},
        "inactive_timeout": 30,
        "state": "STARTED",
    }
    row = deployed["row"]
    endpoint = together.endpoint(row["id"])
    assert (row["name"], row["job_id"], row["usd_per_hour"], row["state"]) == (
        endpoint.name,
        job["id"],
        3.99,
        "PENDING",
    )

    together.reply_with("I have no idea.")  # the tuned model answers worse than the answering model
    oai.reply_with(scripted({}))
    await tick(app)
    together.advance_endpoint(row["id"])
    together.advance_endpoint(row["id"])
    await tick(app)
    thread = [m["text"] for m in slack.thread(GENERAL, job["card_ts"])]
    assert any("is running" in text and endpoint.name in text for text in thread)
    evaluation = await app.db.fetchone("SELECT * FROM evaluations")
    assert (evaluation["candidate"], evaluation["baseline"]) == (endpoint.name, "gpt-4.1-mini")
    asked = {call.args["model"] for call in together.calls_to("POST /v1/chat/completions")}
    assert endpoint.name in asked and job["fine_tuned_model"] not in asked

    refused = await run(app, f"promote {job['id']}")  # the gate judges on the automatic evaluation
    assert "Not promoting" in refused and f"evaluation #{evaluation['id']}" in refused
    assert endpoint.name in refused and await app.db.fetchval("SELECT count(*) FROM model_changes") == 0
    await run(app, f"promote {job['id']} force:yes")
    change = await app.db.fetchone("SELECT * FROM model_changes")
    assert (change["model"], change["job_id"]) == (endpoint.name, job["id"])
    await answered_question(app, slack, "how do I reset it?")
    assert together.calls_to("POST /v1/chat/completions")[-1].args["model"] == endpoint.name


async def test_a_promoted_model_whose_endpoint_stopped_is_explained_with_the_command_that_starts_it(
    app: Harness, slack: FakeSlack, together: FakeTogether
) -> None:
    job = await succeeded_job(app, together)
    row = await running_endpoint(app, together, job)
    await run(app, f"promote {job['id']} force:yes")
    together.idle_stop(row["id"])  # 30 idle minutes passed: Together stopped it
    answer_ts = await answered_question(app, slack, "still there?")
    text = slack.message(GENERAL, answer_ts)["text"]
    assert text.startswith(":warning:") and "stopped" in text and f"/tune endpoint start {row['id']}" in text

    assert "stopped" in await run(app, "endpoints", user=ALICE)
    started = await run(app, f"endpoint start {row['id']}")
    assert "starting" in started.lower() or "pending" in started.lower()
    assert together.calls_to("PATCH /v1/endpoints/{id}")[-1].args == {"state": "STARTED"}


async def test_endpoints_are_listed_with_state_and_hourly_cost_and_managed_by_admins(
    app: Harness, slack: FakeSlack, together: FakeTogether
) -> None:
    job = await succeeded_job(app, together)
    row = (await deploy(app, job, hardware="1x_nvidia_h200_140gb_sxm"))["row"]
    listed = await run(app, "endpoints", user=ALICE)
    assert row["id"] in listed and "$5.49/h" in listed and "pending" in listed

    assert "Only Tuneloop admins" in await run(app, f"endpoint stop {row['id']}", user=ALICE)
    assert together.calls_to("PATCH /v1/endpoints/{id}") == []
    assert "stopping" in await run(app, f"endpoint stop {row['id']}")
    together.advance_endpoint(row["id"])
    assert "stopped" in await run(app, "endpoints")
    assert "no endpoint `nope-1`" in await run(app, "endpoint delete nope-1")
    assert "deleted" in await run(app, f"endpoint delete {row['id']}")
    assert together.endpoints.endpoints == {} and await app.db.fetchval("SELECT count(*) FROM endpoints") == 0


async def test_when_the_base_does_not_answer_the_tuned_model_is_evaluated_alone_through_its_endpoint(
    app: Harness, slack: FakeSlack, together: FakeTogether
) -> None:
    job = await succeeded_job(app, together)
    row = await running_endpoint(app, together, job)
    await tick(app)
    await run(app, f"eval {job['id']}")  # against its base, which is not served (no serverless Qwen here)
    evaluation = await app.db.fetchone("SELECT * FROM evaluations WHERE baseline IS NOT 'gpt-4.1-mini'")
    assert (evaluation["candidate"], evaluation["baseline"], evaluation["state"]) == (row["name"], None, "done")


async def test_a_second_deploy_of_the_same_job_is_refused_and_creates_nothing(
    app: Harness, slack: FakeSlack, together: FakeTogether
) -> None:
    job = await succeeded_job(app, together)
    first = (await deploy(app, job))["row"]
    await deploy(app, job)
    assert f"already has endpoint `{first['id']}`" in slack.responses[-1]["text"]
    assert len(together.calls_to("POST /v1/endpoints")) == 1


async def test_a_model_tuned_from_a_base_together_cannot_deploy_is_refused_before_any_endpoint(
    app: Harness, slack: FakeSlack, together: FakeTogether
) -> None:
    await dataset(app, n=20)
    job = await preflight(app, "train support trainer:together model:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference")
    await start(app, job)
    together.run_to_end((await job_row(app, job["id"]))["provider_job_id"])
    await tick(app)
    await app.interact(button(app.slack, "job_deploy", job["id"], user=ADMIN))
    await app.settle()
    assert "cannot deploy" in slack.responses[-1]["text"]
    assert together.calls_to("GET /v1/hardware") == [] and together.calls_to("POST /v1/endpoints") == []


async def test_an_endpoint_being_deployed_is_followed_after_a_restart(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI, together: FakeTogether
) -> None:
    settings = make_settings(tmp_path, slack, oai, together=together, TUNELOOP_POLL_SECONDS="3600")
    async with served(settings, slack) as app:
        job = await succeeded_job(app, together)
        row = (await deploy(app, job))["row"]
    together.advance_endpoint(row["id"])
    together.advance_endpoint(row["id"])
    async with served(settings, slack) as app:
        await tick(app)
        await tick(app)
        ready = [m for m in slack.thread(GENERAL, job["card_ts"]) if m["text"].startswith(":large_green_circle:")]
        assert len(ready) == 1 and row["name"] in ready[0]["text"]
        assert await app.db.fetchval("SELECT state FROM endpoints") == "STARTED"


# The operator's models.toml beside the database: a base model Tuneloop did not ship, and a packaged one overridden.
OPERATOR_MODELS = """
[models."acme/support-base"]
provider = "together"
train = { together = ["sft"] }
training_usd_per_million = 3.0
dedicated_endpoint = true

[models."Qwen/Qwen2.5-7B-Instruct"]
dedicated_endpoint = false
"""


@pytest.fixture
async def operated(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI, together: FakeTogether) -> AsyncIterator[Harness]:
    (tmp_path / "models.toml").write_text(OPERATOR_MODELS)
    settings = make_settings(
        tmp_path, slack, oai, together=together, TUNELOOP_POLL_SECONDS="3600", TUNELOOP_JUDGE_MODEL="gpt-4.1"
    )
    async with served(settings, slack) as harness:
        yield harness


async def test_an_operator_added_base_model_is_trained_routed_and_deployed_by_its_catalogue_entry(
    operated: Harness, slack: FakeSlack, together: FakeTogether
) -> None:
    together.fine_tunes.models["acme/support-base"] = frozenset({"sft"})  # a base Together added after our release
    await dataset(operated, n=20)
    job = await preflight(operated, "train support trainer:together model:acme/support-base")
    assert job["base_model"] == "acme/support-base" and job["estimated_cost"] > 0  # priced by the operator's entry
    await start(operated, job)
    together.run_to_end((await job_row(operated, job["id"]))["provider_job_id"])
    await tick(operated)
    assert await operated.runtime.services.answers._chat.route("acme/support-base") == "together"
    endpoint = (await deploy(operated, await job_row(operated, job["id"])))["row"]
    assert endpoint["job_id"] == job["id"] and len(together.calls_to("POST /v1/endpoints")) == 1


async def test_a_packaged_model_the_operator_marks_undeployable_is_refused_before_any_endpoint(
    operated: Harness, slack: FakeSlack, together: FakeTogether
) -> None:
    await dataset(operated, n=20)
    job = await preflight(operated, f"train support trainer:together model:{QWEN}")
    await start(operated, job)
    together.run_to_end((await job_row(operated, job["id"]))["provider_job_id"])
    await tick(operated)
    await operated.interact(button(operated.slack, "job_deploy", job["id"], user=ADMIN))
    await operated.settle()
    assert "cannot deploy" in slack.responses[-1]["text"]
    assert together.calls_to("POST /v1/endpoints") == []
