"""What Tuneloop knows about chat models: context window and token encoding."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelInfo:
    context_window: int
    encoding: str = "o200k_base"
    max_output_tokens: int = 4096


# Prefix match, longest first. Context windows from the providers' model pages (Nov 2026).
_KNOWN: dict[str, ModelInfo] = {
    "gpt-5": ModelInfo(272_000, max_output_tokens=16_384),
    "gpt-4.1": ModelInfo(1_047_576, max_output_tokens=16_384),
    "gpt-4o": ModelInfo(128_000),
    "o4": ModelInfo(200_000, max_output_tokens=16_384),
    "o3": ModelInfo(200_000, max_output_tokens=16_384),
    "gpt-4-turbo": ModelInfo(128_000, encoding="cl100k_base"),
    "gpt-4": ModelInfo(8_192, encoding="cl100k_base"),
    "gpt-3.5-turbo": ModelInfo(16_385, encoding="cl100k_base"),
}
# Open models served by Together and friends: a conservative window.
_UNKNOWN = ModelInfo(32_768)


def base_model(model: str) -> str:
    """`ft:gpt-4.1-mini-2025-04-14:org:suffix:id` → `gpt-4.1-mini-2025-04-14`."""
    if model.startswith("ft:"):
        return model.split(":")[1]
    return model


def model_info(model: str) -> ModelInfo:
    name = base_model(model)
    for prefix in sorted(_KNOWN, key=len, reverse=True):
        if name.startswith(prefix):
            return _KNOWN[prefix]
    return _UNKNOWN
