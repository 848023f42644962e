"""`format:kto` datasets train as `method:kto` jobs on the self-hosted back-ends only, on the CPU here."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.fakes import FakeOpenAI, FakeSlack
from tests.conftest import ADMIN, GENERAL, Harness, make_settings, served
from tests.dataset_helpers import add_example
from tests.test_e2e_jobs import card_text, job_row, preflight, start
from tests.waiting import REAL_WAIT, eventually
from tuning.training.datasets.specs import BuildRequest

pytestmark = pytest.mark.usefixtures("fast_cards_offline")


@pytest.fixture
async def app(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI) -> AsyncIterator[Harness]:
    settings = make_settings(
        tmp_path,
        slack,
        oai,
        TUNELOOP_POLL_SECONDS="3600",
        TUNELOOP_GPUS_PER_JOB="0",
        TUNELOOP_ARTIFACTS=str(tmp_path / "artifacts"),
    )
    async with served(settings, slack) as harness:
        yield harness


async def kto_dataset(app: Harness) -> str:
    for index in range(8):
        await add_example(
            app.db, question=f"How do I do task {index}?", answer=f"Open the wiki page {index}.", channel=GENERAL
        )
    for index in range(6):
        await add_example(
            app.db,
            question=f"How do I do chore {index}?",
            answer="No idea, sorry.",
            state="candidate",
            up=0,
            down=2,
            channel=GENERAL,
        )
    summary = await app.runtime.services.datasets.build(BuildRequest(name="votes", format="kto", val=0.2))
    assert summary.kto is not None and summary.kto.desirable and summary.kto.undesirable
    return summary.ref


async def test_a_kto_job_trains_with_the_cards_weights_on_the_cpu(
    app: Harness, slack: FakeSlack, tiny_model: Path
) -> None:
    ref = await kto_dataset(app)
    summary = await app.runtime.services.datasets.show(ref)
    job = await preflight(app, f"train votes trainer:local model:{tiny_model} epochs:1 batch:2")
    assert (job["state"], job["method"]) == ("preflight", "kto") and "KTO" in card_text(slack, job)
    await start(app, job)

    async def finished() -> bool:
        await app.runtime.monitor.tick()
        return (await job_row(app, job["id"]))["state"] in ("succeeded", "failed", "cancelled")

    await eventually(finished, timeout=REAL_WAIT, what="the KTO job ending")
    done = await job_row(app, job["id"])
    assert done["state"] == "succeeded", done["error_message"]
    manifest = json.loads(
        (
            Path(app.runtime.settings.artifacts_root) / "adapters" / done["fine_tuned_model"] / "manifest.json"
        ).read_text()
    )
    assert manifest["hyperparameters"]["method"] == "kto"
    assert manifest["hyperparameters"]["desirable_weight"] == summary.kto.desirable_weight
    assert manifest["hyperparameters"]["undesirable_weight"] == summary.kto.undesirable_weight
    assert done["gpu_hours"] == 0  # TUNELOOP_GPUS_PER_JOB=0: trained on the CPU, no GPU held


async def test_hosted_back_ends_refuse_kto_and_say_where_it_trains(app: Harness, slack: FakeSlack) -> None:
    await kto_dataset(app)
    status, _ = await app.command("train votes trainer:openai", user=ADMIN)
    await app.settle()
    said = slack.responses[-1]["text"]
    assert status == 200 and "does not do KTO training" in said and "`trainer:local` or `trainer:ray`" in said
    assert await app.db.fetchval("SELECT count(*) FROM jobs") == 0
