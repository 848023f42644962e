"""The training program's inputs: parsed from the command line and checked before anything heavy loads."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

METHODS = ("sft", "dpo")


class InputError(ValueError):
    """An input the program cannot train with; the message says which and why."""


@dataclass(frozen=True)
class Options:
    base_model: str
    method: str
    train_file: Path
    output_dir: Path
    validation_file: Path | None = None
    epochs: int = 3
    batch_size: int = 4
    learning_rate: float = 2e-4
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("all-linear",)
    beta: float = 0.1
    seed: int = 42
    max_length: int = 1024
    job_id: str | None = None
    dataset: str | None = None
    max_steps: int | None = field(default=None)

    def hyperparameters(self) -> dict[str, Any]:
        """What the manifest records about how the adapter was trained."""
        keep = ("method", "epochs", "batch_size", "learning_rate", "lora_r", "lora_alpha", "lora_dropout",
                "target_modules", "seed", "max_length", "max_steps")
        values = {key: value for key, value in asdict(self).items() if key in keep}
        values["target_modules"] = list(self.target_modules)
        if self.method == "dpo":
            values["beta"] = self.beta
        return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m selfhost.train",
        description="LoRA fine-tuning (SFT or DPO) on a Tuneloop dataset version; prints JSON lines.")
    parser.add_argument("--base-model", required=True, help="a model id or a local folder")
    parser.add_argument("--method", choices=METHODS, default="sft")
    parser.add_argument("--train-file", required=True, type=Path)
    parser.add_argument("--validation-file", type=Path)
    parser.add_argument("--output-dir", required=True, type=Path)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--lora-alpha", type=int, default=32)
    parser.add_argument("--lora-dropout", type=float, default=0.05)
    parser.add_argument("--target-modules", default="all-linear",
                        help="comma-separated module names, or all-linear")
    parser.add_argument("--beta", type=float, default=0.1, help="DPO beta")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--max-steps", type=int, help="stop after this many steps (smoke runs)")
    parser.add_argument("--job-id", help="Tuneloop's job id, recorded in the manifest")
    parser.add_argument("--dataset", help="NAME@version, recorded in the manifest")
    return parser


def parse_options(argv: list[str] | None) -> Options:
    """Options from `argv`; InputError (not SystemExit) for anything wrong, so the caller prints one error line."""
    parser = build_parser()
    parser.exit_on_error = False
    parser.error = _raise  # type: ignore[method-assign]  # argparse would exit; we print one error line
    try:
        args = parser.parse_args(argv)
    except argparse.ArgumentError as error:
        raise InputError(str(error)) from None
    options = Options(
        base_model=args.base_model, method=args.method, train_file=args.train_file, output_dir=args.output_dir,
        validation_file=args.validation_file, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, lora_r=args.lora_r, lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout, target_modules=_modules(args.target_modules), beta=args.beta,
        seed=args.seed, max_length=args.max_length, job_id=args.job_id, dataset=args.dataset,
        max_steps=args.max_steps)
    check(options)
    return options


def _raise(message: str) -> NoReturn:
    raise InputError(message)


def _modules(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def check(options: Options) -> None:
    positive = {"--epochs": options.epochs, "--batch-size": options.batch_size, "--lora-r": options.lora_r,
                "--lora-alpha": options.lora_alpha, "--max-length": options.max_length}
    for name, value in positive.items():
        if value < 1:
            raise InputError(f"{name} must be at least 1 (got {value}).")
    if options.max_steps is not None and options.max_steps < 1:
        raise InputError(f"--max-steps must be at least 1 (got {options.max_steps}).")
    if not options.learning_rate > 0 or not options.beta > 0:
        raise InputError("--learning-rate and --beta must be greater than 0.")
    if not 0 <= options.lora_dropout < 1:
        raise InputError(f"--lora-dropout must be from 0 up to (not including) 1 (got {options.lora_dropout}).")
    if not options.target_modules:
        raise InputError("--target-modules names no module; use all-linear or names like q_proj,v_proj.")
    for path in (options.train_file, options.validation_file):
        if path is not None and not path.is_file():
            raise InputError(f"There is no dataset file at {path}.")
