"""`python -m selfhost.train`: LoRA SFT (TRL SFTTrainer), DPO (DPOTrainer) or KTO (KTOTrainer) on Tuneloop's JSONL.

Prints one JSON object a line (see `selfhost.protocol`), writes the adapter to OUTPUT/adapter with
manifest.json beside it, and exits 0; bad inputs (a flag, a dataset line, a model that cannot be loaded, a
chat template it cannot train) print one `error` line and exit 2, a failure while training prints one `error`
line and exits 1. With --num-processes N > 1 it starts itself again under `accelerate launch`, one process
per GPU (DDP); only the first process prints lines.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from selfhost.chat_template import TemplateError, check_template
from selfhost.data import DataError, read_rows
from selfhost.options import InputError, Options, parse_options
from selfhost.protocol import claim_stdout, emit, lines_stream

ADAPTER_DIR = "adapter"
CHECKPOINTS_DIR = "checkpoints"
EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        options = parse_options(argv)
        train_rows = read_rows(options.train_file, options.method)
        valid_rows = read_rows(options.validation_file, options.method) if options.validation_file else None
    except (InputError, DataError) as error:
        emit("error", error=str(error))
        return EXIT_BAD_INPUT
    if "LOCAL_RANK" not in os.environ:
        if options.num_processes > 1:
            return _launch(options.num_processes, argv)
        _one_gpu()
    # Heavy imports only once the inputs are known to be good: a bad flag answers in a blink.
    from selfhost.modeling import ModelError

    try:
        _train(options, train_rows, valid_rows)
    except (ModelError, InputError, TemplateError) as error:
        emit("error", error=str(error))
        return EXIT_BAD_INPUT
    except Exception as error:  # the one line a supervisor reads; the traceback goes to stderr
        emit("error", error=f"Training failed: {type(error).__name__}: {error}")
        raise SystemExit(EXIT_FAILED) from error
    return 0


def _launch(processes: int, argv: list[str]) -> int:
    """This program again, once per GPU, under `accelerate launch` (DDP; gloo on a machine without CUDA)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        str(processes),
        "--num_machines",
        "1",
        "--main_process_port",
        str(port),
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "selfhost.train",
        *argv,
    ]
    emit("event", message=f"Starting {processes} training processes with accelerate launch.")
    return subprocess.run(command, check=False, stdout=lines_stream()).returncode


def _one_gpu() -> None:
    """A single process sees one GPU: with several visible, the Trainer would spread it with DataParallel."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = "0" if visible is None else visible.split(",")[0]


def _train(options: Options, train_rows: list[dict[str, Any]], valid_rows: list[dict[str, Any]] | None) -> None:
    from datasets import Dataset  # type: ignore[import-untyped]
    from transformers import set_seed

    from selfhost.manifest import write_manifest
    from selfhost.modeling import hardware, load_for_training, load_tokenizer, peak_gpu_memory_gb
    from selfhost.plan import make_plan
    from selfhost.progress import ProgressLines

    set_seed(options.seed)
    found = hardware()
    plan = make_plan(options, found)
    tokenizer = load_tokenizer(options.base_model)
    check_template(tokenizer.chat_template, *_example(train_rows[0]), _special_tokens(tokenizer))
    model = load_for_training(options, plan)
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    emit(
        "event",
        message=f"Loaded {options.base_model} on {'cuda' if found.cuda else 'cpu'} ({plan.precision}"
        f"{', 4-bit' if options.load_in_4bit else ''}); {len(train_rows)} training examples; "
        f"{processes} process{'es' if processes > 1 else ''}.",
    )
    progress = ProgressLines()
    trainer = _trainer(
        options,
        plan,
        model,
        tokenizer,
        Dataset.from_list(train_rows),
        Dataset.from_list(valid_rows) if valid_rows else None,
        progress,
    )
    if len(trainer.train_dataset) == 0:
        raise InputError(f"No training example fits --max-length {options.max_length} with room for its answer.")
    checkpoint = latest_checkpoint(options.output_dir / CHECKPOINTS_DIR) if options.resume else None
    emit("event", message=f"Resuming from {checkpoint.name}." if checkpoint else "Training started.")
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    adapter_dir = options.output_dir / ADAPTER_DIR
    trainer.save_model(str(adapter_dir))  # the adapter and tokenizer, written by the first process only
    if not trainer.is_world_process_zero():
        return
    metrics = {
        **progress.final,
        "train_runtime_s": round(result.metrics["train_runtime"], 2),
        "tokens_per_second": progress.throughput(),
        "peak_gpu_memory_gb": peak_gpu_memory_gb(),
    }
    manifest = write_manifest(options, adapter_dir, metrics, "cuda" if found.cuda else "cpu")
    emit("done", adapter=str(adapter_dir), manifest=str(manifest), metrics=metrics)


def _example(row: dict[str, Any]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """One row as (prompt, completion), the pair the template check renders."""
    if "chosen" in row:
        return row["prompt"], row["chosen"]
    return row["prompt"], row["completion"]


def _special_tokens(tokenizer: Any) -> dict[str, str]:
    return {name: value for name in ("bos_token", "eos_token") if (value := getattr(tokenizer, name, None))}


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint: trainer_state.json is written last, so a save cut short has none."""
    complete = [
        path
        for path in folder.glob("checkpoint-*")
        if path.name.split("-")[-1].isdigit() and (path / "trainer_state.json").is_file()
    ]
    return max(complete, key=lambda path: int(path.name.split("-")[-1]), default=None)


def _trainer(options: Options, plan: Any, model: Any, tokenizer: Any, train: Any, valid: Any, progress: Any) -> Any:
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer, SFTConfig, SFTTrainer

    modules = options.target_modules
    lora = LoraConfig(
        r=options.lora_r,
        lora_alpha=options.lora_alpha,
        lora_dropout=options.lora_dropout,
        target_modules="all-linear" if modules == ("all-linear",) else list(modules),
        task_type="CAUSAL_LM",
    )
    common: dict[str, Any] = {
        "output_dir": str(options.output_dir / CHECKPOINTS_DIR),
        "num_train_epochs": options.epochs,
        "per_device_train_batch_size": options.batch_size,
        "per_device_eval_batch_size": options.batch_size,
        "gradient_accumulation_steps": options.gradient_accumulation_steps,
        "learning_rate": options.rate,
        "seed": options.seed,
        "max_length": options.max_length,
        "max_steps": options.max_steps or -1,
        "logging_steps": 1,
        "report_to": [],
        "save_strategy": "steps" if options.save_steps else "no",
        "save_steps": options.save_steps or 500,
        "save_total_limit": 2,
        "eval_strategy": "epoch" if valid is not None else "no",
        "bf16": plan.precision == "bf16",
        "fp16": plan.precision == "fp16",
        "use_cpu": not _cuda(),
        **checkpointing_args(plan.gradient_checkpointing),
        "ddp_find_unused_parameters": False,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }
    shared = {
        "model": model,
        "train_dataset": train,
        "eval_dataset": valid,
        "processing_class": tokenizer,
        "peft_config": lora,
        "callbacks": [progress],
    }
    if options.method == "dpo":
        return DPOTrainer(args=DPOConfig(beta=options.beta, **common), **shared)
    if options.method == "kto":
        return KTOTrainer(
            args=KTOConfig(
                beta=options.beta,
                desirable_weight=options.desirable_weight,
                undesirable_weight=options.undesirable_weight,
                **common,
            ),
            **shared,
        )
    # Prompt/completion rows: the loss covers the completion only, whatever the chat template (no
    # {% generation %} markers needed).
    return SFTTrainer(
        args=SFTConfig(completion_only_loss=True, padding_free=plan.padding_free, packing=options.packing, **common),
        **shared,
    )


def checkpointing_args(on: bool) -> dict[str, Any]:
    """transformers 5.24 renamed gradient_checkpointing to activation_checkpointing (the old name warns); GPU
    images and clusters often carry an earlier 5.x, so use the name this install knows."""
    import dataclasses

    from transformers import TrainingArguments

    names = {field.name for field in dataclasses.fields(TrainingArguments)}
    prefix = "activation" if "activation_checkpointing" in names else "gradient"
    return {f"{prefix}_checkpointing": on, f"{prefix}_checkpointing_kwargs": {"use_reentrant": False}}


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    claim_stdout(lines=int(os.environ.get("RANK", "0")) == 0)  # under accelerate launch, the first process speaks
    sys.exit(main())
