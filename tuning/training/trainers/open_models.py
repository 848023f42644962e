"""What the self-hosted trainers (`local`, `ray`) need to know beyond the catalogue's model facts.

Which open models they train, and how large each is, is in tuning/catalogue/models.toml (`train = {local, ray}`,
`parameters_billion`); any readable local folder holding a Hugging Face model is accepted too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tuning.catalogue.entries import Catalogue
from tuning.training.trainers.base import is_model_folder

# Effective training FLOP/s of one GPU for LoRA in bf16: an A100-class card at about 30 % of its
# 312 TFLOP/s peak. Training costs about 6 × parameters FLOPs a token (forward + backward); this
# is the documented throughput behind GPU-hour estimates (docs/selfhost.md).
GPU_EFFECTIVE_FLOPS = 1e14
# A model whose size is unknown (an entry without parameters_billion, a folder whose config.json says too little).
UNKNOWN_PARAMETERS_BILLION = 1.0

# A tuned self-hosted model is a LoRA adapter; its name on the serving endpoint (vLLM's `lora_name`)
# and in Tuneloop (the job's tuned model, the model history, answers) is this prefix plus the job id.
ADAPTER_PREFIX = "tuneloop-"
SELF_HOSTED_PROVIDER = "huggingface"


def gpu_hours(catalogue: Catalogue, model: str, billed_tokens: int) -> float:
    """Estimated GPU-hours to train `billed_tokens` (epochs × tokens) on `model`."""
    entry = catalogue.entry(model)
    size = entry.parameters_billion if entry and entry.parameters_billion else None
    if size is None and is_model_folder(model):
        size = folder_parameters_billion(Path(model))
    size = size or UNKNOWN_PARAMETERS_BILLION
    tokens_per_second = GPU_EFFECTIVE_FLOPS / (6 * size * 1e9)
    return billed_tokens / tokens_per_second / 3600


def folder_parameters_billion(folder: Path) -> float | None:
    """A decoder's size from its config.json (no weights read): embeddings, attention, MLP and the output head.

    Llama-family names (hidden_size, intermediate_size: a gated MLP of three matrices, num_key_value_heads)
    and GPT-2's (n_embd, n_layer, n_inner: two matrices); mixture-of-experts counts every expert. None when
    the config lacks what this needs."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        config = config.get("text_config", config)  # a multimodal config wraps its language model
        return _decoder_parameters(config) / 1e9
    except (OSError, ValueError, TypeError, KeyError, ZeroDivisionError):
        return None


def _decoder_parameters(config: dict[str, Any]) -> int:
    def first(*names: str, default: Any = None) -> Any:
        value = next((config[name] for name in names if config.get(name) is not None), default)
        if value is None:
            raise KeyError(names[0])
        return value

    hidden, layers = int(first("hidden_size", "n_embd", "d_model")), int(first("num_hidden_layers", "n_layer"))
    vocab, heads = int(first("vocab_size")), int(first("num_attention_heads", "n_head"))
    kv_heads, head_dim = (
        int(first("num_key_value_heads", default=heads)),
        int(first("head_dim", default=hidden // heads)),
    )
    gated = "intermediate_size" in config
    inner = int(first("moe_intermediate_size", "intermediate_size", "n_inner", default=4 * hidden))
    experts = int(first("num_local_experts", "num_experts", "n_routed_experts", default=1))
    attention = hidden * head_dim * (2 * heads + 2 * kv_heads)  # q and o, k and v
    mlp = (3 if gated else 2) * hidden * inner * experts
    tied = bool(config.get("tie_word_embeddings", True))
    return vocab * hidden * (1 if tied else 2) + layers * (attention + mlp + 2 * hidden) + hidden


def served_name(job_id: str) -> str:
    return f"{ADAPTER_PREFIX}{job_id}"


def is_adapter(model: str) -> bool:
    """`tuneloop-<job id>`; a name with '/' is a hosted provider's (a Together account may start so too)."""
    return model.startswith(ADAPTER_PREFIX) and "/" not in model
