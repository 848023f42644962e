"""Which trainer back-ends exist. A new back-end is a module plus one line in `build_trainers`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import openai

from providers.openai_trainer import OpenAITrainer, utc_today
from providers.together_http import DEFAULT_BASE_URL
from providers.together_trainer import TogetherTrainer
from tuning.catalogue import Catalogue
from tuning.trainers.base import Trainer


def build_trainers(
    openai_client: openai.AsyncOpenAI,
    together_api_key: str | None,
    together_base_url: str | None = None,
    today: Callable[[], date] = utc_today,
    catalogue: Catalogue | None = None,
) -> dict[str, Trainer]:
    """Every back-end that is configured: OpenAI always, Together when it has a key.
    Their models come from `catalogue` (read at start-up: a changed models.toml needs a restart here)."""
    trainers: dict[str, Trainer] = {"openai": OpenAITrainer(openai_client, today=today, catalogue=catalogue)}
    if together_api_key:
        trainers["together"] = TogetherTrainer(together_api_key, together_base_url or DEFAULT_BASE_URL,
                                               catalogue=catalogue)
    return trainers
