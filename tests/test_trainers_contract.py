"""One contract for every trainer back-end: what Tuneloop's jobs, monitor and cards rely on.

Run against all four: openai and together on their fakes (built from the providers' documents), local
and ray with the real training program on a tiny model (ray on a real local head). The failures run
against the back-ends a test can make fail (tests/trainer_backends.py says why ray's use its fake Jobs
API); `local` has no credentials and no server to lose, so those tests do not list it. Each kind of
failure is the same domain error everywhere: the monitor retries `ProviderUnavailable` and stops on
the others, so a back-end that words a bad key as "unavailable" would retry it forever.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from tests.selfhost_helpers import offline_env
from tests.trainer_backends import ALL, SERVED, WRONG, Backend, Fixtures, Served, backends, ray_head_process
from tuning.errors import NotFound
from tuning.training.trainers import (
    LINK_KEY,
    JobState,
    ProviderRefused,
    ProviderRejected,
    ProviderUnavailable,
    Trainer,
    UnknownModel,
)

UNKNOWN_JOB = "jnope404"


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in offline_env().items():
        monkeypatch.setenv(key, value)


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from ray_head_process(tmp_path_factory.mktemp("ray"))


@pytest.fixture(params=ALL)
async def backend(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Backend]:
    async for built in backends(request.param, Fixtures(request, tmp_path), served=False):
        yield built


@pytest.fixture(params=SERVED)
async def served(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Served]:
    async for built in backends(request.param, Fixtures(request, tmp_path), served=True):
        assert isinstance(built, Served)
        yield built


# -- create, describe, events and metrics -------------------------------------------------------------


async def test_a_job_is_created_found_described_and_followed_to_success_each_event_once(backend: Backend) -> None:
    """One job through its life (a real training run on the self-hosted back-ends, so only one)."""
    trainer = backend.trainer
    request = await backend.request("jcontract1")
    job = await trainer.create_job(request)
    job_id = job.provider_job_id
    assert isinstance(trainer, Trainer) and job.provider == trainer.name == backend.name and job_id
    assert job.state in (JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED)
    found = await trainer.find_job_by_metadata(LINK_KEY, "jcontract1")
    assert found is not None and found.provider_job_id == job_id
    assert await trainer.find_job_by_metadata(LINK_KEY, "jcontract-none") is None

    await backend.run_a_while(job_id)
    first = await trainer.events_since(job_id, None)
    await backend.finish(job_id)
    done = await trainer.get_job(job_id)
    assert done.state is JobState.SUCCEEDED, done.error_message
    assert (done.provider_job_id, done.base_model, done.error_code) == (job_id, request.base_model, None)
    assert done.fine_tuned_model and done.finished_at is not None
    await backend.check_output(done)

    rest = await trainer.events_since(job_id, first.cursor)
    points = first.metrics + rest.metrics
    steps = [point.step for point in points]
    assert first.metrics and steps == sorted(set(steps)), steps  # every step once, oldest first
    assert all(point.train_loss is not None for point in points)
    events = first.events + rest.events
    assert events and all(event.created_at.tzinfo is not None for event in events)
    assert len({event.id for event in events}) == len(events)
    quiet = await trainer.events_since(job_id, rest.cursor)
    assert (quiet.events, quiet.metrics) == ([], [])
    assert (await trainer.cancel(job_id)).state is JobState.SUCCEEDED  # cancelling a finished job changes nothing
    assert (await trainer.get_job(job_id)).state is JobState.SUCCEEDED


async def test_a_running_job_is_cancelled_and_cancelling_again_changes_nothing(backend: Backend) -> None:
    trainer = backend.trainer
    job_id = (await trainer.create_job(await backend.request("jcontract3", long=True))).provider_job_id
    await backend.run_a_while(job_id)
    assert (await trainer.get_job(job_id)).state is JobState.RUNNING
    asked = await trainer.cancel(job_id)
    assert asked.state in (JobState.CANCELLING, JobState.CANCELLED)
    await backend.finish(job_id)
    assert (await trainer.get_job(job_id)).state is JobState.CANCELLED
    assert (await trainer.cancel(job_id)).state is JobState.CANCELLED


# -- each kind of error, the same domain error everywhere ---------------------------------------------


async def test_an_unknown_job_is_not_found(backend: Backend) -> None:
    trainer = backend.trainer
    for call in (trainer.get_job, trainer.cancel, lambda job_id: trainer.events_since(job_id, None)):
        with pytest.raises(NotFound, match=UNKNOWN_JOB):
            await call(UNKNOWN_JOB)


async def test_a_model_it_cannot_train_is_refused_before_anything_starts(backend: Backend) -> None:
    request = (await backend.request("jcontract5")).model_copy(update={"base_model": "someone/unknown-7b"})
    with pytest.raises(UnknownModel, match="someone/unknown-7b") as refused:
        await backend.trainer.create_job(request)
    assert refused.value.provider == backend.name and backend.trainer.capabilities().default_model in str(refused.value)
    assert await backend.trainer.find_job_by_metadata(LINK_KEY, "jcontract5") is None


async def test_a_key_the_provider_does_not_accept_is_a_refusal_wherever_it_is_met(served: Served) -> None:
    job_id = (await served.trainer.create_job(await served.request("jcontract6"))).provider_job_id
    request = await served.request("jcontract7")
    wrong = served.with_key(WRONG)
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: wrong.create_job(request),
        lambda: wrong.get_job(job_id),
        lambda: wrong.events_since(job_id, None),
        lambda: wrong.cancel(job_id),
    ]
    for call in calls:
        with pytest.raises(ProviderRefused) as refused:
            await call()
        assert refused.value.provider == served.name and WRONG not in str(refused.value)
    assert (await served.trainer.get_job(job_id)).state is not JobState.CANCELLED


async def test_an_outage_that_outlasts_the_retries_is_unavailable(served: Served) -> None:
    job_id = (await served.trainer.create_job(await served.request("jcontract8"))).provider_job_id
    served.server.fail(served.describe_call, status=503, times=10)
    with pytest.raises(ProviderUnavailable) as unavailable:
        await served.trainer.get_job(job_id)
    assert unavailable.value.provider == served.name


async def test_a_provider_that_cannot_be_reached_is_unavailable(served: Served) -> None:
    job_id = (await served.trainer.create_job(await served.request("jcontract9"))).provider_job_id
    await served.server.stop()
    with pytest.raises(ProviderUnavailable) as unavailable:
        await served.trainer.get_job(job_id)
    assert unavailable.value.provider == served.name


async def test_a_request_the_provider_rejects_is_rejected_with_its_reason(served: Served) -> None:
    request = await served.request("jcontract10")
    served.server.fail(served.create_call, status=400, error="bad_hyperparameter")
    with pytest.raises(ProviderRejected, match="bad_hyperparameter") as rejected:
        await served.trainer.create_job(request)
    assert rejected.value.provider == served.name
    assert await served.trainer.find_job_by_metadata(LINK_KEY, "jcontract10") is None
