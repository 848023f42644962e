"""What the self-hosted trainers (`local`, `ray`) need to know beyond the catalogue's model facts.

Which open models they train, and how large each is, is in tuning/models.toml (`train = {local, ray}`,
`parameters_billion`); any readable local folder holding a Hugging Face model is accepted too.
"""

from __future__ import annotations

from tuning.catalogue import Catalogue

# Effective training FLOP/s of one GPU for LoRA in bf16: an A100-class card at about 30 % of its
# 312 TFLOP/s peak. Training costs about 6 × parameters FLOPs a token (forward + backward); this
# is the documented throughput behind GPU-hour estimates (docs/selfhost.md).
GPU_EFFECTIVE_FLOPS = 1e14
# A model whose size is unknown (a local folder, an entry without parameters_billion).
UNKNOWN_PARAMETERS_BILLION = 1.0

# A tuned self-hosted model is a LoRA adapter; its name on the serving endpoint (vLLM's `lora_name`)
# and in Tuneloop (the job's tuned model, the model history, answers) is this prefix plus the job id.
ADAPTER_PREFIX = "tuneloop-"
SELF_HOSTED_PROVIDER = "huggingface"


def gpu_hours(catalogue: Catalogue, model: str, billed_tokens: int) -> float:
    """Estimated GPU-hours to train `billed_tokens` (epochs × tokens) on `model`."""
    entry = catalogue.entry(model)
    size = entry.parameters_billion if entry and entry.parameters_billion else UNKNOWN_PARAMETERS_BILLION
    tokens_per_second = GPU_EFFECTIVE_FLOPS / (6 * size * 1e9)
    return billed_tokens / tokens_per_second / 3600


def served_name(job_id: str) -> str:
    return f"{ADAPTER_PREFIX}{job_id}"


def is_adapter(model: str) -> bool:
    """`tuneloop-<job id>`; a name with '/' is a hosted provider's (a Together account may start so too)."""
    return model.startswith(ADAPTER_PREFIX) and "/" not in model
