"""The one interface every trainer back-end implements."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from tuning.errors import TuningError
from tuning.training.trainers.errors import MethodNotSupported, UnknownModel
from tuning.training.trainers.values import Capabilities, EventPage, Hyperparameters, JobRequest, TrainerJob


@runtime_checkable
class Trainer(Protocol):
    """A fine-tuning provider behind Tuneloop's vocabulary.

    Every method raises only `TuningError` subclasses for provider trouble:
    `ProviderRefused`, `ProviderUnavailable`, `ProviderRejected`, `UnknownModel`,
    `MethodNotSupported`, and `tuning.errors.NotFound` for an unknown job id.
    """

    name: str

    def capabilities(self) -> Capabilities:
        """Methods and base models this back-end can train, and its default model."""
        ...

    def check_open(self) -> None:
        """Raise ProviderRefused when this back-end takes no new jobs (checked before any cost is shown)."""
        ...

    async def upload(self, path: Path, purpose: str = "fine-tune") -> str:
        """Upload a JSONL file; return the provider's file id."""
        ...

    async def create_job(self, request: JobRequest) -> TrainerJob:
        """Start a job. Checks model and method locally before any call."""
        ...

    async def get_job(self, provider_job_id: str) -> TrainerJob: ...

    async def events_since(self, provider_job_id: str, cursor: str | None) -> EventPage:
        """Events and metric points newer than `cursor` (None: all), oldest first."""
        ...

    async def cancel(self, provider_job_id: str) -> TrainerJob:
        """Ask the provider to stop; cancelling a finished job returns it unchanged."""
        ...

    async def find_job_by_metadata(self, key: str, value: str) -> TrainerJob | None:
        """The newest job created with `metadata[key] == value`, if any."""
        ...

    async def close(self) -> None: ...


def is_model_folder(name: str) -> bool:
    """A readable local folder with a Hugging Face config: self-hosted back-ends train it as it is."""
    try:
        path = Path(name).expanduser()
        return path.is_dir() and (path / "config.json").is_file()
    except (OSError, RuntimeError, ValueError):  # a provider's model name can be too long or odd for a path
        return False


def check_request(capabilities: Capabilities, request: JobRequest) -> None:
    """Refuse, before any network call, what this back-end cannot train."""
    name = capabilities.name
    if request.method not in capabilities.methods:
        raise MethodNotSupported(name, request.method, None, ())
    folder = capabilities.local_folders and is_model_folder(request.base_model)
    if request.base_model not in capabilities.models and not folder:
        hint = ", or a readable local folder holding a Hugging Face model" if capabilities.local_folders else ""
        raise UnknownModel(name, request.base_model, capabilities.models, hint)
    if not folder and not capabilities.supports(request.base_model, request.method):
        raise MethodNotSupported(name, request.method, request.base_model, capabilities.models_for(request.method))
    untaken = sorted(
        name
        for name in Hyperparameters.model_fields
        if getattr(request, name) is not None and name not in capabilities.options
    )
    if untaken:
        raise TuningError(
            f"The {name} trainer does not take {', '.join(f'`{option}`' for option in untaken)}; "
            "leave it out or choose a back-end that does."
        )
    if request.beta is not None and request.method not in ("dpo", "kto"):
        raise TuningError("`beta` only applies to DPO and KTO training; leave it out or use format:dpo or format:kto.")


class UnknownTrainer(TuningError):
    pass


def get_trainer(trainers: Mapping[str, Trainer], name: str, hints: Mapping[str, str] | None = None) -> Trainer:
    """`hints`: for each known back-end that is not configured here, what an operator sets (from its spec)."""
    trainer = trainers.get(name.strip().lower())
    if trainer is not None:
        return trainer
    available = ", ".join(f"`{known}`" for known in trainers) or "none"
    hint = (hints or {}).get(name.strip().lower())
    raise UnknownTrainer(f"There is no `{name}` trainer here. Available: {available}." + (f" {hint}" if hint else ""))


async def close_trainers(trainers: Mapping[str, Trainer]) -> None:
    for trainer in trainers.values():
        await trainer.close()
