"""`python -m selfhost.train`: LoRA SFT (TRL SFTTrainer) or DPO (TRL DPOTrainer) on Tuneloop's JSONL.

Prints one JSON object a line (see `selfhost.protocol`), writes the adapter to OUTPUT/adapter with
manifest.json beside it, and exits 0; bad inputs print one `error` line and exit 2, a failure
while training prints one `error` line and exits 1.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from selfhost.data import DataError, read_rows
from selfhost.options import InputError, Options, parse_options
from selfhost.protocol import claim_stdout, emit

ADAPTER_DIR = "adapter"
EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


def main(argv: list[str] | None = None) -> int:
    try:
        options = parse_options(argv)
        train_rows = read_rows(options.train_file, options.method)
        valid_rows = read_rows(options.validation_file, options.method) if options.validation_file else None
    except (InputError, DataError) as error:
        emit("error", error=str(error))
        return EXIT_BAD_INPUT
    # Heavy imports only once the inputs are known to be good: a bad flag answers in a blink.
    from selfhost.modeling import ModelError

    try:
        _train(options, train_rows, valid_rows)
    except ModelError as error:
        emit("error", error=str(error))
        return EXIT_BAD_INPUT
    except Exception as error:  # the one line a supervisor reads; the traceback goes to stderr
        emit("error", error=f"Training failed: {type(error).__name__}: {error}")
        raise SystemExit(EXIT_FAILED) from error
    return 0


def _train(options: Options, train_rows: list[dict[str, Any]], valid_rows: list[dict[str, Any]] | None) -> None:
    from datasets import Dataset  # type: ignore[import-untyped]
    from transformers import set_seed

    from selfhost.manifest import write_manifest
    from selfhost.modeling import load_base, pick_device
    from selfhost.progress import ProgressLines

    set_seed(options.seed)
    device = pick_device()
    model, tokenizer = load_base(options.base_model, device)
    emit("event", message=f"Loaded {options.base_model} on {device.name}"
         f"{' (bf16)' if device.bf16 else ''}; {len(train_rows)} training examples.")
    progress = ProgressLines()
    trainer = _trainer(options, device, model, tokenizer, Dataset.from_list(train_rows),
                       Dataset.from_list(valid_rows) if valid_rows else None, progress)
    emit("event", message="Training started.")
    trainer.train()
    adapter_dir = options.output_dir / ADAPTER_DIR
    trainer.model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    manifest = write_manifest(options, adapter_dir, progress.final, device.name)
    emit("done", adapter=str(adapter_dir), manifest=str(manifest), metrics=progress.final)


def _trainer(options: Options, device: Any, model: Any, tokenizer: Any, train: Any, valid: Any, progress: Any) -> Any:
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    modules = options.target_modules
    lora = LoraConfig(r=options.lora_r, lora_alpha=options.lora_alpha, lora_dropout=options.lora_dropout,
                      target_modules="all-linear" if modules == ("all-linear",) else list(modules),
                      task_type="CAUSAL_LM")
    common: dict[str, Any] = {
        "output_dir": str(options.output_dir / "checkpoints"), "num_train_epochs": options.epochs,
        "per_device_train_batch_size": options.batch_size, "per_device_eval_batch_size": options.batch_size,
        "learning_rate": options.learning_rate, "seed": options.seed, "max_length": options.max_length,
        "max_steps": options.max_steps or -1, "logging_steps": 1, "save_strategy": "no", "report_to": [],
        "eval_strategy": "epoch" if valid is not None else "no", "bf16": device.bf16, "use_cpu": device.use_cpu,
        "gradient_checkpointing": False, "disable_tqdm": True, "dataloader_num_workers": 0}
    if options.method == "dpo":
        return DPOTrainer(model=model, args=DPOConfig(beta=options.beta, **common), train_dataset=train,
                          eval_dataset=valid, processing_class=tokenizer, peft_config=lora, callbacks=[progress])
    # Loss on assistant tokens only: needs a chat template with {% generation %} markers (TRL checks it).
    return SFTTrainer(model=model, args=SFTConfig(assistant_only_loss=True, **common), train_dataset=train,
                      eval_dataset=valid, processing_class=tokenizer, peft_config=lora, callbacks=[progress])


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    claim_stdout()
    sys.exit(main())
