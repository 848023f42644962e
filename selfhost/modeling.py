"""Loading a base model and its tokenizer: for serving (on the GPU in bf16 where there is one, else on the
CPU) and for training (as `selfhost.plan` decided: precision, attention implementation, 4-bit QLoRA)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

if TYPE_CHECKING:
    from selfhost.options import Options
    from selfhost.plan import Hardware, Plan

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


class ModelError(RuntimeError):
    """The base model (or an adapter) cannot be loaded; the message says which and why."""


@dataclass(frozen=True)
class Device:
    use_cpu: bool
    bf16: bool

    @property
    def dtype(self) -> torch.dtype:
        return torch.bfloat16 if self.bf16 else torch.float32

    @property
    def name(self) -> str:
        return "cpu" if self.use_cpu else "cuda"


def pick_device() -> Device:
    if torch.cuda.is_available():
        return Device(use_cpu=False, bf16=torch.cuda.is_bf16_supported())
    return Device(use_cpu=True, bf16=False)


def hardware() -> Hardware:
    from selfhost.plan import Hardware

    if not torch.cuda.is_available():
        return Hardware(cuda=False)
    return Hardware(cuda=True, bf16=torch.cuda.is_bf16_supported(), gpus=torch.cuda.device_count())


def peak_gpu_memory_gb() -> float | None:
    """The most GPU memory this process has held for tensors, in GiB; None without CUDA."""
    if not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**30, 2)


def looks_local(base_model: str) -> bool:
    """A path-shaped name is a local folder; `org/name` is a hub id unless that folder exists here."""
    path = Path(base_model)
    return path.exists() or base_model.startswith((".", "/", "~"))


def load_base(base_model: str, device: Device) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    tokenizer = load_tokenizer(base_model)
    model = _load_model(base_model, dtype=device.dtype)
    return model.to(device.name), tokenizer  # type: ignore[arg-type]  # transformers' stub types `.to` oddly


def load_tokenizer(base_model: str) -> PreTrainedTokenizerBase:
    if looks_local(base_model) and not (Path(base_model).expanduser() / "config.json").is_file():
        raise ModelError(f"The base model folder {base_model} has no config.json: it is not a model folder.")
    try:
        tokenizer = AutoTokenizer.from_pretrained(base_model)
    except (OSError, ValueError, KeyError) as error:
        raise ModelError(f"The base model `{base_model}` cannot be loaded: {_first_line(error)}") from error
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if getattr(tokenizer, "chat_template", None) is None:
        raise ModelError(f"The base model `{base_model}` has no chat template, so chat data cannot be formatted.")
    return tokenizer


def load_for_training(options: Options, plan: Plan) -> PreTrainedModel:
    """The base model as the plan says; the Trainer places it on this process's device (one GPU per process)."""
    kwargs: dict[str, Any] = {"dtype": DTYPES[plan.precision]}
    if options.attn_implementation:
        kwargs["attn_implementation"] = options.attn_implementation
    if options.load_in_4bit:
        kwargs.update(quantization_kwargs(plan.precision))
    return _load_model(options.base_model, **kwargs)


def quantization_kwargs(precision: str) -> dict[str, Any]:
    """QLoRA: NF4 weights with double quantization, computing in the run's precision, on this process's GPU."""
    from transformers import BitsAndBytesConfig

    config = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=DTYPES[precision],
        bnb_4bit_quant_storage=DTYPES[precision],
    )
    return {"quantization_config": config, "device_map": {"": int(os.environ.get("LOCAL_RANK", "0"))}}


def _load_model(base_model: str, **kwargs: Any) -> PreTrainedModel:
    try:
        return AutoModelForCausalLM.from_pretrained(base_model, **kwargs)
    except ImportError as error:  # bitsandbytes or a flash-attention package missing
        raise ModelError(f"The base model `{base_model}` cannot be loaded: {_first_line(error)}") from error
    except (OSError, ValueError, KeyError) as error:
        raise ModelError(f"The base model `{base_model}` cannot be loaded: {_first_line(error)}") from error


def _first_line(error: Any) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
