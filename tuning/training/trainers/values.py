"""What every trainer back-end speaks: jobs, states, events, metric points, requests.

Provider shapes never leave the back-end modules; the rest of Tuneloop sees only these.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tuning.catalogue.entries import Method as Method  # part of the trainers' vocabulary (Capabilities.methods)

# The metadata key under which Tuneloop stores its own short job id on a provider job,
# so that a Start interrupted by a crash can find the job it already created.
LINK_KEY = "tuneloop_job"
# Self-hosted back-ends also get the dataset's NAME@version, which the adapter's manifest records.
DATASET_KEY = "tuneloop_dataset"


class JobState(StrEnum):
    """Normalised job state; the provider's own word is kept in `TrainerJob.raw_status`."""

    PENDING = "pending"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrainerJob(_Frozen):
    provider: str
    provider_job_id: str
    state: JobState
    raw_status: str
    base_model: str
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    created_at: datetime
    finished_at: datetime | None = None
    estimated_finish: datetime | None = None
    total_steps: int | None = None
    # Self-hosted back-ends, once a job succeeded: GPU-hours the run took (wall-clock × GPUs it held), and why
    # the model server cannot load the adapter when it cannot (None: it can).
    gpu_hours: float | None = None
    serving_note: str | None = None

    @property
    def terminal(self) -> bool:
        return self.state.terminal


class MetricPoint(_Frozen):
    """Training progress at one step. `extra` keeps provider metrics with no common name."""

    step: int
    total_steps: int | None = None
    epoch: float | None = None
    train_loss: float | None = None
    valid_loss: float | None = None
    token_accuracy: float | None = None
    extra: dict[str, float] = Field(default_factory=dict)


class JobEvent(_Frozen):
    """A human-readable line from the provider. `level` is info, warning or error."""

    id: str
    created_at: datetime
    level: str
    message: str
    type: str


class EventPage(_Frozen):
    """What happened since a cursor, oldest first. Pass `cursor` back to get only what is new."""

    events: list[JobEvent] = Field(default_factory=list)
    metrics: list[MetricPoint] = Field(default_factory=list)
    cursor: str | None = None


# The Hyperparameters every back-end takes; one that takes more (a self-hosted lever, say) names it in its
# Capabilities, and a back-end asked for an option it does not take refuses it before anything is uploaded.
COMMON_OPTIONS = frozenset({"epochs", "batch_size", "learning_rate", "suffix", "beta", "seed"})


class Capabilities(_Frozen):
    name: str
    methods: frozenset[Method]
    models: dict[str, frozenset[Method]]
    default_model: str
    # Self-hosted back-ends also train any readable local folder holding a Hugging Face model.
    local_folders: bool = False
    options: frozenset[str] = COMMON_OPTIONS  # the Hyperparameters fields it takes

    def supports(self, model: str, method: Method) -> bool:
        return method in self.models.get(model, frozenset())

    def models_for(self, method: Method) -> list[str]:
        return [name for name, methods in self.models.items() if method in methods]


class Hyperparameters(_Frozen):
    """How to train, as asked; None leaves it to the back-end. A new training option is one field here (or on
    `TrainOptions` when only Tuneloop reads it) and one entry among the train command's options (handlers/grammar.py).

    `learning_rate` means what the provider means: a multiplier of the provider's default for OpenAI
    (`learning_rate_multiplier`, e.g. 1.8), an absolute rate elsewhere (Together, self-hosted: e.g. 1e-5).
    `beta` is for DPO only.
    """

    epochs: int | None = Field(None, ge=1)
    batch_size: int | None = Field(None, ge=1)
    learning_rate: float | None = Field(None, gt=0)
    suffix: str | None = None
    beta: float | None = Field(None, gt=0)
    seed: int | None = None
    # KTO's class weights, from the dataset's label counts (self-hosted only). TrainOptions takes them at merge.
    desirable_weight: float | None = Field(None, gt=0)
    undesirable_weight: float | None = Field(None, gt=0)


class TrainOptions(Hyperparameters):
    """What the train command (or a migration) asks for, stored with the job (`model_dump`) and read back typed."""

    trainer: str | None = None
    model: str | None = None

    def hyperparameters(self) -> dict[str, Any]:
        """The fields a JobRequest carries, as set."""
        return self.model_dump(include=set(Hyperparameters.model_fields), exclude_none=True)


class JobRequest(Hyperparameters):
    """One fine-tuning job, provider-neutral: a base model, a method, uploaded files, and how to train.
    `metadata` carries Tuneloop's own job id under `LINK_KEY` so a provider job links back."""

    base_model: str
    method: Method = "sft"
    training_file_id: str
    validation_file_id: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)

    @property
    def link(self) -> str | None:
        return self.metadata.get(LINK_KEY)


class LoraSettings(_Frozen):
    """The LoRA adapter every back-end that trains one uses (Together's `training_type`, self-hosted jobs'
    flags): one default, an operator's to change. The training program (selfhost/options.py) has the same."""

    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: str = "all-linear"


def as_float(value: Any) -> float | None:
    """A finite number from a provider payload, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None
