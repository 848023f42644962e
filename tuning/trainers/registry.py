"""Which trainer back-ends exist. A new back-end is a module plus one line in `build_trainers`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date

import openai

from tuning.catalogue import Catalogue
from tuning.errors import TuningError
from tuning.trainers.base import Trainer
from tuning.trainers.openai_trainer import OpenAITrainer, utc_today
from tuning.trainers.together_http import DEFAULT_BASE_URL
from tuning.trainers.together_trainer import TogetherTrainer


class UnknownTrainer(TuningError):
    pass


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


def get_trainer(trainers: Mapping[str, Trainer], name: str) -> Trainer:
    trainer = trainers.get(name.strip().lower())
    if trainer is not None:
        return trainer
    available = ", ".join(f"`{known}`" for known in trainers) or "none"
    hint = " Together needs TOGETHER_API_KEY set by an operator." if name.strip().lower() == "together" else ""
    raise UnknownTrainer(f"There is no `{name}` trainer here. Available: {available}.{hint}")


async def close_trainers(trainers: Mapping[str, Trainer]) -> None:
    for trainer in trainers.values():
        await trainer.close()
