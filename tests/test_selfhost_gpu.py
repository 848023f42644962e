"""GPU levers of the training program: the choices as plain logic, and on the CPU what can run here for real
(checkpoints and resume after a kill, two gloo processes under `accelerate launch`, KTO)."""

from __future__ import annotations

import dataclasses
import importlib
import json
import subprocess
import warnings
from pathlib import Path

import pytest

from selfhost.options import InputError, parse_options
from selfhost.plan import Hardware, choose_precision, make_plan
from selfhost.train import checkpointing_args, latest_checkpoint
from tests.selfhost_helpers import kto_lines, offline_env, run_training, sft_lines, train_command, write_jsonl

CPU = Hardware(cuda=False)
AMPERE = Hardware(cuda=True, bf16=True, gpus=1)
TURING = Hardware(cuda=True, bf16=False, gpus=4)  # a T4 or V100-class node: no bf16


def _options(*flags: str, tmp: Path):
    train = tmp / "train.jsonl"
    if not train.exists():
        write_jsonl(train, sft_lines(1))
    return parse_options(["--base-model", "m", "--train-file", str(train), "--output-dir", str(tmp / "out"), *flags])


@pytest.mark.parametrize(
    ("requested", "hardware", "expected"),
    [
        ("auto", AMPERE, "bf16"),
        ("auto", TURING, "fp16"),
        ("auto", CPU, "fp32"),
        ("fp32", AMPERE, "fp32"),
        ("fp16", AMPERE, "fp16"),
        ("bf16", CPU, "bf16"),
    ],
)
def test_precision_follows_what_the_hardware_supports(requested: str, hardware: Hardware, expected: str) -> None:
    assert choose_precision(requested, hardware) == expected


@pytest.mark.parametrize(
    ("requested", "hardware", "reason"),
    [("bf16", TURING, "this GPU has no bf16"), ("fp16", CPU, "--precision fp16 needs a CUDA GPU")],
)
def test_a_precision_the_hardware_lacks_is_refused(requested: str, hardware: Hardware, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        choose_precision(requested, hardware)


def test_gradient_checkpointing_is_on_by_default_with_cuda_only(tmp_path: Path) -> None:
    assert make_plan(_options(tmp=tmp_path), AMPERE).gradient_checkpointing is True
    assert make_plan(_options(tmp=tmp_path), CPU).gradient_checkpointing is False
    assert make_plan(_options("--gradient-checkpointing", "off", tmp=tmp_path), AMPERE).gradient_checkpointing is False
    assert make_plan(_options("--gradient-checkpointing", "on", tmp=tmp_path), CPU).gradient_checkpointing is True


def test_checkpointing_is_asked_for_by_the_name_the_installed_transformers_knows(tmp_path: Path, monkeypatch) -> None:
    from trl import SFTConfig

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the lock's transformers takes the new name without a deprecation warning
        args = SFTConfig(output_dir=str(tmp_path), use_cpu=True, **checkpointing_args(True))
    assert args.gradient_checkpointing is True  # the old name mirrors the new one, and TRL reads the old
    assert args.gradient_checkpointing_kwargs == {"use_reentrant": False}

    @dataclasses.dataclass
    class BeforeTheRename:  # TrainingArguments before 5.24 (GPU images carry 5.17): the old name only
        gradient_checkpointing: bool = False
        gradient_checkpointing_kwargs: dict | None = None

    monkeypatch.setattr(importlib.import_module("transformers"), "TrainingArguments", BeforeTheRename)
    assert checkpointing_args(False) == {
        "gradient_checkpointing": False,
        "gradient_checkpointing_kwargs": {"use_reentrant": False},
    }


def test_padding_free_follows_the_attention_kernel_and_packing(tmp_path: Path) -> None:
    assert make_plan(_options(tmp=tmp_path), AMPERE).padding_free is False  # sdpa pads
    flash = _options("--attn-implementation", "flash_attention_2", tmp=tmp_path)
    assert flash.attn_implementation == "flash_attention_2" and make_plan(flash, AMPERE).padding_free is True
    assert make_plan(_options("--packing", tmp=tmp_path), AMPERE).padding_free is True
    assert make_plan(_options("--padding-free", "on", tmp=tmp_path), CPU).padding_free is True
    dpo = _options("--method", "dpo", "--attn-implementation", "flash_attention_2", tmp=tmp_path)
    assert make_plan(dpo, AMPERE).padding_free is False  # SFT only


def test_qlora_options_reach_a_4bit_nf4_config_on_this_processs_gpu(tmp_path: Path, monkeypatch) -> None:
    from selfhost.modeling import quantization_kwargs

    options = _options("--load-in-4bit", tmp=tmp_path)
    assert options.load_in_4bit and options.hyperparameters()["load_in_4bit"] is True
    with pytest.raises(InputError, match="needs a CUDA GPU"):
        make_plan(options, CPU)
    assert make_plan(options, TURING).precision == "fp16"
    monkeypatch.setenv("LOCAL_RANK", "3")  # the fourth process of `accelerate launch` loads onto the fourth GPU
    kwargs = quantization_kwargs("fp16")
    config = kwargs["quantization_config"]
    assert config.load_in_4bit and config.bnb_4bit_quant_type == "nf4" and config.bnb_4bit_use_double_quant
    assert str(config.bnb_4bit_compute_dtype) == "torch.float16"
    assert kwargs["device_map"] == {"": 3}


def test_more_processes_than_gpus_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="more processes than this node's 1 GPU"):
        make_plan(_options("--num-processes", "2", tmp=tmp_path), AMPERE)
    assert make_plan(_options("--num-processes", "4", tmp=tmp_path), TURING).precision == "fp16"


def test_preference_methods_default_to_a_preference_learning_rate(tmp_path: Path) -> None:
    assert _options(tmp=tmp_path).hyperparameters()["learning_rate"] == 2e-4
    for method in ("dpo", "kto"):
        assert _options("--method", method, tmp=tmp_path).hyperparameters()["learning_rate"] == 5e-6
    assert _options("--method", "dpo", "--learning-rate", "1e-5", tmp=tmp_path).rate == 1e-5


def test_a_half_written_checkpoint_is_not_resumed_from(tmp_path: Path) -> None:
    for step, complete in ((2, True), (4, True), (6, False)):
        (tmp_path / f"checkpoint-{step}").mkdir()
        if complete:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoint-4"
    assert latest_checkpoint(tmp_path / "none") is None


def test_a_run_killed_mid_way_resumes_from_its_last_checkpoint_and_finishes(tiny_model: Path, tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", sft_lines(4))
    command = train_command(tiny_model, train, tmp_path / "out", "--max-steps", "60", "--save-steps", "2")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=offline_env())
    assert process.stdout is not None
    for text in process.stdout:  # kill it as soon as it has saved a checkpoint, as a crash would
        if json.loads(text).get("message", "").startswith("Saved a checkpoint"):
            process.kill()
            break
    process.wait(timeout=60)
    assert process.returncode != 0
    saved = latest_checkpoint(tmp_path / "out" / "checkpoints")
    assert saved is not None and not (tmp_path / "out" / "adapter").exists()
    code, lines, stderr = run_training([*command, "--resume"])
    assert code == 0, stderr[-2000:]
    assert f"Resuming from {saved.name}." in [line.get("message") for line in lines]
    steps = [line["step"] for line in lines if line["kind"] == "progress"]
    assert steps[0] == int(saved.name.split("-")[1]) + 1 and steps[-1] == 60
    assert lines[-1]["kind"] == "done" and (tmp_path / "out" / "adapter" / "adapter_model.safetensors").is_file()


def test_two_processes_train_under_accelerate_launch_with_gloo(tiny_model: Path, tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", sft_lines(8))
    code, lines, stderr = run_training(
        train_command(tiny_model, train, tmp_path / "out", "--num-processes", "2", "--epochs", "1")
    )
    assert code == 0, stderr[-3000:]
    messages = [line["message"] for line in lines if line["kind"] == "event"]
    assert messages[0] == "Starting 2 training processes with accelerate launch."
    assert any(message.endswith("; 2 processes.") for message in messages)
    progress = [line for line in lines if line["kind"] == "progress"]
    # 8 examples, 2 a batch on each of 2 processes: 2 steps, printed once (by the first process only)
    assert [line["step"] for line in progress] == [1, 2] and progress[0]["total_steps"] == 2
    assert [line["kind"] for line in lines].count("done") == 1
    assert (tmp_path / "out" / "adapter" / "adapter_model.safetensors").is_file()


def test_kto_trains_on_desirable_and_undesirable_answers(tiny_model: Path, tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", kto_lines(6))
    code, lines, stderr = run_training(
        train_command(
            tiny_model, train, tmp_path / "out", "--max-steps", "2", "--undesirable-weight", "1.5", method="kto"
        )
    )
    assert code == 0, stderr[-2000:]
    progress = [line for line in lines if line["kind"] == "progress"]
    assert [line["step"] for line in progress] == [1, 2]
    assert all(0 < line["train_loss"] < 1 for line in progress)  # KTO's loss starts at 0.5 (reward 0)
    assert progress[0]["tokens_per_second"] > 0 and progress[0]["peak_gpu_memory_gb"] is None
    manifest = json.loads((tmp_path / "out" / "adapter" / "manifest.json").read_text())
    assert manifest["hyperparameters"]["method"] == "kto"
    assert manifest["hyperparameters"]["undesirable_weight"] == 1.5
    assert manifest["hyperparameters"]["learning_rate"] == 5e-6
