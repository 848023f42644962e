"""The trainer port: the `Trainer` protocol in `base`, the values it speaks in `types`, its errors.

The back-ends that implement it live in providers/ (built by `providers.build_trainers`):

    trainer = get_trainer(trainers, "together")
    job = await trainer.create_job(JobRequest(...))
"""

from tuning.training.trainers.base import Trainer, UnknownTrainer, check_request, close_trainers, get_trainer
from tuning.training.trainers.errors import (
    MethodNotSupported,
    ProviderRefused,
    ProviderRejected,
    ProviderUnavailable,
    TrainerError,
    UnknownModel,
)
from tuning.training.trainers.values import (
    LINK_KEY,
    Capabilities,
    EventPage,
    JobEvent,
    JobRequest,
    JobState,
    LoraSettings,
    MetricPoint,
    TrainerJob,
    TrainOptions,
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
    "ProviderRefused",
    "ProviderRejected",
    "ProviderUnavailable",
    "Trainer",
    "TrainerError",
    "TrainOptions",
    "TrainerJob",
    "UnknownModel",
    "UnknownTrainer",
    "check_request",
    "close_trainers",
    "get_trainer",
]
