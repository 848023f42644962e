"""The four trainer back-ends as the contract suite (test_trainers_contract.py) drives them.

A `Backend` holds a trainer, makes a valid request for it and moves its jobs: the fakes by
script, `local` and `ray` by the real training program on a tiny model (ray on a real local head).
A `Served` back-end sits behind an HTTP API the test controls, so it can also be made to fail:
a key it does not accept, an outage, a request it rejects. The real Ray head takes no token and
cannot be told to fail, so `ray` is served by the fake Jobs API for those (bot/fakes/ray_jobs.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import openai
import pytest

from bot.fakes import FakeOpenAI, FakeRayJobs, FakeTogether
from bot.fakes.server import FakeServer
from providers import OpenAITrainer, TogetherTrainer
from providers.local_trainer import LocalTrainer
from providers.ray_trainer import RayTrainer
from providers.retry import RetryPolicy
from tests.selfhost_helpers import answers, free_port, offline_env, sft_lines, write_jsonl
from tests.trainer_helpers import SFT_LINE, Sleeps
from tests.trainer_helpers import write_jsonl as write_lines
from tests.waiting import REAL_WAIT, eventually, until
from tuning.training.trainers import LINK_KEY, JobRequest, LoraSettings, Trainer, TrainerJob

SMALL = LoraSettings(r=4, alpha=8)
SHORT = 96  # tokens an example is cut to: the tiny model trains in seconds
SECRET = {
    "openai": "sk-contract-key-0123456789",
    "together": "tg-contract-key-0123456789",
    "ray": "ray-contract-token-0123456789",
}
WRONG = "wrong-contract-key-9876543210"


class Backend(ABC):
    name: str
    trainer: Trainer

    @abstractmethod
    async def request(self, link: str, *, long: bool = False) -> JobRequest:
        """A valid SFT request linked to Tuneloop job `link`; `long`: one that trains until cancelled."""

    @abstractmethod
    async def run_a_while(self, job_id: str) -> None:
        """Until the job is running and has reported at least one metric point."""

    @abstractmethod
    async def finish(self, job_id: str) -> None:
        """Until the job has ended: succeeded, or cancelled when a cancel was asked for."""

    @abstractmethod
    async def check_output(self, job: TrainerJob) -> None:
        """What a succeeded job leaves behind, as this back-end keeps it."""


class Served(Backend):
    """A back-end behind an HTTP API the test controls."""

    server: FakeServer
    create_call: str  # the fake's method patterns for creating and describing a job
    describe_call: str

    @abstractmethod
    def with_key(self, key: str) -> Trainer:
        """The same back-end holding another key (a new trainer, closed by the caller)."""


# -- the providers' fakes ---------------------------------------------------------------------------


class OpenAIBackend(Served):
    name = "openai"
    create_call, describe_call = "POST /v1/fine_tuning/jobs", "GET /v1/fine_tuning/jobs/{id}"

    def __init__(self, fake: FakeOpenAI, tmp_path: Path, stack: AsyncExitStack) -> None:
        self.server = self.fake = fake
        self._tmp, self._stack = tmp_path, stack

    async def start(self) -> None:
        self.trainer = self.with_key(SECRET["openai"])

    def with_key(self, key: str) -> Trainer:
        client = openai.AsyncOpenAI(base_url=self.fake.base_url, api_key=key, max_retries=0, timeout=5.0)
        self._stack.push_async_callback(client.close)
        return OpenAITrainer(client, today=lambda: date(2026, 11, 21), retry=RetryPolicy(attempts=3), sleep=Sleeps())

    async def request(self, link: str, *, long: bool = False) -> JobRequest:
        self.fake.script_job(total_steps=1000 if long else 6)
        training = await self.trainer.upload(write_lines(self._tmp / f"{link}.jsonl", SFT_LINE))
        return JobRequest(base_model="gpt-4.1-mini-2025-04-14", training_file_id=training, metadata={LINK_KEY: link})

    async def run_a_while(self, job_id: str) -> None:
        await _advance_until_metrics(self, lambda: self.fake.advance(job_id, steps=2), job_id)

    async def finish(self, job_id: str) -> None:
        self.fake.run_to_end(job_id)

    async def check_output(self, job: TrainerJob) -> None:
        assert job.fine_tuned_model == self.fake.job(job.provider_job_id)["fine_tuned_model"]


class TogetherBackend(Served):
    name = "together"
    create_call, describe_call = "POST /v1/fine-tunes", "GET /v1/fine-tunes/{id}"

    def __init__(self, fake: FakeTogether, tmp_path: Path, stack: AsyncExitStack) -> None:
        self.server = self.fake = fake
        self._tmp, self._stack = tmp_path, stack

    async def start(self) -> None:
        self.trainer = self.with_key(SECRET["together"])

    def with_key(self, key: str) -> Trainer:
        trainer = TogetherTrainer(key, self.fake.base_url, retry=RetryPolicy(attempts=3), sleep=Sleeps(), timeout=5.0)
        self._stack.push_async_callback(trainer.close)
        return trainer

    async def request(self, link: str, *, long: bool = False) -> JobRequest:
        self.fake.script_job(total_steps=1000 if long else 6)
        training = await self.trainer.upload(write_lines(self._tmp / f"{link}.jsonl", SFT_LINE))
        return JobRequest(
            base_model="meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
            training_file_id=training,
            metadata={LINK_KEY: link},
        )

    async def run_a_while(self, job_id: str) -> None:
        await _advance_until_metrics(self, lambda: self.fake.advance(job_id, steps=2), job_id)

    async def finish(self, job_id: str) -> None:
        self.fake.run_to_end(job_id)

    async def check_output(self, job: TrainerJob) -> None:
        assert job.fine_tuned_model == self.fake.job(job.provider_job_id)["model_output_name"]


async def _advance_until_metrics(backend: Backend, advance: Callable[[], None], job_id: str) -> None:
    async def moved() -> bool:
        advance()
        return bool((await backend.trainer.events_since(job_id, None)).metrics)

    await eventually(moved, timeout=5, interval=0, what=f"{backend.name} job {job_id} reporting a metric")


# -- the real training program ------------------------------------------------------------------------


class SelfHosted(Backend):
    """The real program on the tiny model: waits are for the program, as a user's would be."""

    def __init__(self, tiny_model: Path, tmp_path: Path) -> None:
        self._model, self._tmp = tiny_model, tmp_path

    async def request(self, link: str, *, long: bool = False) -> JobRequest:
        training = await self.trainer.upload(write_jsonl(self._tmp / f"{link}.jsonl", sft_lines(4)))
        validation = await self.trainer.upload(write_jsonl(self._tmp / f"{link}-v.jsonl", sft_lines(2)))
        return JobRequest(
            base_model=str(self._model),
            training_file_id=training,
            validation_file_id=validation,
            epochs=200 if long else 1,
            batch_size=2,
            metadata={LINK_KEY: link, "tuneloop_dataset": "faq@1"},
        )

    async def run_a_while(self, job_id: str) -> None:
        async def reported() -> bool:
            return bool((await self.trainer.events_since(job_id, None)).metrics)

        await eventually(reported, timeout=REAL_WAIT, interval=0.2, what=f"{self.name} job {job_id} reporting")

    async def finish(self, job_id: str) -> None:
        async def ended() -> bool:
            return (await self.trainer.get_job(job_id)).terminal

        await eventually(ended, timeout=REAL_WAIT, interval=0.2, what=f"{self.name} job {job_id} ending")

    async def check_output(self, job: TrainerJob) -> None:
        """The adapter and its manifest on the shared path; validation loss from the validation file."""
        adapter = self._artifacts / "jobs" / job.provider_job_id / "out" / "adapter"
        assert (adapter / "adapter_model.safetensors").is_file()
        assert '"dataset": "faq@1"' in (adapter / "manifest.json").read_text()
        points = (await self.trainer.events_since(job.provider_job_id, None)).metrics
        assert points[-1].valid_loss is not None and "learning_rate" in points[0].extra

    @property
    @abstractmethod
    def _artifacts(self) -> Path: ...


class LocalBackend(SelfHosted):
    name = "local"

    async def start(self) -> None:
        self.trainer = LocalTrainer(self._artifacts, python=sys.executable, lora=SMALL, max_length=SHORT)

    @property
    def _artifacts(self) -> Path:
        return self._tmp / "artifacts"


class RayBackend(SelfHosted):
    name = "ray"

    def __init__(self, tiny_model: Path, tmp_path: Path, head: str) -> None:
        super().__init__(tiny_model, tmp_path)
        self._head = head

    async def start(self) -> None:
        self.trainer = RayTrainer(
            self._head,
            str(self._artifacts),
            gpus_per_job=0,
            python=sys.executable,
            runtime_env={"env_vars": worker_env()},
            lora=SMALL,
            max_length=SHORT,
        )

    @property
    def _artifacts(self) -> Path:
        return self._tmp / "shared"


class FakeRayBackend(Served):
    """Ray's Jobs API behind an authenticating proxy, for the failures a real head cannot show."""

    name = "ray"
    create_call, describe_call = "POST /api/jobs/", "GET /api/jobs/{id}"

    def __init__(self, fake: FakeRayJobs, tmp_path: Path, stack: AsyncExitStack) -> None:
        self.server = self.fake = fake
        self._tmp, self._stack = tmp_path, stack

    async def start(self) -> None:
        self.trainer = self.with_key(SECRET["ray"])

    def with_key(self, key: str) -> Trainer:
        trainer = RayTrainer(self.fake.address, str(self._tmp / "shared"), token=key)
        self._stack.push_async_callback(trainer.close)
        return trainer

    async def request(self, link: str, *, long: bool = False) -> JobRequest:
        return JobRequest(
            base_model="Qwen/Qwen2.5-0.5B-Instruct",
            training_file_id="/shared/files/abc.jsonl",
            metadata={LINK_KEY: link},
        )

    async def run_a_while(self, job_id: str) -> None:
        self.fake.run(job_id)
        self.fake.write(job_id, '{"kind": "progress", "step": 1, "total_steps": 2, "train_loss": 2.0}\n')

    async def finish(self, job_id: str) -> None:
        if self.fake.jobs[job_id].status in ("PENDING", "RUNNING"):
            self.fake.finish(job_id)

    async def check_output(self, job: TrainerJob) -> None:
        assert job.fine_tuned_model == f"tuneloop-{job.provider_job_id}"  # what the model server will call it


# -- building them --------------------------------------------------------------------------------------

SERVED = ("openai", "together", "ray")
ALL = ("openai", "together", "local", "ray")


@dataclass
class Fixtures:
    """What the back-ends are built from, asked of pytest only when a back-end needs it."""

    request: pytest.FixtureRequest
    tmp_path: Path


async def backend_for(name: str, fixtures: Fixtures, stack: AsyncExitStack, *, served: bool) -> Backend:
    """`served`: a back-end the test can make fail (ray on its fake Jobs API instead of the real head)."""
    tmp = fixtures.tmp_path
    built: OpenAIBackend | TogetherBackend | FakeRayBackend | LocalBackend | RayBackend
    if name == "openai":
        built = OpenAIBackend(await stack.enter_async_context(FakeOpenAI(api_key=SECRET["openai"])), tmp, stack)
    elif name == "together":
        built = TogetherBackend(await stack.enter_async_context(FakeTogether(api_key=SECRET["together"])), tmp, stack)
    elif name == "ray" and served:
        built = FakeRayBackend(await stack.enter_async_context(FakeRayJobs(token=SECRET["ray"])), tmp, stack)
    elif name == "local":
        fixtures.request.getfixturevalue("offline")
        built = LocalBackend(fixtures.request.getfixturevalue("tiny_model"), tmp)
    else:
        head = fixtures.request.getfixturevalue("ray_head")
        built = RayBackend(fixtures.request.getfixturevalue("tiny_model"), tmp, head)
    await built.start()
    stack.push_async_callback(built.trainer.close)
    return built


async def backends(name: str, fixtures: Fixtures, *, served: bool) -> AsyncIterator[Backend]:
    async with AsyncExitStack() as stack:
        yield await backend_for(name, fixtures, stack, served=served)


# -- a real Ray head on 127.0.0.1 -------------------------------------------------------------------------

RAY = str(Path(sys.executable).parent / "ray")


def ray_head_process(temp: Path) -> Iterator[str]:
    """`ray start --head --block` with one CPU, in its own process group, stopped by that group's id only."""
    dashboard, gcs = free_port(), free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    head = subprocess.Popen(
        [
            RAY,
            "start",
            "--head",
            "--block",
            "--num-cpus",
            "1",
            "--include-dashboard",
            "true",
            "--dashboard-host",
            "127.0.0.1",
            "--dashboard-port",
            str(dashboard),
            "--port",
            str(gcs),
            "--node-ip-address",
            "127.0.0.1",
            "--temp-dir",
            str(temp),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    address = f"http://127.0.0.1:{dashboard}"
    try:
        until(
            lambda: answers(f"{address}/api/version"),
            timeout=120,
            what="the Ray head answering",
            give_up=lambda: head.poll() is not None,
            detail=lambda: _stderr_tail(head),
        )
        yield address
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()


def _stderr_tail(process: subprocess.Popen[bytes]) -> str:
    if process.poll() is None or process.stderr is None:
        return ""
    return process.stderr.read().decode()[-2000:]


def worker_env() -> dict[str, str]:
    env = offline_env()
    return {
        key: env[key]
        for key in (
            "PYTHONPATH",
            "HF_HUB_OFFLINE",
            "TRANSFORMERS_OFFLINE",
            "HF_DATASETS_OFFLINE",
            "TOKENIZERS_PARALLELISM",
            "OMP_NUM_THREADS",
        )
    }
