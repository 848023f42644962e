"""The `ray` back-end: the real program on a real local Ray head, and the failure paths on a fake Jobs API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from providers.ray_trainer import RayTrainer
from tuning.trainers import LoraSettings
from tests.fakes import FakeRayJobs
from tests.selfhost_helpers import (
    ROOT,
    answers,
    free_port,
    offline_env,
    sft_lines,
    wait_for,
    write_jsonl,
)
from tuning.errors import NotFound
from tuning.trainers import (
    LINK_KEY,
    JobRequest,
    JobState,
    ProviderRejected,
    ProviderUnavailable,
)

SMALL = LoraSettings(r=4, alpha=8)
RAY = str(Path(sys.executable).parent / "ray")
TOKEN = "ray-test-token-0000"


def progress(step: int, total: int = 4, loss: float = 2.0) -> str:
    return json.dumps({"kind": "progress", "time": "2026-12-02T20:00:00+00:00", "step": step, "total_steps": total,
                       "epoch": step / total, "train_loss": loss, "valid_loss": None, "token_accuracy": 0.5,
                       "learning_rate": 1e-4, "tokens_seen": 100 * step, "extra": {}}) + "\n"


@pytest.fixture
async def ray_api() -> AsyncIterator[FakeRayJobs]:
    async with FakeRayJobs(token=TOKEN) as fake:
        yield fake


def request(link: str, base: str = "Qwen/Qwen2.5-0.5B-Instruct") -> JobRequest:
    return JobRequest(base_model=base, training_file_id="/shared/files/abc.jsonl", epochs=2,
                      metadata={LINK_KEY: link, "tuneloop_dataset": "faq@3"})


async def test_submission_uses_tuneloops_job_id_and_a_retried_start_makes_no_second_job(
    ray_api: FakeRayJobs, tmp_path: Path
) -> None:
    trainer = RayTrainer(ray_api.address, str(tmp_path), token=TOKEN)
    job = await trainer.create_job(request("jray1"))
    assert (job.provider_job_id, job.state, job.raw_status) == ("jray1", JobState.PENDING, "PENDING")
    submitted = ray_api.calls_to("POST /api/jobs/")[0]
    assert submitted.args["submission_id"] == "jray1" and submitted.args["entrypoint_num_gpus"] == 1
    assert submitted.headers["authorization"] == f"Bearer {TOKEN}"
    entrypoint = ray_api.jobs["jray1"].entrypoint
    assert entrypoint.startswith("python -m selfhost.train --base-model Qwen/Qwen2.5-0.5B-Instruct --method sft")
    assert f"--output-dir {tmp_path}/jobs/jray1/out" in entrypoint and "--dataset faq@3" in entrypoint
    again = await trainer.create_job(request("jray1"))
    assert again.provider_job_id == "jray1" and list(ray_api.jobs) == ["jray1"]
    assert (await trainer.find_job_by_metadata(LINK_KEY, "jray1")).provider_job_id == "jray1"
    assert await trainer.find_job_by_metadata(LINK_KEY, "jnone") is None
    await trainer.close()


async def test_an_unreachable_cluster_is_said_plainly(tmp_path: Path) -> None:
    async with FakeRayJobs() as fake:
        address = await fake.unreachable()
    trainer = RayTrainer(address, str(tmp_path))
    with pytest.raises(ProviderUnavailable, match="cannot be reached.*TUNELOOP_RAY_ADDRESS"):
        await trainer.create_job(request("jray2"))
    await trainer.close()


async def test_a_wrong_token_is_a_refusal_that_never_echoes_it(ray_api: FakeRayJobs, tmp_path: Path) -> None:
    trainer = RayTrainer(ray_api.address, str(tmp_path), token="ray-wrong-token-1111")
    with pytest.raises(ProviderRejected, match="Unauthorized") as raised:
        await trainer.create_job(request("jray3"))
    assert "ray-wrong-token-1111" not in str(raised.value) and ray_api.jobs == {}
    await trainer.close()


async def test_logs_are_read_incrementally_and_a_failed_job_reports_the_traceback(
    ray_api: FakeRayJobs, tmp_path: Path
) -> None:
    trainer = RayTrainer(ray_api.address, str(tmp_path), token=TOKEN)
    await trainer.create_job(request("jray4"))
    ray_api.run("jray4")
    ray_api.write("jray4", "Loading weights 100%\n" + progress(1) + progress(2))
    first = await trainer.events_since("jray4", None)
    assert [point.step for point in first.metrics] == [1, 2]
    ray_api.write("jray4", progress(3) + '{"kind": "progress", "step": 4')  # the last line is still being written
    second = await trainer.events_since("jray4", first.cursor)
    assert [point.step for point in second.metrics] == [3]
    running = await trainer.get_job("jray4")
    assert (running.state, running.total_steps, running.trained_tokens) == (JobState.RUNNING, 4, 300)
    ray_api.crash("jray4", '", "total_steps": 4}\nTraceback (most recent call last):\n  File "train.py", line 9\n'
                  "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n")
    failed = await trainer.get_job("jray4")
    assert failed.state == JobState.FAILED and failed.error_code == "JOB_ENTRYPOINT_COMMAND_ERROR"
    assert failed.error_message == ("The training program failed on the cluster: torch.OutOfMemoryError: CUDA out"
                                    " of memory. Tried to allocate 2.00 GiB")
    await trainer.close()


async def test_the_programs_own_error_line_is_the_reason_when_there_is_one(
    ray_api: FakeRayJobs, tmp_path: Path
) -> None:
    trainer = RayTrainer(ray_api.address, str(tmp_path), token=TOKEN)
    await trainer.create_job(request("jray5"))
    ray_api.run("jray5")
    ray_api.crash("jray5", '{"kind": "error", "error": "train.jsonl line 3: not valid JSON."}\n', exit_code=2)
    failed = await trainer.get_job("jray5")
    assert failed.error_message == "train.jsonl line 3: not valid JSON."
    events = (await trainer.events_since("jray5", None)).events
    assert [(event.level, event.message) for event in events] == [("error", "train.jsonl line 3: not valid JSON.")]
    await trainer.close()


async def test_stop_while_pending(ray_api: FakeRayJobs, tmp_path: Path) -> None:
    trainer = RayTrainer(ray_api.address, str(tmp_path), token=TOKEN)
    await trainer.create_job(request("jray6"))
    stopped = await trainer.cancel("jray6")
    assert (stopped.state, stopped.raw_status) == (JobState.CANCELLED, "STOPPED")
    assert len(ray_api.calls_to("POST /api/jobs/{id}/stop")) == 1
    assert (await trainer.cancel("jray6")).state == JobState.CANCELLED  # a finished job: no second stop
    assert len(ray_api.calls_to("POST /api/jobs/{id}/stop")) == 1
    with pytest.raises(NotFound):
        await trainer.get_job("jnone")
    await trainer.close()


# --- a real Ray head on 127.0.0.1 ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`ray start --head --block` with one CPU, in its own process group, stopped by that group's id only."""
    dashboard, gcs = free_port(), free_port()
    temp = tmp_path_factory.mktemp("ray")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    head = subprocess.Popen(
        [RAY, "start", "--head", "--block", "--num-cpus", "1", "--include-dashboard", "true",
         "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard), "--port", str(gcs),
         "--node-ip-address", "127.0.0.1", "--temp-dir", str(temp)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True)
    address = f"http://127.0.0.1:{dashboard}"
    deadline = time.monotonic() + 120
    while not answers(f"{address}/api/version"):  # waits on the condition
        if head.poll() is not None or time.monotonic() > deadline:
            os.killpg(head.pid, signal.SIGKILL)
            pytest.fail(f"the Ray head did not start: {head.stderr.read().decode()[-2000:]}")
        time.sleep(0.2)
    yield address
    os.killpg(head.pid, signal.SIGTERM)
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait()


def _worker_env() -> dict[str, str]:
    env = offline_env()
    return {key: env[key] for key in ("PYTHONPATH", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE",
                                      "TOKENIZERS_PARALLELISM", "OMP_NUM_THREADS")}


async def test_the_program_trains_on_a_real_ray_head(ray_head: str, tmp_path: Path, tiny_model: Path) -> None:
    assert str(ROOT) == _worker_env()["PYTHONPATH"]
    trainer = RayTrainer(ray_head, str(tmp_path / "shared"), gpus_per_job=0, python=sys.executable,
                         runtime_env={"env_vars": _worker_env()}, lora=SMALL, max_length=96)
    train = await trainer.upload(write_jsonl(tmp_path / "train.jsonl", sft_lines(4)))
    job = await trainer.create_job(JobRequest(
        base_model=str(tiny_model), training_file_id=train, epochs=1, batch_size=2, metadata={LINK_KEY: "jrayreal"}))
    assert job.provider_job_id == "jrayreal" and not job.terminal

    async def finished() -> bool:
        return (await trainer.get_job("jrayreal")).terminal

    await wait_for(finished)
    done = await trainer.get_job("jrayreal")
    logs_tail = (await trainer.events_since("jrayreal", None)).events
    assert done.state == JobState.SUCCEEDED, (done.error_message, logs_tail)
    assert done.fine_tuned_model == "tuneloop-jrayreal" and done.total_steps == 2
    page = await trainer.events_since("jrayreal", None)
    assert [point.step for point in page.metrics] == [1, 2]
    assert (tmp_path / "shared" / "jobs" / "jrayreal" / "out" / "adapter" / "adapter_model.safetensors").is_file()
    await trainer.close()
