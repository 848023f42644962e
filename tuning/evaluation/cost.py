"""What answering costs: USD per 1,000 answers from per-model prices per 1M input and output tokens.

Prices are not hard-coded here (facts.md: they change and sources disagree); the caller passes a
lookup, typically built from configuration with `prices_by_prefix`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

PER_MILLION = 1_000_000
ANSWERS = 1_000


@dataclass(frozen=True)
class ModelPrice:
    input_usd_per_million: float
    output_usd_per_million: float


PriceLookup = Callable[[str], ModelPrice | None]


def no_prices(model: str) -> ModelPrice | None:
    """The default lookup: every model is unknown, so every cost shows as "n/a"."""
    return None


def prices_by_prefix(table: Mapping[str, ModelPrice]) -> PriceLookup:
    """Longest matching prefix wins, so "ft:gpt-4.1-mini" can be priced apart from "gpt-4.1-mini"."""
    prefixes = sorted(table, key=len, reverse=True)

    def lookup(model: str) -> ModelPrice | None:
        return next((table[prefix] for prefix in prefixes if model.startswith(prefix)), None)

    return lookup


def cost_per_thousand(price: ModelPrice | None, mean_input_tokens: float | None, mean_output_tokens: float | None) -> float | None:
    """USD for 1,000 answers of the measured average size; None when the price or the usage is unknown."""
    if price is None or mean_input_tokens is None or mean_output_tokens is None:
        return None
    per_answer = (
        mean_input_tokens * price.input_usd_per_million + mean_output_tokens * price.output_usd_per_million
    ) / PER_MILLION
    return per_answer * ANSWERS
