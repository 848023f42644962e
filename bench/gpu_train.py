"""Benchmark: LoRA SFT on one GPU, Tuneloop's training program against TRL's own `trl sft`, side by side.

    python bench/gpu_train.py            # a CUDA GPU: Qwen2.5-0.5B and Llama-3.1-8B architectures, then QLoRA 8B
    python bench/gpu_train.py --smoke    # anywhere: tiny sizes, the same code path (the test suite runs it)

Both sides train the same randomly initialised model (built in code from the architecture's published
config.json, so nothing is downloaded: throughput and memory do not depend on the weights), with the same
tokenizer (trained on the benchmark's text, carrying the model's real chat template from tuning/catalogue/models.toml),
the same prompt/completion examples and the same settings, which it prints. For each it reports tokens/s
(TRL's `num_tokens` over the Trainer's `train_runtime`, the same formula for both), the peak GPU memory the
training process allocated (torch.cuda.max_memory_allocated, recorded at exit the same way for both) and
the final training loss, then our/TRL ratios. Planned to finish in under 8 minutes on one H100.

On a GPU machine that has CUDA torch, transformers (5.17 or later) and PEFT but not TRL, bring these wheels
(the test lock's versions; sizes of the manylinux x86_64 / CPython 3.12 wheels on PyPI, measured 2026-12-05):

    trl==1.16.0 (0.90 MiB), datasets==5.2.0 (0.58), dill==0.4.1 (0.11), multiprocess==0.70.19 (0.14)  -> 1.7 MiB
    bitsandbytes==0.50.2 (41.1), for the QLoRA run only (skipped, and said so, when it is missing)     -> 42.9 MiB

    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64 \
        --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 -d .whl \
        trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 bitsandbytes==0.50.2
    # on the GPU machine:
    python3 -m pip install --no-index --no-deps --target /tmp/site .whl/*.whl
    PYTHONPATH=/tmp/site python3 bench/gpu_train.py

datasets also needs pyarrow, pandas and xxhash, which CUDA images (NGC PyTorch, for one) already carry. Where
they are missing too, add xxhash==4.1.0 (0.45), pyarrow==24.0.0 (46.6: the oldest datasets 5.2 takes; the lock's
26.0.1 is 52.5), pandas==3.1.1 (11.5), python-dateutil==4.0.0 (0.09) and tzdata==2026.6 (0.33): 60.7 MiB with
the four above, without bitsandbytes. Install those into the interpreter's own environment (no --target):
datasets hashes with dill, which pickles a module outside the interpreter's prefix by value, and pyarrow's
cannot be; the benchmark checks this before it builds a model. Checked on the CPU with transformers 5.17.0,
accelerate 1.15.0 and huggingface_hub 1.33.0 (a CUDA image's versions) and these wheels through --target.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "tuning" / "catalogue" / "models.toml"
PEAK_PREFIX = "peak-"
NEEDS = ("transformers", "peft", "accelerate", "trl", "datasets")  # what the training processes import

# The published config.json of each architecture (huggingface.co/<model>/blob/main/config.json).
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "qwen2.5-0.5b": {
        "catalogue": "Qwen/Qwen2.5-0.5B-Instruct",
        "model_type": "qwen2",
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "vocab_size": 151936,
        "tie_word_embeddings": True,
        "hidden_act": "silu",
        "use_sliding_window": False,
        "max_window_layers": 21,
    },
    "llama-3.1-8b": {
        "catalogue": "meta-llama/Llama-3.1-8B-Instruct",
        "model_type": "llama",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0,
        "vocab_size": 128256,
        "tie_word_embeddings": False,
        "hidden_act": "silu",
        "rope_scaling": {
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
            "rope_type": "llama3",
        },
    },
}
# --smoke: the same two families, shrunk to run on a CPU in seconds.
SMOKE = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 1024,
}
FAMILY_TOKENS = {
    "qwen2": ("<|endoftext|>", "<|im_end|>", ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]),
    "llama": (
        "<|begin_of_text|>",
        "<|eot_id|>",
        ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
    ),
}


@dataclass(frozen=True)
class Settings:
    steps: int
    batch_size: int
    max_length: int
    learning_rate: float = 2e-4
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    seed: int = 42
    cuda: bool = True
    load_in_4bit: bool = False

    @property
    def precision(self) -> str:
        return "bf16" if self.cuda else "fp32"


class RunFailed(RuntimeError):
    """A training process exited non-zero; the message carries the end of its output."""


@dataclass(frozen=True)
class Result:
    tokens_per_second: float | None
    peak_gpu_memory_gb: float | None
    final_loss: float | None
    wall_s: float


# --- the model, tokenizer and data, built in code ------------------------------------------------------------

WORDS = (
    "deploy rollback incident staging billing search owner review release freeze rota laptop ticket wiki "
    "channel cluster region latency budget retro sprint backlog runbook alert pager merge branch token cache "
    "quota schema migration index replica shard queue worker cron secret vault audit"
).split()


def texts(count: int, words: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "." for _ in range(count)]


def examples(count: int, max_length: int, seed: int) -> list[tuple[str, str]]:
    """(question, answer) pairs that fill most of `max_length` tokens once templated (a word is 1-2 tokens)."""
    questions = texts(count, max(4, max_length * 3 // 10), seed)
    answers = texts(count, max(4, max_length * 15 // 100), seed + 1)
    return list(zip(questions, answers, strict=True))


def build_model(folder: Path, architecture: str, smoke: bool, cuda: bool) -> Path:
    """Random weights shaped as the architecture's, saved with a tokenizer that carries its chat template."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

    spec = dict(ARCHITECTURES[architecture])
    catalogue_name = spec.pop("catalogue")
    model_type = spec.pop("model_type")
    if smoke:
        spec.update(SMOKE)
    bos, eos, special = FAMILY_TOKENS[model_type]
    raw = Tokenizer(models.BPE(unk_token=None))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.train_from_iterator(
        texts(200, 50, 0) + ["system user assistant"],
        trainers.BpeTrainer(
            vocab_size=min(800, spec["vocab_size"]) - 8,
            special_tokens=["<pad>", *special],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token=bos, eos_token=eos, pad_token="<pad>")
    tokenizer.chat_template = tomllib.loads(CATALOGUE.read_text())["models"][catalogue_name]["chat_template"]
    config = AutoConfig.for_model(
        model_type,
        **spec,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    with torch.device("cuda" if cuda else "cpu"):  # an 8B model initialises in seconds on the GPU
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16 if cuda else torch.float32)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    del model
    if cuda:
        torch.cuda.empty_cache()
    return folder


def write_data(folder: Path, pairs: list[tuple[str, str]]) -> tuple[Path, Path]:
    """The same examples twice: Tuneloop's SFT JSONL for our program, TRL's prompt/completion JSONL for `trl sft`."""
    system = {"role": "system", "content": "You are the team's assistant."}
    ours = folder / "tuneloop.jsonl"
    trl_dir = folder / "trl"
    trl_dir.mkdir(parents=True, exist_ok=True)
    with ours.open("w") as tuneloop, (trl_dir / "train.jsonl").open("w") as trl:
        for question, answer in pairs:
            prompt = [system, {"role": "user", "content": question}]
            completion = [{"role": "assistant", "content": answer}]
            tuneloop.write(json.dumps({"messages": prompt + completion}) + "\n")
            trl.write(json.dumps({"prompt": prompt, "completion": completion}) + "\n")
    return ours, trl_dir


# --- the two runs ------------------------------------------------------------------------------------------------


def ours_command(model: Path, data: Path, out: Path, settings: Settings) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "selfhost.train",
        "--base-model",
        str(model),
        "--train-file",
        str(data),
        "--output-dir",
        str(out),
        "--max-steps",
        str(settings.steps),
        "--batch-size",
        str(settings.batch_size),
        "--max-length",
        str(settings.max_length),
        "--learning-rate",
        str(settings.learning_rate),
        "--lora-r",
        str(settings.lora_r),
        "--lora-alpha",
        str(settings.lora_alpha),
        "--lora-dropout",
        str(settings.lora_dropout),
        "--target-modules",
        "all-linear",
        "--seed",
        str(settings.seed),
        "--precision",
        settings.precision,
        "--padding-free",
        "off",
        "--gradient-checkpointing",
        "on" if settings.cuda else "off",
    ]
    return command + (["--load-in-4bit"] if settings.load_in_4bit else [])


def trl_command(model: Path, data_dir: Path, out: Path, settings: Settings) -> list[str]:
    """TRL's own CLI (`trl sft`, its console script) with the same settings."""
    command = [
        sys.executable,
        "-c",
        "import sys; from trl.cli import main; sys.exit(main())",
        "sft",
        "--model_name_or_path",
        str(model),
        "--dataset_name",
        str(data_dir),
        "--output_dir",
        str(out),
        "--max_steps",
        str(settings.steps),
        "--per_device_train_batch_size",
        str(settings.batch_size),
        "--max_length",
        str(settings.max_length),
        "--learning_rate",
        str(settings.learning_rate),
        "--use_peft",
        "--lora_r",
        str(settings.lora_r),
        "--lora_alpha",
        str(settings.lora_alpha),
        "--lora_dropout",
        str(settings.lora_dropout),
        "--lora_target_modules",
        "all-linear",
        "--seed",
        str(settings.seed),
        "--logging_steps",
        "1",
        "--save_strategy",
        "no",
        "--report_to",
        "none",
        "--dtype",
        "bfloat16" if settings.cuda else "float32",
        "--num_processes",
        "1",
    ]
    if settings.cuda:
        command += ["--bf16", "--gradient_checkpointing"]
    else:  # TRL's SFT defaults are bf16 and gradient checkpointing on: say what ours does on a CPU
        command += ["--use_cpu", "--bf16", "false", "--gradient_checkpointing", "false"]
    if settings.load_in_4bit:
        command += [
            "--load_in_4bit",
            "--bnb_4bit_quant_type",
            "nf4",
            "--use_bnb_nested_quant",
            "--bnb_4bit_quant_storage",
            "bfloat16",
        ]
    return command


def measured_env(peaks: Path) -> dict[str, str]:
    """PYTHONPATH puts a sitecustomize first that records each training process's peak GPU memory at exit."""
    peaks.mkdir(parents=True, exist_ok=True)
    (peaks / "sitecustomize.py").write_text(
        "import atexit, os, sys\n"
        "def _peak():\n"
        "    torch = sys.modules.get('torch')\n"
        "    if torch is not None and torch.cuda.is_initialized():\n"
        f"        path = os.path.join({str(peaks)!r}, '{PEAK_PREFIX}%d' % os.getpid())\n"
        "        open(path, 'w').write(str(torch.cuda.max_memory_allocated()))\n"
        "atexit.register(_peak)\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(
        # wheels carried with `pip install --target` reach Python through PYTHONPATH: keep them after ours
        PYTHONPATH=os.pathsep.join([str(peaks), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        WANDB_DISABLED="true",
    )
    return env


def run(command: list[str], peaks: Path, parse: Any) -> Result:
    for old in peaks.glob(f"{PEAK_PREFIX}*"):
        old.unlink()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=measured_env(peaks), cwd=ROOT, check=False)
    wall = time.perf_counter() - started
    if done.returncode:
        raise RunFailed(f"{command[2]} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    tokens, runtime, loss = parse(done.stdout)
    peaks_gb = [int(path.read_text()) / 2**30 for path in peaks.glob(f"{PEAK_PREFIX}*")]
    return Result(tokens / runtime if tokens and runtime else None, max(peaks_gb) if peaks_gb else None, loss, wall)


def parse_ours(stdout: str) -> tuple[float | None, float | None, float | None]:
    done = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")][-1]
    metrics = done["metrics"]
    return metrics.get("tokens_seen"), metrics.get("train_runtime_s"), metrics.get("train_loss")


def parse_trl(stdout: str) -> tuple[float | None, float | None, float | None]:
    """The Trainer's printed log dicts: the last num_tokens and loss, and train_runtime."""
    tokens = runtime = loss = None
    for line in stdout.splitlines():
        line = line.strip()
        if not (line.startswith("{") and line.endswith("}")):
            continue
        try:
            logs = ast.literal_eval(line)
        except (ValueError, SyntaxError):
            continue
        tokens = float(logs.get("num_tokens", tokens) or 0) or tokens
        loss = float(logs["loss"]) if "loss" in logs else loss
        runtime = float(logs["train_runtime"]) if "train_runtime" in logs else runtime
    return tokens, runtime, loss


# --- the table ---------------------------------------------------------------------------------------------------


def compare(name: str, model: Path, ours_data: Path, trl_data: Path, work: Path, settings: Settings) -> None:
    print(f"\n{name}: {settings}", flush=True)
    peaks = work / "peaks"
    ours = run(ours_command(model, ours_data, work / f"{name}-ours", settings), peaks, parse_ours)
    theirs = run(trl_command(model, trl_data, work / f"{name}-trl", settings), peaks, parse_trl)
    print(f"  {'':<12}{'tokens/s':>12}{'peak GPU GiB':>14}{'final loss':>12}{'wall s':>9}")
    for label, result in (("tuneloop", ours), ("trl sft", theirs)):
        print(
            f"  {label:<12}{_number(result.tokens_per_second, 0):>12}{_number(result.peak_gpu_memory_gb, 2):>14}"
            f"{_number(result.final_loss, 4):>12}{result.wall_s:>9.1f}"
        )
    print(
        f"  {'ratio':<12}{_ratio(ours.tokens_per_second, theirs.tokens_per_second):>12}"
        f"{_ratio(ours.peak_gpu_memory_gb, theirs.peak_gpu_memory_gb):>14}"
        f"{_ratio(ours.final_loss, theirs.final_loss):>12}",
        flush=True,
    )


def _number(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _ratio(ours: float | None, theirs: float | None) -> str:
    return "n/a" if not ours or not theirs else f"{ours / theirs:.2f}x"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on whatever device there is (CI)")
    parser.add_argument("--keep", type=Path, help="work here and keep the models, data and adapters")
    args = parser.parse_args(argv)
    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.smoke:
        print("bench/gpu_train.py needs a CUDA GPU (use --smoke for the CPU check).", file=sys.stderr)
        return 2
    problems = missing_requirements()
    if problems:
        print(f"bench/gpu_train.py cannot run: {'; '.join(problems)}. The docstring lists the wheels.", file=sys.stderr)
        return 2
    started = time.perf_counter()
    work = args.keep or Path(tempfile.mkdtemp(prefix="tuneloop-gpu-bench-"))
    device = torch.cuda.get_device_name(0) if cuda else "CPU"
    print(f"device: {device}; torch {torch.__version__}; the baseline is `trl sft` (TRL's own CLI)")
    runs = [
        ("qwen2.5-0.5b", Settings(steps=20, batch_size=8, max_length=1024, cuda=cuda)),
        ("llama-3.1-8b", Settings(steps=10, batch_size=4, max_length=1024, cuda=cuda)),
    ]
    if args.smoke:
        runs = [(name, Settings(steps=2, batch_size=2, max_length=160, cuda=cuda)) for name, _ in runs]
    qlora_ok = True
    try:
        for name, settings in runs:
            model = build_model(work / name, name, args.smoke, cuda)
            ours_data, trl_data = write_data(
                work / f"{name}-data",
                examples(settings.steps * settings.batch_size, settings.max_length, settings.seed),
            )
            compare(name, model, ours_data, trl_data, work, settings)
            if name == "llama-3.1-8b":
                qlora_ok = _qlora(name, model, ours_data, trl_data, work, settings)
    except RunFailed as failure:
        print(failure, file=sys.stderr)
        return 1
    print(f"\nwall time {time.perf_counter() - started:.0f} s")
    return 0 if qlora_ok else 1


def missing_requirements() -> list[str]:
    """What would stop a training process, found before an 8B model is built."""
    problems = [f"{name} is not installed" for name in NEEDS if importlib.util.find_spec(name) is None]
    pyarrow = importlib.util.find_spec("pyarrow")
    prefixes = tuple({os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)})
    if pyarrow and pyarrow.origin and not os.path.realpath(pyarrow.origin).startswith(prefixes):
        problems.append(
            f"pyarrow is at {Path(pyarrow.origin).parent}, outside this Python's prefix, where datasets' hashing "
            "(dill) cannot pickle it: install its wheel into this Python's environment"
        )
    return problems


def _qlora(name: str, model: Path, ours_data: Path, trl_data: Path, work: Path, settings: Settings) -> bool:
    """The 8B again in 4 bits; a failure (bitsandbytes without kernels for this CUDA, say) is told, not fatal."""
    if not settings.cuda:
        print(f"\n{name} QLoRA: skipped (4-bit needs CUDA); the command lines are built:")
        print(
            "  "
            + " ".join(
                ours_command(model, ours_data, work / "q", Settings(**{**settings.__dict__, "load_in_4bit": True}))[2:]
            )
        )
        return True
    if importlib.util.find_spec("bitsandbytes") is None:
        print(f"\n{name} QLoRA: skipped, bitsandbytes is not installed (pip install 'bitsandbytes==0.50.2')")
        return True
    quantized = Settings(**{**settings.__dict__, "load_in_4bit": True, "steps": max(2, settings.steps // 2)})
    try:
        compare(f"{name}-qlora", model, ours_data, trl_data, work, quantized)
    except RunFailed as failure:
        print(f"\n{name} QLoRA: {failure}", flush=True)
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
