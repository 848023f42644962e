"""Which trainer back-ends exist (self-hosted ones: local_trainer.py, ray_trainer.py, docs/selfhost.md). A new back-end is a module plus one line in `build_trainers`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import openai

from providers.local_trainer import LocalTrainer
from providers.openai_trainer import OpenAITrainer, utc_today
from providers.ray_trainer import RayTrainer
from providers.together_http import DEFAULT_BASE_URL
from providers.together_trainer import TogetherTrainer
from tuning.catalogue import Catalogue
from tuning.trainers.base import Trainer


@dataclass(frozen=True)
class SelfHosted:
    """Settings of the self-hosted back-ends: `local` always, `ray` when the cluster's address is set."""

    artifacts: str
    ray_address: str | None = None
    ray_token: str | None = None
    gpu_hour_usd: float = 0.0
    gpus_per_job: float = 1
    ray_python: str = "python"
    ray_runtime_env: dict[str, Any] | None = None


def build_trainers(
    openai_client: openai.AsyncOpenAI,
    together_api_key: str | None,
    together_base_url: str | None = None,
    today: Callable[[], date] = utc_today,
    catalogue: Catalogue | None = None,
    selfhosted: SelfHosted | None = None,
) -> dict[str, Trainer]:
    """Every back-end that is configured: OpenAI always, Together when it has a key.
    Their models come from `catalogue` (read at start-up: a changed models.toml needs a restart here)."""
    trainers: dict[str, Trainer] = {"openai": OpenAITrainer(openai_client, today=today, catalogue=catalogue)}
    if together_api_key:
        trainers["together"] = TogetherTrainer(together_api_key, together_base_url or DEFAULT_BASE_URL,
                                               catalogue=catalogue)
    if selfhosted is not None:
        trainers.update(selfhosted_trainers(selfhosted, catalogue))
    return trainers


def selfhosted_trainers(config: SelfHosted, catalogue: Catalogue | None = None) -> dict[str, Trainer]:
    trainers: dict[str, Trainer] = {"local": LocalTrainer(config.artifacts, gpu_hour_usd=config.gpu_hour_usd,
                                                       gpus_per_job=config.gpus_per_job, catalogue=catalogue)}
    if config.ray_address:
        trainers["ray"] = RayTrainer(config.ray_address, config.artifacts, token=config.ray_token,
                                     gpu_hour_usd=config.gpu_hour_usd, gpus_per_job=config.gpus_per_job,
                                     python=config.ray_python, runtime_env=config.ray_runtime_env, catalogue=catalogue)
    return trainers
