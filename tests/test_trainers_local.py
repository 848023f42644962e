"""The `local` back-end runs the real training program as a separate process and reads its JSON lines.

What every back-end does is in test_trainers_contract.py; here is what only this one does."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from providers.local_trainer import OUTPUT, RECORD, LocalTrainer
from providers.selfhost_jobs import SAVE_STEPS, training_args
from selfhost.options import parse_options
from tests.selfhost_helpers import offline_env, sft_lines, write_jsonl
from tests.waiting import REAL_WAIT, eventually
from tuning.training.trainers import LINK_KEY, JobRequest, JobState, LoraSettings, UnknownModel

SMALL = LoraSettings(r=4, alpha=8)


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in offline_env().items():
        monkeypatch.setenv(key, value)


def trainer(tmp_path: Path, **options: Any) -> LocalTrainer:
    return LocalTrainer(tmp_path / "artifacts", python=sys.executable, lora=SMALL, max_length=96, **options)


async def request(
    local: LocalTrainer, tmp_path: Path, tiny_model: Path, link: str, *, epochs: int = 1, lines: int = 4
) -> JobRequest:
    train = await local.upload(write_jsonl(tmp_path / "train.jsonl", sft_lines(lines)))
    validation = await local.upload(write_jsonl(tmp_path / "validation.jsonl", sft_lines(2)))
    return JobRequest(
        base_model=str(tiny_model),
        training_file_id=train,
        validation_file_id=validation,
        epochs=epochs,
        batch_size=2,
        metadata={LINK_KEY: link, "tuneloop_dataset": "faq@1"},
    )


def test_every_run_checkpoints_and_resumes_from_its_own_output_folder(tmp_path: Path) -> None:
    """Checked by the training program's own parser: what the back-ends launch asks for checkpoints and a resume."""
    train = write_jsonl(tmp_path / "train.jsonl", sft_lines(1))
    args = training_args(JobRequest(base_model="m", training_file_id=str(train)), "j1", str(tmp_path / "out"), SMALL)
    options = parse_options(args)
    assert options.save_steps == SAVE_STEPS and options.resume and options.output_dir == tmp_path / "out"


async def test_a_retried_start_runs_no_second_process(tmp_path: Path, tiny_model: Path) -> None:
    """The rest of a job's life is the contract's (test_trainers_contract.py)."""
    local = trainer(tmp_path)
    job = await local.create_job(await request(local, tmp_path, tiny_model, "jloc1", epochs=200))
    again = await local.create_job(await request(local, tmp_path, tiny_model, "jloc1", epochs=200))
    assert again.provider_job_id == job.provider_job_id == "jloc1" and len(local._children) == 1
    await local.cancel("jloc1")
    await eventually(lambda: _terminal(local, "jloc1"), timeout=REAL_WAIT, what="the cancelled job ending")


async def _terminal(local: LocalTrainer, job_id: str) -> bool:
    return (await local.get_job(job_id)).terminal


async def _has_progress(local: LocalTrainer, job_id: str) -> bool:
    return bool((await local.events_since(job_id, None)).metrics)


async def test_a_restarted_bot_reattaches_and_a_dead_process_is_failed_with_the_reason(
    tmp_path: Path, tiny_model: Path
) -> None:
    first = trainer(tmp_path)
    await first.create_job(await request(first, tmp_path, tiny_model, "jloc3", epochs=200))
    await eventually(lambda: _has_progress(first, "jloc3"), timeout=REAL_WAIT, interval=0.2)
    after_restart = trainer(tmp_path, max_restarts=0)  # a new bot process knows the job only from disk
    running = await after_restart.get_job("jloc3")
    assert running.state == JobState.RUNNING and running.total_steps == 400
    os.killpg(next(iter(first._children)), signal.SIGKILL)  # the machine killed it (OOM, reboot)
    await eventually(lambda: _terminal(after_restart, "jloc3"), timeout=REAL_WAIT, interval=0.2)
    dead = await after_restart.get_job("jloc3")
    assert dead.state == JobState.FAILED and dead.error_code == "process_died"
    assert "ended without finishing" in dead.error_message
    first._children.popitem()[1].wait()  # reap it: the test process is its parent


async def test_a_killed_process_is_relaunched_and_resumes_from_its_checkpoint(tmp_path: Path, tiny_model: Path) -> None:
    local = trainer(tmp_path, extra_args=("--max-steps", "60", "--save-steps", "2"))
    await local.create_job(await request(local, tmp_path, tiny_model, "jloc6"))
    output = tmp_path / "artifacts" / "jobs" / "jloc6" / OUTPUT
    await eventually(
        lambda: "Saved a checkpoint" in _text(output), timeout=REAL_WAIT, interval=0.05, what="a first checkpoint"
    )
    first = json.loads((output.parent / RECORD).read_text())["pid"]
    os.killpg(first, signal.SIGKILL)  # as the machine would (OOM, reboot)
    seen: list[str] = []

    async def finished() -> bool:
        job = await local.get_job("jloc6")
        seen.append(job.raw_status)
        return job.terminal

    await eventually(finished, timeout=REAL_WAIT, interval=0.2, what="the resumed job ending")
    job = await local.get_job("jloc6")
    assert job.state == JobState.SUCCEEDED, job.error_message
    assert any(status.startswith("resumed from its last checkpoint") for status in seen)
    record = json.loads((output.parent / RECORD).read_text())
    assert record["restarts"] == 1 and record["pid"] != first
    lines = [json.loads(line) for line in _text(output).splitlines()]
    resumed = next(i for i, line in enumerate(lines) if line.get("message", "").startswith("Resuming from checkpoint-"))
    checkpoint = int(lines[resumed]["message"].removeprefix("Resuming from checkpoint-").rstrip("."))
    steps = [line["step"] for line in lines[resumed:] if line["kind"] == "progress"]
    assert checkpoint >= 2 and steps[0] == checkpoint + 1 and steps[-1] == 60


async def test_a_process_that_keeps_dying_fails_after_its_restarts_saying_so(tmp_path: Path, tiny_model: Path) -> None:
    """A stand-in interpreter that dies at once, as a program killed on every start would."""
    python = tmp_path / "python"
    python.write_text(f"#!{sys.executable}\nimport sys\nprint('Killed', file=sys.stderr)\nsys.exit(137)\n")
    python.chmod(0o755)
    local = LocalTrainer(tmp_path / "artifacts", python=str(python), lora=SMALL, max_restarts=2)
    await local.create_job(await request(local, tmp_path, tiny_model, "jloc7"))
    await eventually(lambda: _terminal(local, "jloc7"), timeout=REAL_WAIT, what="the job giving up")
    failed = await local.get_job("jloc7")
    assert failed.state == JobState.FAILED and failed.error_code == "process_died"
    assert "without finishing (resumed 2 times from its checkpoint). Its last words: Killed" in (
        failed.error_message or ""
    )
    assert len(local._children) == 3  # the first start and two relaunches


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


async def test_bad_training_data_fails_with_the_programs_reason(tmp_path: Path, tiny_model: Path) -> None:
    local = trainer(tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "no answer"}]}\n')
    job = await local.create_job(
        JobRequest(base_model=str(tiny_model), training_file_id=await local.upload(bad), metadata={LINK_KEY: "jloc4"})
    )
    assert job.provider_job_id == "jloc4"
    await eventually(lambda: _terminal(local, "jloc4"), timeout=REAL_WAIT, interval=0.2)
    failed = await local.get_job("jloc4")
    assert failed.state == JobState.FAILED and failed.error_code == "training_failed"
    assert failed.error_message.endswith("line 1: an SFT example must end with the assistant's answer.")


async def test_a_model_neither_known_nor_a_local_folder_is_refused_before_anything_starts(tmp_path: Path) -> None:
    local = trainer(tmp_path)
    with pytest.raises(UnknownModel, match="or a readable local folder holding a Hugging Face model"):
        await local.create_job(
            JobRequest(base_model="someone/unknown-7b", training_file_id="x", metadata={LINK_KEY: "jloc5"})
        )
    assert not (tmp_path / "artifacts" / "jobs" / "jloc5").exists()


@pytest.mark.parametrize(("gpus", "visible"), [(0, ""), (1, None)])
async def test_zero_gpus_per_job_hides_every_gpu_from_the_program(
    tmp_path: Path, tiny_model: Path, gpus: int, visible: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in interpreter records the environment the program would get, then ends like the program."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    python = tmp_path / "python"
    python.write_text(
        f"#!{sys.executable}\nimport json, os\n"
        "print(json.dumps({'kind': 'error', 'time': '2026-12-05T00:00:00+00:00',"
        " 'error': 'CUDA_VISIBLE_DEVICES=' + repr(os.environ.get('CUDA_VISIBLE_DEVICES'))}))\n"
    )
    python.chmod(0o755)
    local = LocalTrainer(tmp_path / "artifacts", python=str(python), lora=SMALL, gpus_per_job=gpus)
    await local.create_job(await request(local, tmp_path, tiny_model, f"jgpu{gpus}"))

    async def ended() -> bool:
        return (await local.get_job(f"jgpu{gpus}")).terminal

    await eventually(ended, timeout=REAL_WAIT, what="the job ending")
    assert (await local.get_job(f"jgpu{gpus}")).error_message == f"CUDA_VISIBLE_DEVICES={visible!r}"
