"""Fine-tuning end to end on both back-ends: pre-flight, refusals, Start once, the live card, the end, a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from bot.fakes import FakeOpenAI, FakeSlack, FakeTogether
from tests.capture_helpers import button
from tests.conftest import ADMIN, ALICE, GENERAL, Harness, make_settings, served
from tests.dataset_helpers import add_many
from tuning.training.datasets.specs import BuildRequest
from tuning.training.jobs import monitor


@pytest.fixture(autouse=True)
def fast_cards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitor, "CARD_INTERVAL_SECONDS", 0.0)


@pytest.fixture
async def app(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI, together: FakeTogether) -> AsyncIterator[Harness]:
    settings = make_settings(tmp_path, slack, oai, together=together, TUNELOOP_POLL_SECONDS="3600")
    async with served(settings, slack) as harness:
        yield harness


async def dataset(app: Harness, n: int = 12, name: str = "support", fmt: str = "sft") -> str:
    await add_many(app.db, n, channel=GENERAL)
    summary = await app.runtime.services.datasets.build(BuildRequest(name=name, format=fmt, val=0.2))
    return summary.ref


async def preflight(app: Harness, text: str, user: str = ADMIN) -> dict:
    status, body = await app.command(text, user=user)
    assert status == 200 and body == {}
    await app.settle()
    return dict(await app.db.fetchone("SELECT * FROM jobs ORDER BY created_at DESC LIMIT 1") or {})


def card_text(slack: FakeSlack, job: dict) -> str:
    return str(slack.message(GENERAL, job["card_ts"])["blocks"])


async def start(app: Harness, job: dict, user: str = ADMIN) -> None:
    await app.interact(button(app.slack, "job_start", job["id"], user=user))
    await app.settle()


async def job_row(app: Harness, job_id: str) -> dict:
    return dict(await app.db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,)))


async def test_preflight_card_shows_the_plan_with_start_and_cancel(app: Harness, slack: FakeSlack) -> None:
    await dataset(app)
    job = await preflight(app, "train support epochs:2")
    text = card_text(slack, job)
    for expected in (
        "support@1",
        "openai",
        "gpt-4.1-mini-2025-04-14",
        "SFT",
        "Epochs",
        "estimate",
        "job_start",
        "job_dismiss",
    ):
        assert expected in text
    assert (job["state"], job["epochs"], job["examples"]) == ("preflight", 2, 10)
    assert job["estimated_cost"] > 0


@pytest.mark.parametrize(
    ("command", "user", "fragment"),
    [
        ("train support", ALICE, "Only Tuneloop admins"),
        ("train nothing", ADMIN, "nothing"),
        ("train support model:gpt-3.5-turbo", ADMIN, "gpt-4.1-mini-2025-04-14"),
        ("train support model:gpt-4o-mini-2024-07-18 trainer:openai", ADMIN, None),
    ],
)
async def test_refusals_are_ephemeral_and_start_nothing(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI, command: str, user: str, fragment: str | None
) -> None:
    await dataset(app)
    if fragment is None:  # a DPO dataset with a model that cannot do DPO
        await dataset(app, name="prefs", fmt="dpo")
        command, fragment = "train prefs model:gpt-4o-mini-2024-07-18", "cannot do DPO"
    status, _ = await app.command(command, user=user)
    assert status == 200
    await app.settle()
    assert fragment in slack.responses[-1]["text"]
    assert await app.db.fetchval("SELECT count(*) FROM jobs") == 0
    assert oai.calls_to("POST /v1/fine_tuning/jobs") == []


async def test_a_dataset_under_ten_examples_is_refused(app: Harness, slack: FakeSlack) -> None:
    await dataset(app, n=6, name="tiny")
    await app.command("train tiny", user=ADMIN)
    await app.settle()
    assert "at least 10" in slack.responses[-1]["text"]
    assert await app.db.fetchval("SELECT count(*) FROM jobs") == 0


async def test_an_over_budget_job_is_refused(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI) -> None:
    settings = make_settings(tmp_path, slack, oai, TUNELOOP_MAX_JOB_COST_USD="0.000001")
    async with served(settings, slack) as app:
        await dataset(app)
        await app.command("train support", user=ADMIN)
        await app.settle()
        assert "TUNELOOP_MAX_JOB_COST_USD" in slack.responses[-1]["text"]
        assert await app.db.fetchval("SELECT count(*) FROM jobs") == 0


async def test_openai_after_the_cut_off_is_refused_with_a_pointer_to_together(app: Harness, slack: FakeSlack) -> None:
    await dataset(app)
    app.runtime.trainers["openai"]._today = lambda: date(2027, 1, 6)
    await app.command("train support", user=ADMIN)
    await app.settle()
    assert "trainer:together" in slack.responses[-1]["text"]
    assert await app.db.fetchval("SELECT count(*) FROM jobs") == 0


async def test_double_start_creates_exactly_one_provider_job(app: Harness, slack: FakeSlack, oai: FakeOpenAI) -> None:
    await dataset(app)
    job = await preflight(app, "train support")
    clicks = [app.interact(button(slack, "job_start", job["id"], user=ADMIN)) for _ in range(3)]
    await asyncio.gather(*clicks)
    await app.settle()
    assert len(oai.calls_to("POST /v1/fine_tuning/jobs")) == 1
    assert sum("already started" in r.get("text", "") for r in slack.responses) == 2
    created = oai.calls_to("POST /v1/fine_tuning/jobs")[0].args
    assert created["metadata"] == {"tuneloop_job": job["id"], "tuneloop_dataset": "support@1"}
    assert created["validation_file"] and created["method"]["type"] == "supervised"


async def test_non_admins_cannot_start_or_cancel(app: Harness, slack: FakeSlack, oai: FakeOpenAI) -> None:
    await dataset(app)
    job = await preflight(app, "train support")
    await start(app, job, user=ALICE)
    await app.interact(button(slack, "job_dismiss", job["id"], user=ALICE))
    await app.settle()
    assert sum("Only Tuneloop admins" in r.get("text", "") for r in slack.responses) == 2
    assert (await job_row(app, job["id"]))["state"] == "preflight"
    await start(app, job)
    await app.command(f"cancel {job['id']}", user=ALICE)
    await app.settle()
    assert "Only Tuneloop admins" in slack.responses[-1]["text"]
    assert oai.calls_to("POST /v1/fine_tuning/jobs/{id}/cancel") == []


async def test_progress_success_and_loss_curve_on_openai(app: Harness, slack: FakeSlack, oai: FakeOpenAI) -> None:
    await dataset(app)
    job = await preflight(app, "train support suffix:helpdesk")
    await start(app, job)
    provider_id = (await job_row(app, job["id"]))["provider_job_id"]
    oai.advance(provider_id, steps=1)  # validating → queued
    oai.advance(provider_id, steps=1)  # queued → running
    oai.advance(provider_id, steps=4)
    await app.runtime.monitor.tick()
    running = await job_row(app, job["id"])
    assert running["state"] == "running" and running["step"] == 4 and running["train_loss"] is not None
    assert "Running" in card_text(slack, job) and "4/10" in card_text(slack, job)
    updates_before = len(slack.calls_to("chat.update"))

    oai.run_to_end(provider_id)
    await app.runtime.monitor.tick()
    await app.settle()
    done = await job_row(app, job["id"])
    assert done["state"] == "succeeded" and done["fine_tuned_model"].startswith("ft:gpt-4.1-mini")
    text = card_text(slack, job)
    assert done["fine_tuned_model"] in text and "Trained tokens" in text
    assert any(c.args["ts"] == job["card_ts"] for c in slack.calls_to("chat.update")[updates_before:])
    (curve,) = [f for f in slack.files if f.filename.endswith("-loss.png")]
    assert curve.content.startswith(b"\x89PNG") and curve.thread_ts == job["card_ts"]
    thread = slack.thread(GENERAL, job["card_ts"])[1:]
    events = [m["text"] for m in thread if m["text"].startswith(":information_source:")]
    assert events and len(set(events)) == len(events)  # provider events, none twice
    # Then the tuned model is evaluated against the answering model (what the promotion gate asks), in the thread.
    assert any("Evaluation results" in str(m.get("blocks")) for m in thread)
    evaluation = await app.db.fetchone("SELECT * FROM evaluations")
    assert (evaluation["candidate"], evaluation["baseline"], evaluation["job_id"]) == (
        done["fine_tuned_model"],
        "gpt-4.1-mini",
        job["id"],
    )
    assert {f.filename.rsplit(".", 1)[1] for f in slack.files if f.filename.startswith("evaluation-")} == {
        "png",
        "jsonl",
    }


async def test_failure_shows_the_providers_reason(app: Harness, slack: FakeSlack, oai: FakeOpenAI) -> None:
    await dataset(app)
    oai.script_job(outcome="failed", error="invalid_training_file")
    job = await preflight(app, "train support")
    await start(app, job)
    oai.run_to_end((await job_row(app, job["id"]))["provider_job_id"])
    await app.runtime.monitor.tick()
    row = await job_row(app, job["id"])
    assert row["state"] == "failed" and row["error_code"]
    assert row["error_code"] in card_text(slack, job) and "stopped the job" in card_text(slack, job)


async def test_provider_refusal_at_start_says_so_and_suggests_together(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    await dataset(app)
    oai.refuse_fine_tuning()
    job = await preflight(app, "train support")
    await start(app, job)
    assert "trainer:together" in slack.responses[-1]["text"]
    assert (await job_row(app, job["id"]))["state"] == "failed"


async def test_cancel_by_an_admin(app: Harness, slack: FakeSlack, oai: FakeOpenAI) -> None:
    await dataset(app)
    job = await preflight(app, "train support")
    await start(app, job)
    await app.command(f"cancel {job['id']}", user=ADMIN)
    await app.settle()
    row = await job_row(app, job["id"])
    assert (row["state"], row["cancelled_by"]) == ("cancelled", ADMIN)
    assert f"Cancelled by <@{ADMIN}>" in card_text(slack, job)
    await app.command("jobs", user=ALICE)
    await app.settle()
    assert job["id"] in slack.responses[-1]["text"] and "cancelled" in slack.responses[-1]["text"]


async def test_a_poll_that_read_the_job_before_a_cancel_does_not_bring_it_back(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    await dataset(app)
    job = await preflight(app, "train support")
    await start(app, job)
    row = await job_row(app, job["id"])
    stale = await app.runtime.trainers["openai"].get_job(row["provider_job_id"])  # the monitor reads the job…
    await app.command(f"cancel {job['id']}", user=ADMIN)
    await app.settle()
    await app.runtime.services.jobs.apply(job["id"], stale)  # …and records what it read after the cancel
    row = await job_row(app, job["id"])
    assert not stale.terminal
    assert (row["state"], row["cancelled_by"]) == ("cancelled", ADMIN)


async def test_a_job_not_started_yet_is_listed_as_waiting_for_start(app: Harness, slack: FakeSlack) -> None:
    await dataset(app)
    job = await preflight(app, "train support")
    await app.command("jobs", user=ALICE)
    await app.settle()
    listed = slack.responses[-1]["text"]
    assert job["id"] in listed and "waiting for Start" in listed and "preflight" not in listed


async def test_together_end_to_end(app: Harness, slack: FakeSlack, together: FakeTogether) -> None:
    await dataset(app)
    job = await preflight(app, "train support trainer:together")
    card = card_text(slack, job)
    assert "together" in card and "Qwen/Qwen2.5-7B-Instruct" in card
    assert "estimated by Together" in card and "estimate: counted with OpenAI's tokenizer" in card
    assert len(together.calls_to("POST /v1/fine-tunes/estimate-price")) == 1
    await start(app, job)
    row = await job_row(app, job["id"])
    assert row["provider_job_id"] and len(together.calls_to("POST /v1/fine-tunes")) == 1
    sent = together.calls_to("POST /v1/fine-tunes")[0].args
    assert sent["training_method"] == {"method": "sft", "train_on_inputs": "auto"}
    together.run_to_end(row["provider_job_id"])
    await app.runtime.monitor.tick()
    await app.settle()
    row = await job_row(app, job["id"])
    assert row["state"] == "succeeded" and row["fine_tuned_model"]
    assert row["fine_tuned_model"] in card_text(slack, job)
    assert [f for f in slack.files if f.filename.endswith("-loss.png")]
    losses = await app.db.fetchall("SELECT step, train_loss FROM job_metrics WHERE job_id = ?", (job["id"],))
    fake_rows = together.fine_tunes.get(row["provider_job_id"]).metrics
    assert [(r["step"], r["train_loss"]) for r in losses] == [
        (m["train/global_step"], m["train/loss"]) for m in fake_rows
    ]
    assert row["train_loss"] == fake_rows[-1]["train/loss"] is not None
    assert "train –" not in card_text(slack, job)  # the card shows Together's losses
    await app.command(f"status {row['provider_job_id']}", user=ALICE)
    await app.settle()
    assert job["id"] in slack.responses[-1]["text"] and "succeeded" in slack.responses[-1]["text"]


async def test_a_together_job_in_user_error_ends_failed_with_togethers_message(
    app: Harness, slack: FakeSlack, together: FakeTogether
) -> None:
    await dataset(app)
    together.script_job(total_steps=2, outcome="user_error", error="Line 3: messages[0] must contain a role field")
    job = await preflight(app, "train support trainer:together")
    await start(app, job)
    together.run_to_end((await job_row(app, job["id"]))["provider_job_id"])
    await app.runtime.monitor.tick()
    await app.settle()
    row = await job_row(app, job["id"])
    assert (row["state"], row["raw_status"]) == ("failed", "user_error")
    assert "Line 3: messages[0] must contain a role field" in card_text(slack, job)


async def test_without_togethers_estimate_the_local_price_says_estimate(
    app: Harness, slack: FakeSlack, together: FakeTogether
) -> None:
    await dataset(app)
    together.price_unavailable()
    job = await preflight(app, "train support trainer:together")
    assert "estimate, prices checked" in card_text(slack, job) and "estimated by Together" not in card_text(slack, job)


async def test_together_refusal_is_explained(app: Harness, slack: FakeSlack, together: FakeTogether) -> None:
    await dataset(app)
    together.refuse_fine_tuning()
    job = await preflight(app, "train support trainer:together")
    await start(app, job)
    assert "Together" in slack.responses[-1]["text"] or "together" in slack.responses[-1]["text"]
    assert (await job_row(app, job["id"]))["state"] == "failed"


async def test_a_restart_mid_job_resumes_on_the_same_card_and_finishes_once(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    settings = make_settings(tmp_path, slack, oai, TUNELOOP_POLL_SECONDS="3600")
    async with served(settings, slack) as app:
        await dataset(app)
        job = await preflight(app, "train support")
        await start(app, job)
        provider_id = (await job_row(app, job["id"]))["provider_job_id"]
        for _ in range(3):
            oai.advance(provider_id, steps=2)
        await app.runtime.monitor.tick()
        assert (await job_row(app, job["id"]))["state"] == "running"
        thread_before = len(slack.thread(GENERAL, job["card_ts"]))
    oai.run_to_end(provider_id)
    async with served(settings, slack) as app:  # the new process's monitor picks the job up by itself
        await app.runtime.monitor.tick()
        await app.runtime.monitor.tick()
        await app.settle()
        assert (await job_row(app, job["id"]))["state"] == "succeeded"
    assert len([f for f in slack.files if f.filename.endswith("-loss.png")]) == 1
    texts = [m["text"] for m in slack.thread(GENERAL, job["card_ts"])[1:] if m["text"].startswith(":information")]
    assert len(texts) == len(set(texts)) and len(texts) > thread_before - 1
    card_updates = [c for c in slack.calls_to("chat.update") if c.args["text"].startswith(job["id"])]
    assert card_updates and {c.args["ts"] for c in card_updates} == {job["card_ts"]}
    assert (
        len([c for c in slack.calls_to("chat.postMessage") if c.args.get("blocks")]) == 1
    )  # one card, never re-posted


class RecordingPublisher:
    def __init__(self) -> None:
        self.cards: list[str] = []
        self.ends: list[str] = []

    async def update_card(self, job) -> None:
        self.cards.append(job.state)

    async def post_in_thread(self, job, text: str, *, level: str) -> None:
        pass

    async def finished(self, job, metrics) -> None:
        self.ends.append(job.state)


async def test_one_card_is_updated_at_most_once_per_interval_but_always_at_the_end(
    app: Harness, oai: FakeOpenAI
) -> None:
    await dataset(app)
    job = await preflight(app, "train support")
    await start(app, job)
    provider_id = (await job_row(app, job["id"]))["provider_job_id"]
    publisher = RecordingPublisher()
    watcher = monitor.JobMonitor(
        app.db, app.runtime.services.jobs, app.runtime.trainers, publisher, poll_seconds=3600, card_interval=0.5
    )
    for _ in range(6):  # six polls in quick succession while the job runs
        oai.advance(provider_id)
        await watcher.tick()
    assert publisher.cards == ["pending"] or publisher.cards == ["running"]
    oai.run_to_end(provider_id)
    await watcher.tick()
    assert publisher.cards[-1] == "succeeded" and len(publisher.cards) == 2
    assert publisher.ends == ["succeeded"]


async def test_a_large_training_file_shows_its_upload_progress_on_the_card(
    app: Harness, slack: FakeSlack, together: FakeTogether, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tuning.training.jobs import service

    monkeypatch.setattr(service, "UPLOAD_PROGRESS_FROM", 0)  # the test file is small; show progress anyway
    await dataset(app)
    job = await preflight(app, "train support trainer:together")
    await start(app, job)
    updates = [str(call.args.get("blocks")) for call in slack.calls_to("chat.update")]
    assert any("uploading the training file: 100%" in blocks for blocks in updates)
    assert (await job_row(app, job["id"]))["provider_job_id"]
