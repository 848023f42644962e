"""The Together trainer against the fake Together API, over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.fakes import FakeTogether
from providers import TogetherTrainer
from providers.retry import RetryPolicy, Transient
from providers.together_trainer import (
    MAX_SUFFIX,
    _after_cursor,
    fingerprint,
    links_to,
    together_suffix,
)
from tests.trainer_helpers import DPO_LINE, SFT_LINE, Sleeps, uploaded, write_jsonl
from tuning.catalogue.entries import packaged_catalogue
from tuning.errors import TuningError
from tuning.training.trainers import (
    LINK_KEY,
    JobRequest,
    JobState,
    LoraSettings,
    MethodNotSupported,
    ProviderRefused,
    ProviderRejected,
    ProviderUnavailable,
    Trainer,
)

API_KEY = "tg-test-key-0123456789abcdef"
LLAMA = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
QWEN = "Qwen/Qwen2.5-7B-Instruct"
CREATE = "POST /v1/fine-tunes"


@pytest.fixture
async def together() -> AsyncIterator[FakeTogether]:
    async with FakeTogether(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def trainer(together: FakeTogether, sleeps: Sleeps) -> AsyncIterator[TogetherTrainer]:
    trainer = TogetherTrainer(API_KEY, together.base_url, retry=RetryPolicy(attempts=3), sleep=sleeps, timeout=5.0)
    yield trainer
    await trainer.close()


def sft(file_id: str, **fields: Any) -> JobRequest:
    return JobRequest(base_model=LLAMA, training_file_id=file_id, **fields)


async def follow(
    trainer: TogetherTrainer, together: FakeTogether, job_id: str, steps: int = 5
) -> list[tuple[JobState, str]]:
    """Advance the fake one stage at a time and collect (state, raw status) until the job ends."""
    job = await trainer.get_job(job_id)
    seen = [(job.state, job.raw_status)]
    while not job.terminal:
        together.advance(job_id, steps=steps)
        job = await trainer.get_job(job_id)
        seen.append((job.state, job.raw_status))
    return seen


# -- interface ----------------------------------------------------------------------


def test_is_a_trainer_with_open_models_for_sft_and_dpo(trainer: TogetherTrainer) -> None:
    assert isinstance(trainer, Trainer)
    caps = trainer.capabilities()
    assert (caps.name, caps.methods, caps.default_model) == ("together", {"sft", "dpo"}, QWEN)
    assert set(caps.models) == set(packaged_catalogue().trainable("together"))
    assert all(caps.supports(model, "dpo") for model in caps.models)


def test_the_default_base_is_one_together_can_deploy() -> None:
    """A model tuned from a -Reference base Together cannot serve could never be evaluated or promoted."""
    catalogue = packaged_catalogue()
    assert catalogue.deployable(catalogue.default_model("together")) and not catalogue.deployable(LLAMA)


# -- upload and create -------------------------------------------------------------------


async def test_upload_is_multipart_with_the_documented_fields(
    trainer: TogetherTrainer, together: FakeTogether, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", SFT_LINE, count=3)
    file_id = await trainer.upload(path)
    call = together.calls_to("POST /v1/files/upload")[0]
    assert call.token == API_KEY
    assert (call.args["file"].filename, call.args["file"].content) == ("train.jsonl", path.read_bytes())
    assert {k: call.args[k] for k in ("file_name", "purpose", "file_type")} == {
        "file_name": "train.jsonl",
        "purpose": "fine-tune",
        "file_type": "jsonl",
    }
    assert together.files[file_id].to_dict()["LineCount"] == 3


async def test_sft_job_sends_exactly_the_documented_payload(
    trainer: TogetherTrainer, together: FakeTogether, tmp_path: Path
) -> None:
    training = await uploaded(trainer, tmp_path)
    validation = await uploaded(trainer, tmp_path, name="valid")
    request = sft(
        training,
        validation_file_id=validation,
        epochs=3,
        batch_size=8,
        learning_rate=2e-5,
        suffix="support bot",
        seed=7,
        metadata={LINK_KEY: "j7", "dataset": "faq@2"},
    )

    job = await trainer.create_job(request)

    assert together.calls_to(CREATE)[0].args == {
        "model": LLAMA,
        "training_file": training,
        "validation_file": validation,
        "n_epochs": 3,
        "n_evals": 4,
        "batch_size": 8,
        "learning_rate": 2e-5,
        "suffix": "support-bot-tl-j7",
        "random_seed": 7,
        "training_type": {
            "type": "Lora",
            "lora_r": 16,
            "lora_alpha": 32,
            "lora_dropout": 0.05,
            "lora_trainable_modules": "all-linear",
        },
        "training_method": {"method": "sft", "train_on_inputs": "auto"},
    }
    assert (job.provider, job.state, job.raw_status, job.base_model) == ("together", JobState.PENDING, "pending", LLAMA)
    assert job.provider_job_id.startswith("ft-") and job.fine_tuned_model is None


async def test_dpo_job_sends_dpo_beta_and_leaves_the_rest_to_together(together: FakeTogether, tmp_path: Path) -> None:
    trainer = TogetherTrainer(API_KEY, together.base_url, lora=LoraSettings(r=8, alpha=16, dropout=0.0))
    training = await uploaded(trainer, tmp_path, DPO_LINE)
    await trainer.create_job(JobRequest(base_model=QWEN, method="dpo", training_file_id=training, beta=0.2))
    await trainer.close()
    assert together.calls_to(CREATE)[0].args == {
        "model": QWEN,
        "training_file": training,
        "training_type": {
            "type": "Lora",
            "lora_r": 8,
            "lora_alpha": 16,
            "lora_dropout": 0.0,
            "lora_trainable_modules": "all-linear",
        },
        "training_method": {"method": "dpo", "dpo_beta": 0.2},
    }


@pytest.mark.parametrize(
    ("method", "param"),
    [
        ({"method": "sft"}, "training_method.train_on_inputs"),
        ({"train_on_inputs": "auto"}, "training_method.method"),
    ],
)
async def test_the_fake_refuses_a_payload_missing_what_the_spec_requires(
    trainer: TogetherTrainer, together: FakeTogether, tmp_path: Path, method: dict[str, Any], param: str
) -> None:
    """What the trainer used to send (no train_on_inputs) is what the real API answers 400 to."""
    training = await uploaded(trainer, tmp_path)
    body = {"model": QWEN, "training_file": training, "training_method": method}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        async with http.post(together.base_url + "/fine-tunes", json=body) as response:
            assert response.status == 400
            error = (await response.json())["error"]
    assert (error["param"], error["type"]) == (param, "invalid_request_error") and param in error["message"]
    assert together.jobs() == []


async def test_together_rejections_are_passed_on(trainer: TogetherTrainer, tmp_path: Path) -> None:
    training = await uploaded(trainer, tmp_path, SFT_LINE)
    with pytest.raises(ProviderRejected, match="not a DPO example"):
        await trainer.create_job(JobRequest(base_model=QWEN, method="dpo", training_file_id=training))


# -- the life of a job ----------------------------------------------------------------------


async def test_states_follow_the_job_to_success(
    trainer: TogetherTrainer, together: FakeTogether, tmp_path: Path
) -> None:
    together.script_job(total_steps=4)
    job = await trainer.create_job(sft(await uploaded(trainer, tmp_path), epochs=2, suffix="support"))
    assert await follow(trainer, together, job.provider_job_id, steps=2) == [
        (JobState.PENDING, "pending"),
        (JobState.PENDING, "queued"),
        (JobState.RUNNING, "running"),
        (JobState.RUNNING, "running"),
        (JobState.RUNNING, "running"),
        (JobState.RUNNING, "compressing"),
        (JobState.RUNNING, "uploading"),
        (JobState.SUCCEEDED, "completed"),
    ]
    done = await trainer.get_job(job.provider_job_id)
    fake = together.job(job.provider_job_id)
    assert done.fine_tuned_model == fake["model_output_name"]
    assert done.fine_tuned_model == f"tuneloop-test/Meta-Llama-3.1-8B-Instruct-Reference:support:{done.provider_job_id}"
    assert done.trained_tokens == fake["token_count"] and done.total_steps == 4
    assert done.finished_at is not None and done.error_message is None


async def test_a_failed_job_carries_the_error_event(
    trainer: TogetherTrainer, together: FakeTogether, tmp_path: Path
) -> None:
    together.script_job(total_steps=2, outcome="error", error="CUDA out of memory at step 2.")
    job = await trainer.create_job(sft(await uploaded(trainer, tmp_path)))
    seen = await follow(trainer, together, job.provider_job_id)
    assert seen[-1] == (JobState.FAILED, "error")
    failed = await trainer.get_job(job.provider_job_id)
    assert (failed.error_code, failed.error_message) == ("job_error", "CUDA out of memory at step 2.")
    assert failed.fine_tuned_model is None


async def test_a_user_error_job_ends_failed_with_togethers_message(
    trainer: TogetherTrainer, together: FakeTogether, tmp_path: Path
) -> None:
    together.script_job(total_steps=2, outcome="user_error", error="Line 7: messages[1] must contain a role field")
    job = await trainer.create_job(sft(await uploaded(trainer, tmp_path)))
    seen = await follow(trainer, together, job.provider_job_id)
    assert seen[-1] == (JobState.FAILED, "user_error")
    failed = await trainer.get_job(job.provider_job_id)
    assert failed.error_message == "Line 7: messages[1] must contain a role field" and failed.terminal


async def test_a_job_cancelled_by_together_passes_through_cancelling(
    trainer: TogetherTrainer, together: FakeTogether, tmp_path: Path
) -> None:
    together.script_job(total_steps=2, outcome="cancelled")
    job = await trainer.create_job(sft(await uploaded(trainer, tmp_path)))
    seen = await follow(trainer, together, job.provider_job_id)
    assert seen[-2:] == [(JobState.CANCELLING, "cancel_requested"), (JobState.CANCELLED, "cancelled")]


# -- events and metrics ------------------------------------------------------------------------


async def test_events_and_metrics_since_a_cursor_have_no_gaps_or_duplicates(
    trainer: TogetherTrainer, together: FakeTogether, tmp_path: Path
) -> None:
    """Messages come from the events, losses from GET /fine-tunes/{id}/metrics, each exactly once."""
    together.script_job(total_steps=12)
    training = await uploaded(trainer, tmp_path)
    validation = await uploaded(trainer, tmp_path, name="v")
    job = await trainer.create_job(sft(training, epochs=4, validation_file_id=validation))
    job_id = job.provider_job_id

    cursor, events, metrics = None, [], []
    for steps in (1, 1, 2, 0, 5, 5, 1, 1, 1, 1):
        together.advance(job_id, steps=steps) if steps else None
        page = await trainer.events_since(job_id, cursor)
        cursor, events, metrics = page.cursor, events + page.events, metrics + page.metrics

    fake_events = together.events(job_id)
    assert [e.type for e in events] == [e["type"] for e in fake_events]
    assert [e.message for e in events] == [e["message"] for e in fake_events]
    assert len({e.id for e in events}) == len(events)
    rows = together.fine_tunes.get(job_id).metrics
    assert [m.step for m in metrics] == list(range(1, 13)) == [r["train/global_step"] for r in rows]
    assert [(m.train_loss, m.valid_loss) for m in metrics] == [(r["train/loss"], r.get("eval/loss")) for r in rows]
    assert all(m.train_loss is not None and "train/learning_rate" in m.extra for m in metrics)
    assert [m.step for m in metrics if m.valid_loss is not None] == [3, 6, 9, 12]
    assert metrics[-1].total_steps == 12
    assert events[-1].type == "job_complete" and all(e.level == "info" for e in events)
    asked = [call.args.get("global_step_from") for call in together.calls_to("GET /v1/fine-tunes/{id}/metrics")]
    assert asked[0] == 1 and asked[-1] == 13  # in the JSON body: the fake refuses a query parameter

    quiet = await trainer.events_since(job_id, cursor)
    assert (quiet.events, quiet.metrics, quiet.cursor) == ([], [], cursor)


async def test_the_fake_takes_metrics_filters_in_a_json_body_as_the_document_declares(
    trainer: TogetherTrainer, together: FakeTogether, tmp_path: Path
) -> None:
    job = await trainer.create_job(sft(await uploaded(trainer, tmp_path)))
    together.run_to_end(job.provider_job_id)
    url = f"{together.base_url}/fine-tunes/{job.provider_job_id}/metrics"
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(url, params={"global_step_from": "3"}) as refused:
            assert refused.status == 400 and "global_step_from" in await refused.text()
        async with http.get(url, json={"global_step_from": 3}) as answered:
            rows = (await answered.json())["metrics"]
    assert rows and rows[0]["train/global_step"] == 3


async def test_a_cursor_stored_before_metrics_were_read_still_works(
    trainer: TogetherTrainer, together: FakeTogether, tmp_path: Path
) -> None:
    job = await trainer.create_job(sft(await uploaded(trainer, tmp_path)))
    together.run_to_end(job.provider_job_id)
    first = await trainer.events_since(job.provider_job_id, None)
    old_style = (first.cursor or "").split(";")[0]  # `<count>:<fingerprint>`, as stored before
    again = await trainer.events_since(job.provider_job_id, old_style)
    assert again.events == [] and [m.step for m in again.metrics] == [m.step for m in first.metrics]


def test_the_cursor_survives_a_reordered_or_shortened_list() -> None:
    events = [{"created_at": f"2026-11-21T12:00:0{i}.000Z", "type": "t", "message": f"m{i}"} for i in range(6)]
    cursor = f"3:{fingerprint(events[2])}"
    assert _after_cursor(events, cursor) == events[3:]
    assert _after_cursor(events[1:], cursor) == events[3:]  # the oldest event dropped off the list
    assert _after_cursor(events, "3:unknown") == events  # never seen: everything again
    assert _after_cursor(events, None) == events


@given(st.lists(st.integers(0, 8), min_size=1, max_size=8))
def test_reading_in_any_number_of_calls_yields_every_event_once(cuts: list[int]) -> None:
    events = [{"created_at": f"2026-11-21T12:00:{i:02d}.000Z", "type": "t", "message": f"m{i}"} for i in range(8)]
    seen, cursor, shown = [], None, 0
    for cut in sorted(cuts):
        visible = events[:cut]
        seen += _after_cursor(visible, cursor)
        cursor = f"{len(visible)}:{fingerprint(visible[-1])}" if visible else cursor
        shown = max(shown, cut)
    assert seen == events[:shown]


# -- idempotent start ----------------------------------------------------------------------------


async def test_find_job_by_metadata_matches_the_link_carried_in_the_suffix(
    trainer: TogetherTrainer, together: FakeTogether, tmp_path: Path
) -> None:
    training = await uploaded(trainer, tmp_path)
    first = await trainer.create_job(sft(training, suffix="support", metadata={LINK_KEY: "j1"}))
    second = await trainer.create_job(sft(training, metadata={LINK_KEY: "j11"}))
    assert (await trainer.find_job_by_metadata(LINK_KEY, "j1")).provider_job_id == first.provider_job_id
    assert (await trainer.find_job_by_metadata(LINK_KEY, "j11")).provider_job_id == second.provider_job_id
    assert await trainer.find_job_by_metadata(LINK_KEY, "j2") is None
    with pytest.raises(ValueError, match=LINK_KEY):
        await trainer.find_job_by_metadata("dataset", "faq")


async def test_a_create_whose_answer_was_lost_is_found_not_repeated(
    trainer: TogetherTrainer, together: FakeTogether, tmp_path: Path, sleeps: Sleeps
) -> None:
    training = await uploaded(trainer, tmp_path)
    together.lose_response(CREATE, status=502)
    job = await trainer.create_job(sft(training, metadata={LINK_KEY: "j9"}))
    assert [j.id for j in together.jobs()] == [job.provider_job_id]
    assert len(together.calls_to(CREATE)) == 1 and len(sleeps.waits) == 1


async def test_without_a_link_a_lost_answer_is_simply_retried(
    trainer: TogetherTrainer, together: FakeTogether, tmp_path: Path
) -> None:
    training = await uploaded(trainer, tmp_path)
    together.lose_response(CREATE, status=500)
    await trainer.create_job(sft(training))
    assert len(together.calls_to(CREATE)) == 2 and together.calls_to("GET /v1/fine-tunes") == []


@given(suffix=st.one_of(st.none(), st.text(max_size=80)), link=st.from_regex(r"[A-Za-z0-9]{1,12}", fullmatch=True))
def test_the_suffix_always_fits_and_always_carries_the_link(suffix: str | None, link: str) -> None:
    made = together_suffix(suffix, link)
    assert made is not None and len(made) <= MAX_SUFFIX
    assert all(c.isalnum() or c == "-" for c in made)
    assert links_to({"suffix": made}, link)
    assert not links_to({"suffix": made}, link + "0")
    assert links_to({"model_output_name": f"acct/Base:{made}:ft-1"}, link)


# -- refusals and local checks ------------------------------------------------------------------


async def test_an_account_together_refuses_gets_a_plain_refusal(
    trainer: TogetherTrainer, together: FakeTogether, tmp_path: Path
) -> None:
    training = await uploaded(trainer, tmp_path)
    together.refuse_fine_tuning()
    with pytest.raises(ProviderRefused, match="Insufficient balance"):
        await trainer.create_job(sft(training))


async def test_dpo_on_a_model_configured_without_dpo_is_refused(together: FakeTogether) -> None:
    models = {LLAMA: frozenset({"sft", "dpo"}), "togethercomputer/llama-2-7b-chat": frozenset({"sft"})}
    trainer = TogetherTrainer(API_KEY, together.base_url, models=models)
    with pytest.raises(MethodNotSupported) as refused:
        await trainer.create_job(
            JobRequest(base_model="togethercomputer/llama-2-7b-chat", method="dpo", training_file_id="file-1")
        )
    await trainer.close()
    assert LLAMA in str(refused.value)
    assert together.calls_to(CREATE) == []


async def test_beta_without_dpo_is_refused_locally(trainer: TogetherTrainer) -> None:
    with pytest.raises(TuningError, match="DPO"):
        await trainer.create_job(sft("file-1", beta=0.1))


# -- rate limits and outages ---------------------------------------------------------------------


async def test_a_429_is_retried_after_the_servers_retry_after(
    trainer: TogetherTrainer, together: FakeTogether, tmp_path: Path, sleeps: Sleeps
) -> None:
    training = await uploaded(trainer, tmp_path)
    together.fail(CREATE, status=429, retry_after=7)
    job = await trainer.create_job(sft(training, metadata={LINK_KEY: "j1"}))
    assert job.state is JobState.PENDING and sleeps.waits == [7.0]
    assert len(together.calls_to(CREATE)) == 2
    assert together.calls_to("GET /v1/fine-tunes") == []  # a 429 needs no look-up


async def test_5xx_until_retries_run_out_is_provider_unavailable(
    trainer: TogetherTrainer, together: FakeTogether, sleeps: Sleeps
) -> None:
    together.fail("GET /v1/fine-tunes/{id}", status=503, times=3)
    with pytest.raises(ProviderUnavailable, match="HTTP 503") as unavailable:
        await trainer.get_job("ft-1")
    assert isinstance(unavailable.value.__cause__, Transient)
    assert len(together.calls_to("GET /v1/fine-tunes/{id}")) == 3
    assert len(sleeps.waits) == 2 and all(0 < wait <= 1.0 for wait in sleeps.waits)


async def test_a_timeout_is_retried_then_succeeds(together: FakeTogether, tmp_path: Path) -> None:
    trainer = TogetherTrainer(API_KEY, together.base_url, timeout=0.3, retry=RetryPolicy(attempts=2, base_delay=0.01))
    training = await uploaded(trainer, tmp_path)
    job = await trainer.create_job(sft(training))
    together.fail("GET /v1/fine-tunes/{id}", delay=2.0)
    assert (await trainer.get_job(job.provider_job_id)).provider_job_id == job.provider_job_id
    together.fail("GET /v1/fine-tunes/{id}", delay=2.0, times=2)
    with pytest.raises(ProviderUnavailable, match="timed out"):
        await trainer.get_job(job.provider_job_id)
    await trainer.close()


# -- price estimate ------------------------------------------------------------------------------


async def test_estimate_price_asks_together(trainer: TogetherTrainer, together: FakeTogether, tmp_path: Path) -> None:
    training = await uploaded(trainer, tmp_path)
    price = await trainer.estimate_price(sft(training, epochs=2))
    assert price is not None and price > 0
    assert together.calls_to("POST /v1/fine-tunes/estimate-price")[0].args == {
        "training_file": training,
        "model": LLAMA,
        "n_epochs": 2,
        "training_method": {"method": "sft", "train_on_inputs": "auto"},
        "training_type": {
            "type": "Lora",
            "lora_r": 16,
            "lora_alpha": 32,
            "lora_dropout": 0.05,
            "lora_trainable_modules": "all-linear",
        },
    }


async def test_estimate_price_is_none_when_together_cannot_say(
    trainer: TogetherTrainer, together: FakeTogether, tmp_path: Path
) -> None:
    training = await uploaded(trainer, tmp_path)
    together.price_unavailable()
    assert await trainer.estimate_price(sft(training)) is None
    together.fail("POST /v1/fine-tunes/estimate-price", status=500, times=3)
    assert await trainer.estimate_price(sft(training)) is None
    assert await trainer.estimate_price(sft("file-missing")) is None
    assert await trainer.estimate_price(JobRequest(base_model="nope", training_file_id=training)) is None


# -- the fake's inference endpoint (used by evaluation and promotion) ------------------------------


async def test_chat_answers_for_a_started_endpoints_name_only(
    trainer: TogetherTrainer, together: FakeTogether, tmp_path: Path
) -> None:
    job = await trainer.create_job(JobRequest(base_model=QWEN, training_file_id=await uploaded(trainer, tmp_path)))
    output = together.run_to_end(job.provider_job_id)["model_output_name"]
    endpoint = together.endpoints.create(
        {"model": output, "hardware": "1x_nvidia_h100_80gb_sxm", "autoscaling": {"min_replicas": 1, "max_replicas": 1}}
    )
    async with openai.AsyncOpenAI(
        base_url=together.base_url, api_key=API_KEY, max_retries=0, _strict_response_validation=True
    ) as client:
        messages: list[Any] = [{"role": "user", "content": "ping"}]
        for model in (output, endpoint.name):  # the output name never answers; the endpoint not yet
            with pytest.raises(openai.BadRequestError) as refused:
                await client.chat.completions.create(model=model, messages=messages)
            assert refused.value.code == "model_not_available" and "non-serverless" in refused.value.message
        together.advance_endpoint(endpoint.id)
        together.advance_endpoint(endpoint.id)
        together.reply_with("pong")
        answer = await client.chat.completions.create(model=endpoint.name, messages=messages)
        assert answer.choices[0].message.content == "pong"
        together.reply_with("pong, streamed")  # the bot streams its answers: the endpoint does too
        stream = await client.chat.completions.create(model=endpoint.name, messages=messages, stream=True)
        assert (
            "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
            == "pong, streamed"
        )
        together.idle_stop(endpoint.id)
        with pytest.raises(openai.BadRequestError):
            await client.chat.completions.create(model=endpoint.name, messages=messages)


# -- uploads -------------------------------------------------------------------------------------------


async def test_a_large_upload_streams_and_reports_progress(
    trainer: TogetherTrainer, together: FakeTogether, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "big.jsonl", SFT_LINE, count=30_000)  # about 4 MB: several chunks
    seen: list[tuple[int, int]] = []

    async def progress(sent: int, total: int) -> None:
        seen.append((sent, total))

    file_id = await trainer.upload(path, progress=progress)
    size = path.stat().st_size
    assert together.files[file_id].content == path.read_bytes()
    assert len(seen) > 1 and seen[-1] == (size, size) and [s for s, _ in seen] == sorted({s for s, _ in seen})


def test_the_http_timeout_is_per_read_not_total() -> None:
    from providers.together_http import TogetherHTTP

    timeout = TogetherHTTP("tg-test-key", timeout=30.0)._timeout
    assert (timeout.total, timeout.sock_read, timeout.sock_connect) == (None, 30.0, 30.0)


async def test_a_provider_message_never_carries_the_key_onwards(
    trainer: TogetherTrainer, together: FakeTogether, tmp_path: Path
) -> None:
    training = await uploaded(trainer, tmp_path)
    together.fail(CREATE, status=400, error=f"bad request from {API_KEY}")
    with pytest.raises(ProviderRejected) as rejected:
        await trainer.create_job(sft(training))
    assert API_KEY not in str(rejected.value) and "[redacted]" in str(rejected.value)
