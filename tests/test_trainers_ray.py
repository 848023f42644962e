"""The `ray` back-end on a fake Jobs API: what only Ray does. The contract every back-end keeps, on a real
local Ray head, is in test_trainers_contract.py."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.fakes import FakeRayJobs
from providers.ray_trainer import RayTrainer
from providers.selfhost_jobs import SAVE_STEPS
from tests.selfhost_helpers import sft_lines, write_jsonl
from tests.trainer_backends import ray_head_process, worker_env
from tests.waiting import REAL_WAIT, eventually
from tuning.training.trainers import LINK_KEY, JobRequest, JobState, LoraSettings, ProviderUnavailable
from tuning.training.trainers.open_models import served_name

SMALL = LoraSettings(r=4, alpha=8)
RAY = str(Path(sys.executable).parent / "ray")
TOKEN = "ray-test-token-0000"


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from ray_head_process(tmp_path_factory.mktemp("ray"))


def progress(step: int, total: int = 4, loss: float = 2.0) -> str:
    return (
        json.dumps(
            {
                "kind": "progress",
                "time": "2026-12-02T20:00:00+00:00",
                "step": step,
                "total_steps": total,
                "epoch": step / total,
                "train_loss": loss,
                "valid_loss": None,
                "token_accuracy": 0.5,
                "learning_rate": 1e-4,
                "tokens_seen": 100 * step,
                "extra": {},
            }
        )
        + "\n"
    )


@pytest.fixture
async def ray_api() -> AsyncIterator[FakeRayJobs]:
    async with FakeRayJobs(token=TOKEN) as fake:
        yield fake


def request(link: str, base: str = "Qwen/Qwen2.5-0.5B-Instruct") -> JobRequest:
    return JobRequest(
        base_model=base,
        training_file_id="/shared/files/abc.jsonl",
        epochs=2,
        metadata={LINK_KEY: link, "tuneloop_dataset": "faq@3"},
    )


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
    assert "--num-processes" not in entrypoint  # one GPU: one process
    assert f"--save-steps {SAVE_STEPS} --resume" in entrypoint  # a resubmission continues from a checkpoint
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


async def test_logs_are_read_incrementally_and_a_failed_job_reports_the_traceback(
    ray_api: FakeRayJobs, tmp_path: Path
) -> None:
    trainer = RayTrainer(ray_api.address, str(tmp_path), token=TOKEN, resubmits=0)
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
    ray_api.crash(
        "jray4",
        '", "total_steps": 4}\nTraceback (most recent call last):\n  File "train.py", line 9\n'
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n",
    )
    failed = await trainer.get_job("jray4")
    assert failed.state == JobState.FAILED and failed.error_code == "JOB_ENTRYPOINT_COMMAND_ERROR"
    assert failed.error_message == (
        "The training program failed on the cluster: torch.OutOfMemoryError: CUDA out"
        " of memory. Tried to allocate 2.00 GiB"
    )
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
    assert list(ray_api.jobs) == ["jray5"]  # the program's own refusal would only be repeated: not resubmitted
    await trainer.close()


async def test_stop_while_pending(ray_api: FakeRayJobs, tmp_path: Path) -> None:
    trainer = RayTrainer(ray_api.address, str(tmp_path), token=TOKEN)
    await trainer.create_job(request("jray6"))
    stopped = await trainer.cancel("jray6")
    assert (stopped.state, stopped.raw_status) == (JobState.CANCELLED, "STOPPED")
    assert len(ray_api.calls_to("POST /api/jobs/{id}/stop")) == 1
    assert (await trainer.cancel("jray6")).state == JobState.CANCELLED  # a finished job: no second stop
    assert len(ray_api.calls_to("POST /api/jobs/{id}/stop")) == 1 and list(ray_api.jobs) == ["jray6"]
    await trainer.close()


OOM = "Traceback (most recent call last):\ntorch.OutOfMemoryError: CUDA out of memory.\n"


def event(message: str) -> str:
    return json.dumps({"kind": "event", "time": "2026-12-02T20:00:00+00:00", "message": message}) + "\n"


async def test_a_crashed_job_is_resubmitted_once_and_followed_under_its_own_id(
    ray_api: FakeRayJobs, tmp_path: Path
) -> None:
    trainer = RayTrainer(ray_api.address, str(tmp_path), token=TOKEN, runtime_env={"env_vars": {"A": "1"}})
    await trainer.create_job(request("jray10"))
    ray_api.run("jray10")
    ray_api.write("jray10", progress(1) + progress(2) + event("Saved a checkpoint at step 2.") + '{"kind": "prog')
    before = await trainer.events_since("jray10", None)
    ray_api.crash("jray10", OOM)  # the node ran out of memory mid-line
    job = await trainer.get_job("jray10")
    assert (job.provider_job_id, job.state) == ("jray10", JobState.PENDING)
    assert job.raw_status == "PENDING (resubmitted as jray10-r1 after a crash)"
    first, again = ray_api.jobs["jray10"], ray_api.jobs["jray10-r1"]
    assert again.entrypoint == first.entrypoint and "--resume" in again.entrypoint
    assert f"--output-dir {tmp_path}/jobs/jray10/out" in again.entrypoint  # the same folder: its checkpoints
    assert (again.metadata, again.runtime_env, again.num_gpus) == (first.metadata, first.runtime_env, 1)
    await trainer.get_job("jray10")
    assert len(ray_api.calls_to("POST /api/jobs/")) == 2  # followed, not resubmitted again
    ray_api.run("jray10-r1")
    ray_api.write("jray10-r1", event("Resuming from checkpoint-2.") + progress(3) + progress(4))
    after = await trainer.events_since("jray10", before.cursor)
    assert [point.step for point in after.metrics] == [3, 4]
    assert "Resuming from checkpoint-2." in [entry.message for entry in after.events]
    ray_api.finish("jray10-r1")
    done = await trainer.get_job("jray10")
    assert (done.state, done.fine_tuned_model, done.total_steps) == (JobState.SUCCEEDED, served_name("jray10"), 4)
    await trainer.close()


async def test_a_job_that_crashes_again_after_its_resubmission_fails_saying_so(
    ray_api: FakeRayJobs, tmp_path: Path
) -> None:
    trainer = RayTrainer(ray_api.address, str(tmp_path), token=TOKEN)
    await trainer.create_job(request("jray11"))
    ray_api.run("jray11")
    ray_api.crash("jray11", OOM)
    await trainer.get_job("jray11")
    ray_api.run("jray11-r1")
    ray_api.crash("jray11-r1", OOM)
    failed = await trainer.get_job("jray11")
    assert failed.state == JobState.FAILED and list(ray_api.jobs) == ["jray11", "jray11-r1"]
    assert failed.error_message == (
        "The training program failed on the cluster: torch.OutOfMemoryError: CUDA out"
        " of memory. (it crashed again after 1 resubmission)"
    )
    await trainer.close()


async def test_cancelling_a_resubmitted_job_stops_the_resubmission(ray_api: FakeRayJobs, tmp_path: Path) -> None:
    trainer = RayTrainer(ray_api.address, str(tmp_path), token=TOKEN)
    await trainer.create_job(request("jray12"))
    ray_api.run("jray12")
    ray_api.crash("jray12", OOM)
    stopped = await trainer.cancel("jray12")
    assert stopped.state == JobState.CANCELLED and ray_api.jobs["jray12-r1"].status == "STOPPED"
    assert (await trainer.get_job("jray12")).state == JobState.CANCELLED and len(ray_api.jobs) == 2
    await trainer.close()


async def test_the_operators_ray_settings_reach_the_job_and_paths_are_absolute(
    ray_api: FakeRayJobs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openai

    from bot.runtime import trainers_for
    from bot.settings import Settings

    monkeypatch.chdir(tmp_path)
    settings = Settings(
        _env_file=None,
        TUNELOOP_RAY_ADDRESS=ray_api.address,
        TUNELOOP_RAY_TOKEN=TOKEN,
        TUNELOOP_ARTIFACTS="shared",
        TUNELOOP_GPUS_PER_JOB="0",
        TUNELOOP_RAY_PYTHON="/opt/tuneloop/bin/python",
        TUNELOOP_RAY_RUNTIME_ENV='{"env_vars": {"HF_TOKEN": "hf_test"}, "pip": ["tuneloop[train]"]}',
    )
    trainer = trainers_for(settings, openai.AsyncOpenAI(api_key="sk-unused", base_url="http://127.0.0.1:9"))["ray"]
    train = await trainer.upload(write_jsonl(tmp_path / "train.jsonl", sft_lines(2)))
    assert train.startswith(f"{tmp_path}/shared/files/")
    await trainer.create_job(request("jray9"))
    submitted = ray_api.calls_to("POST /api/jobs/")[0].args
    assert submitted["entrypoint_num_gpus"] == 0
    assert submitted["runtime_env"] == {"env_vars": {"HF_TOKEN": "hf_test"}, "pip": ["tuneloop[train]"]}
    assert submitted["entrypoint"].startswith("/opt/tuneloop/bin/python -m selfhost.train ")
    assert f"--output-dir {tmp_path}/shared/jobs/jray9/out " in submitted["entrypoint"]
    assert "--num-processes" not in submitted["entrypoint"]

    ray_api.run("jray9")
    ray_api.write(
        "jray9",
        progress(1, 1) + json.dumps({"kind": "done", "time": "2026-12-02T20:01:00+00:00", "adapter": "x"}) + "\n",
    )
    ray_api.finish("jray9")
    done = await trainer.get_job("jray9")
    assert done.state == JobState.SUCCEEDED and done.gpu_hours == 0  # no GPU held, no GPU-hours
    assert done.serving_note is not None and f"{tmp_path}/shared/jobs/jray9/out/adapter" in done.serving_note
    await trainer.close()


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("TUNELOOP_ARTIFACTS", "s3://bucket/tuneloop", "object stores such as s3:// are not supported"),
        ("TUNELOOP_RAY_RUNTIME_ENV", '["not", "an", "object"]', "must be a JSON object"),
        ("TUNELOOP_RAY_RUNTIME_ENV", '{"env_vars": ', "must be a JSON object"),
        ("TUNELOOP_GPUS_PER_JOB", "-1", "greater than or equal to 0"),
    ],
)
def test_bad_self_hosted_settings_are_refused_with_what_is_wrong(name: str, value: str, words: str) -> None:
    from pydantic import ValidationError

    from bot.settings import Settings

    with pytest.raises(ValidationError, match=words):
        Settings(_env_file=None, **{name: value})


async def test_a_job_given_several_gpus_runs_one_process_per_gpu(ray_api: FakeRayJobs, tmp_path: Path) -> None:
    trainer = RayTrainer(ray_api.address, str(tmp_path), token=TOKEN, gpus_per_job=4)
    await trainer.create_job(request("jray4"))
    submitted = ray_api.calls_to("POST /api/jobs/")[0].args
    assert submitted["entrypoint_num_gpus"] == 4 and submitted["entrypoint"].endswith("--num-processes 4")
    assert submitted["metadata"]["gpus"] == "4"
    await trainer.close()


async def test_an_operator_trains_through_slack_on_a_real_ray_head_with_the_settings_alone(
    ray_head: str, tmp_path: Path, tiny_model: Path, slack: object, oai: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As an operator runs it: a CPU-only cluster (GPUs per job 0), the workers' Python and environment from
    settings, a relative artifacts folder, and `/tune train … trainer:ray` to a succeeded card."""
    from tests.conftest import make_settings, served
    from tests.test_e2e_jobs import card_text, dataset, job_row, preflight, start
    from tuning.training.jobs import monitor

    monkeypatch.setattr(monitor, "CARD_INTERVAL_SECONDS", 0.0)
    monkeypatch.chdir(tmp_path)
    settings = make_settings(
        tmp_path,
        slack,
        oai,
        TUNELOOP_POLL_SECONDS="3600",
        TUNELOOP_RAY_ADDRESS=ray_head,
        TUNELOOP_ARTIFACTS="shared",
        TUNELOOP_GPUS_PER_JOB="0",
        TUNELOOP_RAY_PYTHON=sys.executable,
        TUNELOOP_RAY_RUNTIME_ENV=json.dumps({"env_vars": worker_env()}),
    )
    async with served(settings, slack) as app:
        await dataset(app)
        job = await preflight(app, f"train support trainer:ray model:{tiny_model} epochs:1 batch:4")
        await start(app, job)

        async def finished() -> bool:
            await app.runtime.monitor.tick()
            return (await job_row(app, job["id"]))["state"] in ("succeeded", "failed", "cancelled")

        await eventually(finished, timeout=REAL_WAIT, what="the Ray job ending")
        await app.settle()
        done = await job_row(app, job["id"])
        assert done["state"] == "succeeded", done["error_message"]
        assert done["gpu_hours"] == 0 and done["serving_note"] is None
        assert "0 GPU-hours measured" in card_text(slack, job)
        assert (tmp_path / "shared" / "adapters" / f"tuneloop-{job['id']}" / "adapter_config.json").is_file()
