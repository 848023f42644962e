"""Default epochs and the estimated training cost (docs/providers.md: OpenAI's published rules)."""

from __future__ import annotations

from tuning.catalogue.entries import Catalogue
from tuning.training.datasets.specs import CostEstimate

DEFAULT_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100  # few examples: more passes, so the model sees about 100
MAX_TARGET_EXAMPLES = 25_000  # many examples: fewer passes, so it sees about 25,000
MAX_EPOCHS = 25


def default_epochs(n: int) -> int:
    """Epochs the provider picks when none is given, for n training examples (0 when there are none)."""
    if n <= 0:
        return 0
    if DEFAULT_EPOCHS * n < MIN_TARGET_EXAMPLES:
        return min(MAX_EPOCHS, MIN_TARGET_EXAMPLES // n)
    if DEFAULT_EPOCHS * n > MAX_TARGET_EXAMPLES:
        return max(1, MAX_TARGET_EXAMPLES // n)
    return DEFAULT_EPOCHS


def billed_tokens(epochs: int, train_tokens: int) -> int:
    """epochs × Σ min(limit, tokens): the build already dropped examples over the limit, so the sum is exact."""
    return epochs * train_tokens


def estimate(catalogue: Catalogue, *, trainer: str, model: str, train_examples: int, train_tokens: int) -> CostEstimate:
    epochs = default_epochs(train_examples)
    billed = billed_tokens(epochs, train_tokens)
    price = catalogue.training_price(model)
    return CostEstimate(
        trainer=trainer,
        model=model,
        epochs=epochs,
        billed_tokens=billed,
        usd_per_million=price.usd_per_million if price else None,
        usd=round(billed * price.usd_per_million / 1_000_000, 2) if price else None,
        prices_checked=price.checked if price else None,
    )
