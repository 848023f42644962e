"""Trainer back-ends behind one interface: `Trainer` in `base`, values in `types`.

    trainers = build_trainers(openai_client, together_api_key, together_base_url)
    trainer = get_trainer(trainers, "together")
    job = await trainer.create_job(JobRequest(...))
"""

from tuning.trainers.base import Trainer, check_request
from tuning.trainers.errors import (
    MethodNotSupported,
    ProviderRefused,
    ProviderRejected,
    ProviderUnavailable,
    TrainerError,
    UnknownModel,
)
from tuning.trainers.openai_trainer import OpenAITrainer
from tuning.trainers.registry import UnknownTrainer, build_trainers, close_trainers, get_trainer
from tuning.trainers.retry import RetryPolicy
from tuning.trainers.together_trainer import LoraSettings, TogetherTrainer
from tuning.trainers.types import (
    LINK_KEY,
    Capabilities,
    EventPage,
    JobEvent,
    JobRequest,
    JobState,
    MetricPoint,
    TrainerJob,
)

__all__ = [
    "LINK_KEY",
    "Capabilities",
    "EventPage",
    "JobEvent",
    "JobRequest",
    "JobState",
    "LoraSettings",
    "MethodNotSupported",
    "MetricPoint",
    "OpenAITrainer",
    "ProviderRefused",
    "ProviderRejected",
    "ProviderUnavailable",
    "RetryPolicy",
    "TogetherTrainer",
    "Trainer",
    "TrainerError",
    "TrainerJob",
    "UnknownModel",
    "UnknownTrainer",
    "build_trainers",
    "check_request",
    "close_trainers",
    "get_trainer",
]
