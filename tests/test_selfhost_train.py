"""`python -m selfhost.train` trains a tiny random Llama for real, offline, on the CPU (SFT and DPO)."""

from __future__ import annotations

import json
from pathlib import Path

from selfhost.data import sha256_of
from tests.selfhost_helpers import (
    TrainedRun,
    dpo_lines,
    run_training,
    train_command,
    write_jsonl,
)


def _progress(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["kind"] == "progress"]


def test_sft_prints_progress_lines_and_writes_adapter_and_manifest(sft_run: TrainedRun) -> None:
    assert sft_run.code == 0, sft_run.stderr[-2000:]
    progress = _progress(sft_run.lines)
    steps = [line for line in progress if line["train_loss"] is not None]
    assert [line["step"] for line in progress] == [1, 2, 3]  # one line a step, validation merged in
    assert steps == progress
    assert {line["total_steps"] for line in steps} == {3}
    assert all(line["train_loss"] > 0 and line["learning_rate"] > 0 for line in steps)
    assert steps[-1]["epoch"] == 1.0 and steps[-1]["tokens_seen"] > steps[0]["tokens_seen"] > 0
    assert 0 <= steps[-1]["token_accuracy"] <= 1
    assert [line["step"] for line in progress if line["valid_loss"] is not None] == [3]
    assert all(line["tokens_per_second"] > 0 and line["peak_gpu_memory_gb"] is None for line in steps)  # CPU
    assert sft_run.lines[-1]["kind"] == "done"
    metrics = sft_run.lines[-1]["metrics"]
    assert metrics["train_runtime_s"] > 0 and metrics["tokens_per_second"] > 0
    assert (sft_run.adapter / "adapter_model.safetensors").is_file()
    assert (sft_run.adapter / "adapter_config.json").is_file()


def test_the_manifest_records_what_was_trained_on_what_and_how(sft_run: TrainedRun) -> None:
    manifest = json.loads((sft_run.adapter / "manifest.json").read_text())
    assert manifest["base_model"] == str(sft_run.model)
    assert manifest["dataset"] == "faq@2" and manifest["tuneloop_job"] == "tl-sft-1"
    assert manifest["files"]["train"]["sha256"] == sha256_of(sft_run.train)
    assert manifest["files"]["validation"]["sha256"] == sha256_of(sft_run.validation)
    assert manifest["hyperparameters"]["lora_r"] == 4 and manifest["hyperparameters"]["method"] == "sft"
    assert manifest["metrics"]["valid_loss"] > 0 and manifest["metrics"]["step"] == 3
    assert manifest["libraries"]["trl"] and manifest["libraries"]["peft"] and manifest["device"] == "cpu"


def test_dpo_trains_on_preference_pairs(tiny_model: Path, tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", dpo_lines(4))
    code, lines, stderr = run_training(
        train_command(tiny_model, train, tmp_path / "out", "--max-steps", "2", "--beta", "0.2", method="dpo")
    )
    assert code == 0, stderr[-2000:]
    progress = _progress(lines)
    assert [line["step"] for line in progress] == [1, 2]
    assert all(0 < line["train_loss"] < 2 for line in progress)  # DPO's sigmoid loss starts near ln 2
    assert "rewards/margins" in progress[-1]["extra"]
    manifest = json.loads((tmp_path / "out" / "adapter" / "manifest.json").read_text())
    assert manifest["hyperparameters"]["beta"] == 0.2 and manifest["hyperparameters"]["method"] == "dpo"


def test_an_unreadable_base_model_fails_with_an_error_line(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", dpo_lines(1))
    code, lines, _ = run_training(
        train_command(Path("no-such-org/no-such-model"), train, tmp_path / "out", method="dpo")
    )
    assert code == 2
    assert lines[-1]["kind"] == "error"
    assert lines[-1]["error"].startswith("The base model `no-such-org/no-such-model` cannot be loaded")
