"""The `local` back-end runs the real training program as a separate process and reads its JSON lines."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from providers.local_trainer import LocalTrainer
from tuning.trainers import LoraSettings
from tests.selfhost_helpers import offline_env, sft_lines, wait_for, write_jsonl
from tuning.trainers import LINK_KEY, JobRequest, JobState, UnknownModel

SMALL = LoraSettings(r=4, alpha=8)


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in offline_env().items():
        monkeypatch.setenv(key, value)


def trainer(tmp_path: Path) -> LocalTrainer:
    return LocalTrainer(tmp_path / "artifacts", python=sys.executable, lora=SMALL, max_length=96)


async def request(local: LocalTrainer, tmp_path: Path, tiny_model: Path, link: str, *, epochs: int = 1,
                  lines: int = 4) -> JobRequest:
    train = await local.upload(write_jsonl(tmp_path / "train.jsonl", sft_lines(lines)))
    validation = await local.upload(write_jsonl(tmp_path / "validation.jsonl", sft_lines(2)))
    return JobRequest(base_model=str(tiny_model), training_file_id=train, validation_file_id=validation,
                      epochs=epochs, batch_size=2, metadata={LINK_KEY: link, "tuneloop_dataset": "faq@1"})


async def test_a_job_runs_to_success_with_metric_points_and_events(tmp_path: Path, tiny_model: Path) -> None:
    local = trainer(tmp_path)
    job = await local.create_job(await request(local, tmp_path, tiny_model, "jloc1"))
    assert job.provider_job_id == "jloc1" and job.state in (JobState.RUNNING, JobState.SUCCEEDED)
    again = await local.create_job(await request(local, tmp_path, tiny_model, "jloc1"))  # a retried Start
    assert again.provider_job_id == "jloc1" and len(local._children) == 1
    await wait_for(lambda: _terminal(local, "jloc1"))
    done = await local.get_job("jloc1")
    assert done.state == JobState.SUCCEEDED, done.error_message
    assert done.fine_tuned_model == "tuneloop-jloc1" and done.total_steps == 2 and done.trained_tokens > 0
    page = await local.events_since("jloc1", None)
    assert [point.step for point in page.metrics] == [1, 2]
    assert page.metrics[-1].valid_loss is not None and "learning_rate" in page.metrics[0].extra
    assert [event.message for event in page.events][-1] == "Training finished; the adapter is saved."
    assert (await local.events_since("jloc1", page.cursor)).metrics == []  # nothing twice
    adapter = tmp_path / "artifacts" / "jobs" / "jloc1" / "out" / "adapter"
    assert (adapter / "adapter_model.safetensors").is_file() and (adapter / "manifest.json").is_file()
    assert '"dataset": "faq@1"' in (adapter / "manifest.json").read_text()
    assert (await local.find_job_by_metadata(LINK_KEY, "jloc1")).state == JobState.SUCCEEDED
    assert await local.find_job_by_metadata(LINK_KEY, "jnone") is None


async def _terminal(local: LocalTrainer, job_id: str) -> bool:
    return (await local.get_job(job_id)).terminal


async def _has_progress(local: LocalTrainer, job_id: str) -> bool:
    return bool((await local.events_since(job_id, None)).metrics)


async def test_cancel_stops_the_process(tmp_path: Path, tiny_model: Path) -> None:
    local = trainer(tmp_path)
    await local.create_job(await request(local, tmp_path, tiny_model, "jloc2", epochs=200))
    await wait_for(lambda: _has_progress(local, "jloc2"))
    cancelling = await local.cancel("jloc2")
    assert cancelling.state in (JobState.CANCELLING, JobState.CANCELLED)
    await wait_for(lambda: _terminal(local, "jloc2"))
    assert (await local.get_job("jloc2")).state == JobState.CANCELLED
    assert (await local.cancel("jloc2")).state == JobState.CANCELLED  # cancelling a finished job changes nothing


async def test_a_restarted_bot_reattaches_and_a_dead_process_is_failed_with_the_reason(
    tmp_path: Path, tiny_model: Path
) -> None:
    first = trainer(tmp_path)
    await first.create_job(await request(first, tmp_path, tiny_model, "jloc3", epochs=200))
    await wait_for(lambda: _has_progress(first, "jloc3"))
    after_restart = trainer(tmp_path)  # a new bot process knows the job only from disk
    running = await after_restart.get_job("jloc3")
    assert running.state == JobState.RUNNING and running.total_steps == 400
    os.killpg(next(iter(first._children)), signal.SIGKILL)  # the machine killed it (OOM, reboot)
    await wait_for(lambda: _terminal(after_restart, "jloc3"))
    dead = await after_restart.get_job("jloc3")
    assert dead.state == JobState.FAILED and dead.error_code == "process_died"
    assert "ended without finishing" in dead.error_message
    first._children.popitem()[1].wait()  # reap it: the test process is its parent


async def test_bad_training_data_fails_with_the_programs_reason(tmp_path: Path, tiny_model: Path) -> None:
    local = trainer(tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "no answer"}]}\n')
    job = await local.create_job(JobRequest(base_model=str(tiny_model), training_file_id=await local.upload(bad),
                                            metadata={LINK_KEY: "jloc4"}))
    assert job.provider_job_id == "jloc4"
    await wait_for(lambda: _terminal(local, "jloc4"))
    failed = await local.get_job("jloc4")
    assert failed.state == JobState.FAILED and failed.error_code == "training_failed"
    assert failed.error_message.endswith("line 1: an SFT example needs at least one assistant message.")


async def test_a_model_neither_known_nor_a_local_folder_is_refused_before_anything_starts(tmp_path: Path) -> None:
    local = trainer(tmp_path)
    with pytest.raises(UnknownModel, match="or a readable local folder holding a Hugging Face model"):
        await local.create_job(JobRequest(base_model="someone/unknown-7b", training_file_id="x",
                                          metadata={LINK_KEY: "jloc5"}))
    assert not (tmp_path / "artifacts" / "jobs" / "jloc5").exists()
