"""The OpenAI trainer against the fake OpenAI API, driven by the real `openai` client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import openai
import pytest
from aiohttp import web
from openai.types.fine_tuning import FineTuningJob

from bot.fakes import FakeOpenAI
from bot.fakes.server import Fault, FaultPlan, Handler
from providers import OpenAITrainer
from providers.retry import RetryPolicy, Transient
from tests.trainer_helpers import DPO_LINE, SFT_LINE, Sleeps, uploaded, write_jsonl
from tuning.errors import TuningError
from tuning.training.trainers import (
    LINK_KEY,
    JobRequest,
    JobState,
    MethodNotSupported,
    ProviderRefused,
    ProviderRejected,
    ProviderUnavailable,
    Trainer,
)

API_KEY = "sk-test-openai-trainer-key"
TODAY = date(2026, 11, 21)
CREATE = "POST /v1/fine_tuning/jobs"


class LossyOpenAI(FakeOpenAI):
    """FakeOpenAI that can serve a request and then lose the answer (the client sees a 5xx)."""

    def __init__(self) -> None:
        super().__init__()
        self._lost = FaultPlan()

    def lose_response(self, method: str, status: int = 502, times: int = 1) -> None:
        self._lost.add(method, Fault(status=status), times)

    def _middlewares(self) -> list[Any]:
        return [*super()._middlewares(), self._lose]

    @web.middleware
    async def _lose(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        fault = self._lost.take(f"{request.method} {request.path}")
        return self._fault_response(fault) if fault is not None else response


@pytest.fixture
async def oai() -> AsyncIterator[LossyOpenAI]:
    async with LossyOpenAI() as fake:
        yield fake


@pytest.fixture
async def client(oai: FakeOpenAI) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=oai.base_url, api_key=API_KEY, max_retries=0, timeout=5.0, _strict_response_validation=True
    ) as client:
        yield client


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def trainer(client: openai.AsyncOpenAI, sleeps: Sleeps) -> OpenAITrainer:
    return OpenAITrainer(client, today=lambda: TODAY, retry=RetryPolicy(attempts=3), sleep=sleeps)


def sft(file_id: str, **fields: Any) -> JobRequest:
    return JobRequest(base_model="gpt-4.1-mini-2025-04-14", training_file_id=file_id, **fields)


# -- interface and capabilities -------------------------------------------------------


def test_is_a_trainer_with_the_documented_models(trainer: OpenAITrainer) -> None:
    assert isinstance(trainer, Trainer)
    caps = trainer.capabilities()
    assert caps.name == trainer.name == "openai"
    assert caps.methods == {"sft", "dpo"}
    assert set(caps.models) == {
        "gpt-4.1-2025-04-14",
        "gpt-4.1-mini-2025-04-14",
        "gpt-4o-2024-08-06",
        "gpt-4o-mini-2024-07-18",
    }
    assert caps.models_for("dpo") == ["gpt-4.1-2025-04-14", "gpt-4.1-mini-2025-04-14"]
    assert caps.default_model in caps.models


# -- upload and create -------------------------------------------------------------------


async def test_upload_stores_the_file_for_fine_tuning(trainer: OpenAITrainer, oai: FakeOpenAI, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", SFT_LINE, count=3)
    file_id = await trainer.upload(path)
    stored = oai.files[file_id]
    assert (stored.filename, stored.purpose, stored.content) == ("train.jsonl", "fine-tune", path.read_bytes())
    assert oai.calls_to("POST /v1/files")[0].token == API_KEY


async def test_sft_job_sends_exactly_the_documented_payload(
    trainer: OpenAITrainer, oai: FakeOpenAI, tmp_path: Path
) -> None:
    training = await uploaded(trainer, tmp_path)
    validation = await uploaded(trainer, tmp_path, name="valid")
    request = sft(
        training,
        validation_file_id=validation,
        epochs=3,
        batch_size=4,
        learning_rate=1.8,
        suffix="support",
        seed=7,
        metadata={LINK_KEY: "j7"},
    )

    job = await trainer.create_job(request)

    assert oai.calls_to(CREATE)[0].args == {
        "model": "gpt-4.1-mini-2025-04-14",
        "training_file": training,
        "validation_file": validation,
        "suffix": "support",
        "seed": 7,
        "metadata": {LINK_KEY: "j7"},
        "method": {
            "type": "supervised",
            "supervised": {"hyperparameters": {"n_epochs": 3, "batch_size": 4, "learning_rate_multiplier": 1.8}},
        },
    }
    assert (job.provider, job.state, job.raw_status) == ("openai", JobState.PENDING, "validating_files")
    assert job.base_model == "gpt-4.1-mini-2025-04-14" and job.fine_tuned_model is None


async def test_dpo_job_sends_beta_and_auto_for_what_is_unset(
    trainer: OpenAITrainer, oai: FakeOpenAI, tmp_path: Path
) -> None:
    training = await uploaded(trainer, tmp_path, DPO_LINE)
    await trainer.create_job(
        JobRequest(base_model="gpt-4.1-2025-04-14", method="dpo", training_file_id=training, beta=0.2)
    )
    assert oai.calls_to(CREATE)[0].args == {
        "model": "gpt-4.1-2025-04-14",
        "training_file": training,
        "method": {
            "type": "dpo",
            "dpo": {
                "hyperparameters": {
                    "n_epochs": "auto",
                    "batch_size": "auto",
                    "learning_rate_multiplier": "auto",
                    "beta": 0.2,
                }
            },
        },
    }


# -- the life of a job ---------------------------------------------------------------------


async def test_states_follow_the_job_to_success(trainer: OpenAITrainer, oai: FakeOpenAI, tmp_path: Path) -> None:
    oai.script_job(total_steps=4)
    job = await trainer.create_job(sft(await uploaded(trainer, tmp_path), suffix="support"))
    seen = [(job.state, job.raw_status)]
    while not job.terminal:
        oai.advance(job.provider_job_id, steps=2)
        job = await trainer.get_job(job.provider_job_id)
        seen.append((job.state, job.raw_status))

    assert seen == [
        (JobState.PENDING, "validating_files"),
        (JobState.PENDING, "queued"),
        (JobState.RUNNING, "running"),
        (JobState.RUNNING, "running"),
        (JobState.RUNNING, "running"),
        (JobState.SUCCEEDED, "succeeded"),
    ]
    assert job.fine_tuned_model == oai.job(job.provider_job_id)["fine_tuned_model"]
    assert job.fine_tuned_model.startswith("ft:gpt-4.1-mini-2025-04-14:tuneloop:support:")
    assert job.trained_tokens and job.trained_tokens > 0
    assert job.finished_at is not None and job.error_code is None


async def test_a_failed_job_carries_the_providers_reason(
    trainer: OpenAITrainer, oai: FakeOpenAI, tmp_path: Path
) -> None:
    oai.script_job(total_steps=2, outcome="failed", error={"code": "out_of_capacity", "message": "No GPUs left."})
    job = await trainer.create_job(sft(await uploaded(trainer, tmp_path)))
    oai.run_to_end(job.provider_job_id)
    job = await trainer.get_job(job.provider_job_id)
    assert (job.state, job.raw_status) == (JobState.FAILED, "failed")
    assert (job.error_code, job.error_message) == ("out_of_capacity", "No GPUs left.")
    assert job.fine_tuned_model is None


async def test_a_job_cancelled_by_the_provider_is_cancelled(
    trainer: OpenAITrainer, oai: FakeOpenAI, tmp_path: Path
) -> None:
    oai.script_job(total_steps=2, outcome="cancelled")
    job = await trainer.create_job(sft(await uploaded(trainer, tmp_path)))
    oai.run_to_end(job.provider_job_id)
    assert (await trainer.get_job(job.provider_job_id)).state is JobState.CANCELLED


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("validating_files", JobState.PENDING),
        ("queued", JobState.PENDING),
        ("running", JobState.RUNNING),
        ("succeeded", JobState.SUCCEEDED),
        ("failed", JobState.FAILED),
        ("cancelled", JobState.CANCELLED),
        ("pausing", JobState.RUNNING),
        ("paused", JobState.RUNNING),
        ("something_new", JobState.RUNNING),
    ],
)
def test_every_status_maps_and_the_raw_one_is_kept(trainer: OpenAITrainer, status: str, state: JobState) -> None:
    raw = FineTuningJob.model_construct(
        id="ftjob-1",
        created_at=1_790_000_000,
        error=None,
        fine_tuned_model=None,
        finished_at=None,
        model="gpt-4o-mini-2024-07-18",
        status=status,
        trained_tokens=None,
        estimated_finish=None,
    )
    job = trainer._job(raw)
    assert (job.state, job.raw_status) == (state, status)


# -- events and metrics -----------------------------------------------------------------------


async def test_events_and_metrics_since_a_cursor_have_no_gaps_or_duplicates(
    trainer: OpenAITrainer, oai: FakeOpenAI, tmp_path: Path
) -> None:
    oai.script_job(total_steps=130)  # more than one page of 100 events
    training = await uploaded(trainer, tmp_path)
    job = await trainer.create_job(sft(training, validation_file_id=await uploaded(trainer, tmp_path, name="v")))
    job_id = job.provider_job_id

    cursor, events, metrics, calls = None, [], [], 0
    for steps in (1, 1, 3, 60, 0, 66, 1, 1):
        oai.advance(job_id, steps=steps) if steps else None
        page = await trainer.events_since(job_id, cursor)
        cursor, events, metrics, calls = page.cursor, events + page.events, metrics + page.metrics, calls + 1

    fake_events = oai.events(job_id)
    assert [e.id for e in events] == [e["id"] for e in fake_events if e["type"] == "message"]
    assert [m.step for m in metrics] == list(range(1, 131))
    last = metrics[-1]
    assert last.total_steps == 130 and last.train_loss is not None and last.valid_loss is not None
    last_metrics = [e["data"] for e in fake_events if e["type"] == "metrics"][-1]
    assert (last.train_loss, last.valid_loss) == (last_metrics["train_loss"], last_metrics["valid_loss"])
    assert last.token_accuracy == last_metrics["train_mean_token_accuracy"]
    assert set(last.extra) == {"valid_mean_token_accuracy", "full_valid_loss", "full_valid_mean_token_accuracy"}
    assert any(e.message.startswith("New fine-tuned model created") for e in events)

    quiet = await trainer.events_since(job_id, cursor)
    assert (quiet.events, quiet.metrics, quiet.cursor) == ([], [], cursor)


async def test_event_levels_and_times_are_normalised(trainer: OpenAITrainer, oai: FakeOpenAI, tmp_path: Path) -> None:
    oai.script_job(total_steps=1, outcome="failed", error="Bad data.")
    job = await trainer.create_job(sft(await uploaded(trainer, tmp_path)))
    oai.run_to_end(job.provider_job_id)
    page = await trainer.events_since(job.provider_job_id, None)
    assert page.events[-1].level == "error" and page.events[-1].message == "Bad data."
    assert all(e.created_at.tzinfo is not None for e in page.events)


# -- idempotent start ------------------------------------------------------------------------


async def test_find_job_by_metadata_finds_the_job_tuneloop_started(
    trainer: OpenAITrainer, oai: FakeOpenAI, tmp_path: Path
) -> None:
    training = await uploaded(trainer, tmp_path)
    first = await trainer.create_job(sft(training, metadata={LINK_KEY: "j1"}))
    second = await trainer.create_job(sft(training, metadata={LINK_KEY: "j2"}))
    assert (await trainer.find_job_by_metadata(LINK_KEY, "j1")).provider_job_id == first.provider_job_id
    assert (await trainer.find_job_by_metadata(LINK_KEY, "j2")).provider_job_id == second.provider_job_id
    assert await trainer.find_job_by_metadata(LINK_KEY, "j3") is None
    assert oai.calls_to("GET /v1/fine_tuning/jobs")[0].args["metadata[tuneloop_job]"] == "j1"


async def test_a_create_whose_answer_was_lost_is_found_not_repeated(
    trainer: OpenAITrainer, oai: LossyOpenAI, tmp_path: Path, sleeps: Sleeps
) -> None:
    training = await uploaded(trainer, tmp_path)
    oai.lose_response(CREATE, status=502)
    job = await trainer.create_job(sft(training, metadata={LINK_KEY: "j9"}))
    assert len(oai.fine_tuning.jobs) == 1 and len(oai.calls_to(CREATE)) == 1
    assert job.provider_job_id == next(iter(oai.fine_tuning.jobs))
    assert len(sleeps.waits) == 1


# -- refusals and local checks ------------------------------------------------------------------


async def test_an_organisation_that_may_not_fine_tune_is_told_what_openai_said(
    trainer: OpenAITrainer, oai: FakeOpenAI, tmp_path: Path
) -> None:
    training = await uploaded(trainer, tmp_path)
    oai.refuse_fine_tuning()
    with pytest.raises(ProviderRefused) as refused:
        await trainer.create_job(sft(training))
    message = str(refused.value)
    # the domain names the back-ends configured here; an adapter writes no Slack syntax
    assert "trainer:" not in message and "This organization cannot create new fine-tuning jobs." in message
    assert API_KEY not in message and refused.value.provider == "openai"


async def test_a_400_refusal_naming_the_organisation_is_a_refusal(
    trainer: OpenAITrainer, oai: FakeOpenAI, tmp_path: Path
) -> None:
    training = await uploaded(trainer, tmp_path)
    oai.refuse_fine_tuning(
        status=400, code="invalid_request", message="Your organization is not allowed to create fine-tuning jobs."
    )
    with pytest.raises(ProviderRefused, match="will not let this organisation start fine-tuning jobs"):
        await trainer.create_job(sft(training))


async def test_other_rejections_say_what_openai_said(trainer: OpenAITrainer, oai: FakeOpenAI) -> None:
    with pytest.raises(ProviderRejected, match="invalid training_file: file-missing") as rejected:
        await trainer.create_job(sft("file-missing"))
    assert "together" not in str(rejected.value)


@pytest.mark.parametrize("today", [date(2027, 1, 6), date(2027, 3, 1)])
async def test_no_new_jobs_from_6_january_2027(client: openai.AsyncOpenAI, oai: FakeOpenAI, today: date) -> None:
    trainer = OpenAITrainer(client, today=lambda: today)
    with pytest.raises(ProviderRefused) as refused:
        await trainer.create_job(sft("file-anything"))
    assert "6 January 2027" in str(refused.value) and "trainer:" not in str(refused.value)
    assert oai.calls_to(CREATE) == []


async def test_the_day_before_the_cut_off_still_trains(client: openai.AsyncOpenAI, tmp_path: Path) -> None:
    trainer = OpenAITrainer(client, today=lambda: date(2027, 1, 5))
    job = await trainer.create_job(sft(await uploaded(trainer, tmp_path)))
    assert job.state is JobState.PENDING


async def test_azure_style_deployments_can_turn_the_cut_off_off(client: openai.AsyncOpenAI, tmp_path: Path) -> None:
    trainer = OpenAITrainer(client, today=lambda: date(2027, 2, 1), closes_on=None, name="azure", label="Azure OpenAI")
    job = await trainer.create_job(sft(await uploaded(trainer, tmp_path)))
    assert job.provider == "azure"


async def test_dpo_on_a_model_without_dpo_names_the_models_that_can(trainer: OpenAITrainer, oai: FakeOpenAI) -> None:
    with pytest.raises(MethodNotSupported) as refused:
        await trainer.create_job(JobRequest(base_model="gpt-4o-mini-2024-07-18", method="dpo", training_file_id="f"))
    assert "gpt-4.1-2025-04-14" in str(refused.value) and "gpt-4o-mini" in str(refused.value)
    assert oai.calls_to(CREATE) == []


async def test_beta_without_dpo_and_overlong_suffixes_are_refused_locally(
    trainer: OpenAITrainer, oai: FakeOpenAI
) -> None:
    with pytest.raises(TuningError, match="DPO"):
        await trainer.create_job(sft("file-1", beta=0.1))
    with pytest.raises(TuningError, match="64"):
        await trainer.create_job(sft("file-1", suffix="x" * 65))
    assert oai.calls_to(CREATE) == []


# -- rate limits and outages --------------------------------------------------------------------


async def test_a_429_is_retried_after_the_servers_retry_after(
    trainer: OpenAITrainer, oai: FakeOpenAI, tmp_path: Path, sleeps: Sleeps
) -> None:
    training = await uploaded(trainer, tmp_path)
    oai.fail(CREATE, status=429, retry_after=7)
    job = await trainer.create_job(sft(training, metadata={LINK_KEY: "j1"}))
    assert job.state is JobState.PENDING
    assert sleeps.waits == [7.0]
    assert len(oai.calls_to(CREATE)) == 2
    assert oai.calls_to("GET /v1/fine_tuning/jobs") == []  # a 429 never reached the job table


async def test_5xx_until_retries_run_out_is_provider_unavailable(
    trainer: OpenAITrainer, oai: FakeOpenAI, tmp_path: Path, sleeps: Sleeps
) -> None:
    training = await uploaded(trainer, tmp_path)
    oai.fail(CREATE, status=503, times=3)
    with pytest.raises(ProviderUnavailable) as unavailable:
        await trainer.create_job(sft(training))
    assert "HTTP 503" in str(unavailable.value) and API_KEY not in str(unavailable.value)
    assert isinstance(unavailable.value.__cause__, Transient)
    assert isinstance(unavailable.value.__cause__.__cause__, openai.InternalServerError)
    assert len(oai.calls_to(CREATE)) == 3 and len(sleeps.waits) == 2


async def test_insufficient_quota_is_a_refusal_not_a_retry(
    trainer: OpenAITrainer, oai: FakeOpenAI, tmp_path: Path, sleeps: Sleeps
) -> None:
    training = await uploaded(trainer, tmp_path)
    oai.fail(CREATE, status=429, error="insufficient_quota")
    with pytest.raises(ProviderRefused, match="quota"):
        await trainer.create_job(sft(training))
    assert sleeps.waits == []


async def test_a_timeout_is_provider_unavailable(oai: FakeOpenAI) -> None:
    async with openai.AsyncOpenAI(base_url=oai.base_url, api_key=API_KEY, max_retries=0, timeout=0.2) as client:
        trainer = OpenAITrainer(client, today=lambda: TODAY)
        oai.fail("GET /v1/fine_tuning/jobs/{id}", delay=2.0)
        with pytest.raises(ProviderUnavailable, match="timed out"):
            await trainer.get_job("ftjob-1")


async def test_a_provider_message_never_carries_a_key_onwards(
    trainer: OpenAITrainer, oai: FakeOpenAI, tmp_path: Path
) -> None:
    training = await uploaded(trainer, tmp_path)
    oai.fail(CREATE, status=400, error="sk-live-0123456789abcdef")
    with pytest.raises(ProviderRejected) as rejected:
        await trainer.create_job(sft(training))
    assert "sk-live" not in str(rejected.value) and "[redacted]" in str(rejected.value)
