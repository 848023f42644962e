"""How a run uses the hardware it finds: precision, gradient checkpointing, padding-free. Pure logic, no torch.

`selfhost.modeling.hardware()` reads the facts from torch; everything decided from them lives here, so each
choice is tested without a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from selfhost.options import InputError, Options

# Attention kernels that take packed rows (position ids restart per example) without a padding mask.
_PACKED_ROW_KERNELS = (
    "flash_attention_2",
    "flash_attention_3",
    "kernels-community/flash-attn",
    "kernels-community/vllm-flash-attn3",
)


@dataclass(frozen=True)
class Hardware:
    cuda: bool
    bf16: bool = False  # the GPU computes in bf16 (compute capability 8.0, Ampere, or later)
    gpus: int = 0


@dataclass(frozen=True)
class Plan:
    precision: str  # bf16, fp16 or fp32
    gradient_checkpointing: bool
    padding_free: bool


def make_plan(options: Options, hardware: Hardware) -> Plan:
    """The run's choices; InputError for a request this hardware cannot honour."""
    if options.load_in_4bit and not hardware.cuda:
        raise InputError("--load-in-4bit (QLoRA) needs a CUDA GPU; there is none here.")
    if hardware.cuda and options.num_processes > hardware.gpus:
        raise InputError(
            f"--num-processes {options.num_processes} asks for more processes than this node's {hardware.gpus} GPU(s)."
        )
    return Plan(
        precision=choose_precision(options.precision, hardware),
        gradient_checkpointing=_switch(options.gradient_checkpointing, hardware.cuda),
        padding_free=options.method == "sft"
        and (options.packing or _switch(options.padding_free, _takes_packed_rows(options.attn_implementation))),
    )


def choose_precision(requested: str, hardware: Hardware) -> str:
    """bf16 where the GPU has it; fp16 (with loss scaling) on older GPUs rather than fp32; fp32 on the CPU."""
    if requested == "auto":
        if not hardware.cuda:
            return "fp32"
        return "bf16" if hardware.bf16 else "fp16"
    if requested == "bf16" and hardware.cuda and not hardware.bf16:
        raise InputError("--precision bf16: this GPU has no bf16 (it needs Ampere or later); use fp16.")
    if requested == "fp16" and not hardware.cuda:
        raise InputError("--precision fp16 needs a CUDA GPU; the CPU trains in fp32 or bf16.")
    return requested


def _switch(value: str, auto: bool) -> bool:
    return auto if value == "auto" else value == "on"


def _takes_packed_rows(attn_implementation: str | None) -> bool:
    return attn_implementation in _PACKED_ROW_KERNELS
