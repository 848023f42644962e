"""How many tokens one training example may have, per base model: the one table.

Longer examples are truncated by the provider, so a build drops them (reason `too_many_tokens`).
Prefixes match the base model name (`ft:` names are reduced to their base first), longest first.
"""

from __future__ import annotations

from tuning.models import base_model

EXAMPLE_TOKEN_LIMITS: dict[str, int] = {
    # OpenAI / Azure OpenAI fine-tuning docs: "Training example context length: 65,536" for
    # gpt-4o-2024-08-06 and gpt-4o-mini-2024-07-18 (Azure's fine-tune models table, 2025), and the
    # same for the gpt-4.1 family in OpenAI's fine-tuning guide (2025).
    "gpt-4.1": 65_536,
    "gpt-4o": 65_536,
    # gpt-3.5-turbo-0125/1106: 16,385 tokens per example (OpenAI cookbook, Chat_finetuning_data_prep, PR #1178).
    "gpt-3.5-turbo": 16_385,
}

# Open models (Together and other OpenAI-compatible trainers): 8,192 tokens, the shortest SFT
# context length among the Llama 3.x "Reference" models at default settings in Together's
# fine-tuning model table; longer contexts need LoRA and per-model settings. Conservative on purpose.
OPEN_MODEL_LIMIT = 8_192


def example_token_limit(model: str) -> int:
    name = base_model(model)
    for prefix in sorted(EXAMPLE_TOKEN_LIMITS, key=len, reverse=True):
        if name.startswith(prefix):
            return EXAMPLE_TOKEN_LIMITS[prefix]
    return OPEN_MODEL_LIMIT
