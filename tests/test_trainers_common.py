"""What the trainer back-ends share: types, local checks, retries, redaction, the registry."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.utils import format_datetime

import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.fakes import FakeOpenAI, FakeTogether
from providers import OpenAITrainer, TogetherTrainer, build_trainers
from providers.registry import unconfigured_hints
from providers.retry import RetryPolicy, Transient, retry_after, retrying
from providers.spec import BuildContext
from tests.trainer_helpers import Sleeps
from tuning.catalogue.entries import load_catalogue
from tuning.errors import TuningError
from tuning.training.trainers import (
    LINK_KEY,
    Capabilities,
    JobRequest,
    JobState,
    MethodNotSupported,
    Trainer,
    UnknownModel,
    UnknownTrainer,
    check_request,
    close_trainers,
    get_trainer,
)
from tuning.training.trainers.errors import redact

# -- types ------------------------------------------------------------------------------


def test_terminal_states() -> None:
    assert {s for s in JobState if s.terminal} == {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}
    assert [s.value for s in JobState] == ["pending", "running", "cancelling", "succeeded", "failed", "cancelled"]


def test_job_requests_refuse_nonsense_values() -> None:
    request = JobRequest(base_model="m", training_file_id="f", metadata={LINK_KEY: "j1"})
    assert (request.method, request.link) == ("sft", "j1")
    for bad in ({"epochs": 0}, {"batch_size": 0}, {"learning_rate": 0}, {"beta": -1}, {"method": "rl"}):
        with pytest.raises(ValidationError):
            JobRequest(base_model="m", training_file_id="f", **bad)  # type: ignore[arg-type]


CAPS = Capabilities(
    name="demo",
    methods=frozenset({"sft", "dpo"}),
    models={"big": frozenset({"sft", "dpo"}), "small": frozenset({"sft"})},
    default_model="big",
)


def test_check_request_refuses_unknown_models_and_methods() -> None:
    check_request(CAPS, JobRequest(base_model="small", training_file_id="f"))
    with pytest.raises(UnknownModel, match="`big`, `small`"):
        check_request(CAPS, JobRequest(base_model="huge", training_file_id="f"))
    with pytest.raises(MethodNotSupported, match="`big`"):
        check_request(CAPS, JobRequest(base_model="small", method="dpo", training_file_id="f"))
    sft_only = CAPS.model_copy(update={"methods": frozenset({"sft"})})
    with pytest.raises(MethodNotSupported, match="does not do DPO"):
        check_request(sft_only, JobRequest(base_model="big", method="dpo", training_file_id="f"))
    with pytest.raises(TuningError, match="beta"):
        check_request(CAPS, JobRequest(base_model="big", training_file_id="f", beta=0.1))


# -- retries -----------------------------------------------------------------------------


class Flaky:
    """Fails with the given Transients in order, then answers "ok"."""

    def __init__(self, *failures: Transient) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


async def test_retry_after_is_honoured_and_backoff_grows() -> None:
    sleeps = Sleeps()
    flaky = Flaky(Transient("429", 3.0, rate_limited=True), Transient("503"), Transient("503"))
    policy = RetryPolicy(attempts=4, base_delay=1.0, max_delay=10.0, jitter=0.0)
    assert await retrying(flaky, policy, sleep=sleeps) == "ok"
    assert sleeps.waits == [3.0, 2.0, 4.0] and flaky.calls == 4


async def test_retries_run_out_with_the_last_failure() -> None:
    sleeps = Sleeps()
    flaky = Flaky(Transient("one"), Transient("two"), Transient("three"))
    with pytest.raises(Transient, match="two"):
        await retrying(flaky, RetryPolicy(attempts=2, jitter=0.0), sleep=sleeps)
    assert flaky.calls == 2 and sleeps.waits == [0.5]


async def test_a_retry_after_beyond_the_limit_is_not_waited_for() -> None:
    sleeps = Sleeps()
    flaky = Flaky(Transient("429", 3600.0, rate_limited=True))
    with pytest.raises(Transient):
        await retrying(flaky, RetryPolicy(max_retry_after=120.0), sleep=sleeps)
    assert flaky.calls == 1 and sleeps.waits == []


async def test_recover_runs_only_after_failures_that_may_have_reached_the_server() -> None:
    looked: list[int] = []

    async def recover() -> str | None:
        looked.append(1)
        return "found" if len(looked) == 2 else None

    flaky = Flaky(Transient("429", 0.0, rate_limited=True), Transient("502"), Transient("timeout"))
    assert await retrying(flaky, RetryPolicy(attempts=5), sleep=Sleeps(), recover=recover) == "found"
    assert flaky.calls == 3 and len(looked) == 2


@given(st.integers(1, 30), st.floats(0, 1))
def test_backoff_stays_within_bounds(retry: int, rand: float) -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=8.0, jitter=0.25)
    wait = policy.backoff(retry, rand=lambda: rand)
    assert 0.75 * min(8.0, 0.5 * 2 ** (retry - 1)) <= wait <= 8.0


def test_retry_after_headers() -> None:
    assert retry_after({"Retry-After": "7"}) == 7.0
    assert retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after({"Retry-After": "-3"}) == 0.0
    assert retry_after({}) is None and retry_after({"Retry-After": "soon"}) is None
    moment = datetime(2026, 11, 21, 12, 0, 30, tzinfo=UTC)
    header = {"Retry-After": format_datetime(moment, usegmt=True)}
    assert retry_after(header, now=lambda: moment.timestamp() - 30) == 30.0


# -- redaction ----------------------------------------------------------------------------


def test_redact_removes_keys_and_key_shaped_strings() -> None:
    text = redact(
        "Incorrect API key provided: sk-proj-abc123XYZ. Header: Bearer tg-secret-1. Key tgp_v1_AbC_9",
        secrets=["tg-secret-1"],
    )
    assert "sk-proj" not in text and "tg-secret-1" not in text and "tgp_v1" not in text
    assert text.startswith("Incorrect API key provided: [redacted]")
    assert redact("x" * 1000).endswith("…") and len(redact("x" * 1000)) == 300


# -- registry -------------------------------------------------------------------------------


async def test_build_trainers_adds_together_only_with_a_key() -> None:
    async with FakeOpenAI() as oai, FakeTogether() as together:
        async with openai.AsyncOpenAI(base_url=oai.base_url, api_key="sk-test") as client:

            def context(values: dict[str, object], day: date) -> BuildContext:
                return BuildContext(values, client, load_catalogue(None), "./artifacts", lambda: day)

            only_openai = build_trainers(context({}, date(2026, 11, 21)))
            assert list(only_openai) == ["openai", "local"] and isinstance(only_openai["openai"], OpenAITrainer)

            both = build_trainers(
                context({"TOGETHER_API_KEY": "tg-key", "TOGETHER_BASE_URL": together.base_url}, date(2027, 2, 1))
            )
            assert list(both) == ["openai", "together", "local"]
            assert all(isinstance(t, Trainer) for t in both.values())
            assert isinstance(get_trainer(both, "Together"), TogetherTrainer)

            hints = unconfigured_hints({})
            with pytest.raises(UnknownTrainer, match="Available: `openai`, `local`. Together needs TOGETHER_API_KEY"):
                get_trainer(only_openai, "together", hints)
            with pytest.raises(UnknownTrainer, match="`vertex`.*`openai`, `together`"):
                get_trainer(both, "vertex", hints)

            # the `today` given to the registry reaches the OpenAI trainer
            with pytest.raises(TuningError, match="6 January 2027"):
                await both["openai"].create_job(JobRequest(base_model="gpt-4o-2024-08-06", training_file_id="f"))
            # and the Together trainer talks to the given base URL with the given key
            assert await both["together"].find_job_by_metadata(LINK_KEY, "j1") is None
            assert together.calls_to("GET /v1/fine-tunes")[0].token == "tg-key"
            await close_trainers(both)
