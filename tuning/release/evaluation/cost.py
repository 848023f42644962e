"""What answering costs: USD per 1,000 answers from per-model prices per 1M input and output tokens.

Prices are not held here: the caller passes a lookup, normally the model catalogue's
`Catalogue.inference_price` (tuning/catalogue/models.toml, overridable beside the database).
"""

from __future__ import annotations

from collections.abc import Callable

from tuning.catalogue.entries import ModelPrice

PER_MILLION = 1_000_000
ANSWERS = 1_000


PriceLookup = Callable[[str], ModelPrice | None]


def no_prices(model: str) -> ModelPrice | None:
    """The default lookup: every model is unknown, so every cost shows as "n/a"."""
    return None


def cost_per_thousand(
    price: ModelPrice | None, mean_input_tokens: float | None, mean_output_tokens: float | None
) -> float | None:
    """USD for 1,000 answers of the measured average size; None when the price or the usage is unknown."""
    if price is None or mean_input_tokens is None or mean_output_tokens is None:
        return None
    per_answer = (
        mean_input_tokens * price.input_usd_per_million + mean_output_tokens * price.output_usd_per_million
    ) / PER_MILLION
    return per_answer * ANSWERS
