"""Loading a base model and its tokenizer, on the GPU in bf16 where there is one, else on the CPU."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)


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


def looks_local(base_model: str) -> bool:
    """A path-shaped name is a local folder; `org/name` is a hub id unless that folder exists here."""
    path = Path(base_model)
    return path.exists() or base_model.startswith((".", "/", "~"))


def load_base(base_model: str, device: Device) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    if looks_local(base_model) and not (Path(base_model).expanduser() / "config.json").is_file():
        raise ModelError(f"The base model folder {base_model} has no config.json: it is not a model folder.")
    try:
        tokenizer = AutoTokenizer.from_pretrained(base_model)
        model = AutoModelForCausalLM.from_pretrained(base_model, dtype=device.dtype)
    except (OSError, ValueError, KeyError) as error:
        raise ModelError(f"The base model `{base_model}` cannot be loaded: {_first_line(error)}") from error
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if getattr(tokenizer, "chat_template", None) is None:
        raise ModelError(f"The base model `{base_model}` has no chat template, so chat data cannot be formatted.")
    return model.to(device.name), tokenizer  # type: ignore[arg-type]  # transformers' stub types `.to` oddly


def _first_line(error: Any) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
