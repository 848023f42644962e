"""The training program's inputs: parsed from the command line and checked before anything heavy loads."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

METHODS = ("sft", "dpo", "kto")
# LoRA learning rates. Preference methods move a policy against a reference: TRL's own defaults for full
# fine-tuning are 1e-6 (DPOConfig, KTOConfig); LoRA updates fewer weights and takes about ten times that.
DEFAULT_LEARNING_RATE = {"sft": 2e-4, "dpo": 5e-6, "kto": 5e-6}
SWITCHES = ("auto", "on", "off")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")


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
    learning_rate: float | None = None  # None: DEFAULT_LEARNING_RATE of the method
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
    gradient_accumulation_steps: int = 1
    gradient_checkpointing: str = "auto"  # auto: on with CUDA, off on the CPU
    precision: str = "auto"  # auto: bf16 where the GPU has it, else fp16 on a GPU, fp32 on the CPU
    attn_implementation: str | None = None  # None: transformers' choice (sdpa where it can)
    padding_free: str = "auto"  # auto: on where the attention implementation handles packed rows
    packing: bool = False
    load_in_4bit: bool = False
    save_steps: int | None = None
    resume: bool = False
    num_processes: int = 1
    desirable_weight: float = 1.0
    undesirable_weight: float = 1.0

    @property
    def rate(self) -> float:
        return self.learning_rate if self.learning_rate is not None else DEFAULT_LEARNING_RATE[self.method]

    def hyperparameters(self) -> dict[str, Any]:
        """What the manifest records about how the adapter was trained."""
        keep = (
            "method",
            "epochs",
            "batch_size",
            "lora_r",
            "lora_alpha",
            "lora_dropout",
            "target_modules",
            "seed",
            "max_length",
            "max_steps",
            "gradient_accumulation_steps",
            "load_in_4bit",
            "packing",
            "num_processes",
        )
        values = {key: value for key, value in asdict(self).items() if key in keep}
        values["target_modules"] = list(self.target_modules)
        values["learning_rate"] = self.rate
        if self.method in ("dpo", "kto"):
            values["beta"] = self.beta
        if self.method == "kto":
            values.update(desirable_weight=self.desirable_weight, undesirable_weight=self.undesirable_weight)
        return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m selfhost.train",
        description="LoRA fine-tuning (SFT, DPO or KTO) on a Tuneloop dataset version; prints JSON lines.",
    )
    parser.add_argument("--base-model", required=True, help="a model id or a local folder")
    parser.add_argument("--method", choices=METHODS, default="sft")
    parser.add_argument("--train-file", required=True, type=Path)
    parser.add_argument("--validation-file", type=Path)
    parser.add_argument("--output-dir", required=True, type=Path)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument(
        "--learning-rate",
        type=float,
        help="default: " + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LEARNING_RATE.items()),
    )
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--lora-alpha", type=int, default=32)
    parser.add_argument("--lora-dropout", type=float, default=0.05)
    parser.add_argument("--target-modules", default="all-linear", help="comma-separated module names, or all-linear")
    parser.add_argument("--beta", type=float, default=0.1, help="DPO and KTO beta")
    parser.add_argument("--desirable-weight", type=float, default=1.0, help="KTO: weight of desirable answers")
    parser.add_argument("--undesirable-weight", type=float, default=1.0, help="KTO: weight of undesirable answers")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--max-steps", type=int, help="stop after this many steps (smoke runs)")
    memory = parser.add_argument_group("GPU memory and speed")
    memory.add_argument("--gradient-accumulation-steps", type=int, default=1)
    memory.add_argument("--gradient-checkpointing", choices=SWITCHES, default="auto", help="auto: on with CUDA")
    memory.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="auto: bf16 where the GPU supports it, else fp16; fp32 on the CPU",
    )
    memory.add_argument(
        "--attn-implementation",
        help="sdpa, eager, flash_attention_2, or a kernels-hub name; default: transformers' choice",
    )
    memory.add_argument(
        "--padding-free",
        choices=SWITCHES,
        default="auto",
        help="SFT: no padding tokens in a batch; auto: on with flash attention",
    )
    memory.add_argument("--packing", action="store_true", help="SFT: pack examples into rows of --max-length")
    memory.add_argument(
        "--load-in-4bit",
        action="store_true",
        help="QLoRA: the base model in 4-bit NF4 (needs CUDA and the `qlora` extra)",
    )
    memory.add_argument(
        "--num-processes",
        type=int,
        default=1,
        help="one process per GPU on this node, started with `accelerate launch` (DDP)",
    )
    resume = parser.add_argument_group("checkpoints")
    resume.add_argument("--save-steps", type=int, help="save a checkpoint every N steps")
    resume.add_argument(
        "--resume",
        action="store_true",
        help="continue from the latest checkpoint in OUTPUT/checkpoints, if there is one",
    )
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
        base_model=args.base_model,
        method=args.method,
        train_file=args.train_file,
        output_dir=args.output_dir,
        validation_file=args.validation_file,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules=_modules(args.target_modules),
        beta=args.beta,
        seed=args.seed,
        max_length=args.max_length,
        job_id=args.job_id,
        dataset=args.dataset,
        max_steps=args.max_steps,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        gradient_checkpointing=args.gradient_checkpointing,
        precision=args.precision,
        attn_implementation=args.attn_implementation,
        padding_free=args.padding_free,
        packing=args.packing,
        load_in_4bit=args.load_in_4bit,
        save_steps=args.save_steps,
        resume=args.resume,
        num_processes=args.num_processes,
        desirable_weight=args.desirable_weight,
        undesirable_weight=args.undesirable_weight,
    )
    check(options)
    return options


def _raise(message: str) -> NoReturn:
    raise InputError(message)


def _modules(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def check(options: Options) -> None:
    positive = {
        "--epochs": options.epochs,
        "--batch-size": options.batch_size,
        "--lora-r": options.lora_r,
        "--lora-alpha": options.lora_alpha,
        "--max-length": options.max_length,
        "--gradient-accumulation-steps": options.gradient_accumulation_steps,
        "--num-processes": options.num_processes,
        "--max-steps": options.max_steps,
        "--save-steps": options.save_steps,
    }
    for name, value in positive.items():
        if value is not None and value < 1:
            raise InputError(f"{name} must be at least 1 (got {value}).")
    rates = (options.rate, options.beta, options.desirable_weight, options.undesirable_weight)
    if not all(value > 0 for value in rates):
        raise InputError("--learning-rate, --beta and the KTO weights must be greater than 0.")
    if options.method == "kto" and options.batch_size < 2:
        raise InputError(
            "--batch-size must be at least 2 for KTO: it compares each answer with the others in its batch."
        )
    if options.packing and options.method != "sft":
        raise InputError("--packing is for SFT only.")
    if not 0 <= options.lora_dropout < 1:
        raise InputError(f"--lora-dropout must be from 0 up to (not including) 1 (got {options.lora_dropout}).")
    if not options.target_modules:
        raise InputError("--target-modules names no module; use all-linear or names like q_proj,v_proj.")
    for path in (options.train_file, options.validation_file):
        if path is not None and not path.is_file():
            raise InputError(f"There is no dataset file at {path}.")
