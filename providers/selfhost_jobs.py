"""What the `local` and `ray` back-ends share: capabilities, cost, uploads, the training command."""

from __future__ import annotations

import asyncio
from pathlib import Path

from providers.artifacts import Artifacts
from tuning.catalogue import Catalogue
from tuning.trainers.open_models import gpu_hours
from providers.spec import BuildContext
from tuning.trainers.types import DATASET_KEY, Capabilities, JobRequest, LoraSettings

ADAPTER_SUBDIR = "adapter"  # selfhost.train writes OUTPUT/adapter
DEFAULT_LEARNING_RATE = 2e-4


DEFAULT_LORA = LoraSettings()
DEFAULT_MAX_LENGTH = 1024  # tokens an example is cut to


def gpu_hour_usd(context: BuildContext) -> float:
    return float(context.values.get("TUNELOOP_GPU_HOUR_USD") or 0.0)


def selfhost_capabilities(name: str, catalogue: Catalogue) -> Capabilities:
    """The catalogue's models with `train = {<name> = …}`, plus any local model folder."""
    return Capabilities(
        name=name, methods=frozenset({"sft", "dpo"}), local_folders=True, default_model=catalogue.default_model(name),
        models=catalogue.trainable(name))


def training_args(request: JobRequest, job_id: str, output_dir: str, lora: LoraSettings,
                  max_length: int = DEFAULT_MAX_LENGTH) -> list[str]:
    """Arguments after `python -m selfhost.train` for this request."""
    args = [
        "--base-model", request.base_model, "--method", request.method, "--train-file", request.training_file_id,
        "--output-dir", output_dir, "--job-id", job_id,
        "--learning-rate", str(request.learning_rate or DEFAULT_LEARNING_RATE),
        "--lora-r", str(lora.r), "--lora-alpha", str(lora.alpha), "--lora-dropout", str(lora.dropout),
        "--target-modules", lora.target_modules, "--max-length", str(max_length),
    ]
    optional = {"--validation-file": request.validation_file_id, "--epochs": request.epochs,
                "--batch-size": request.batch_size, "--beta": request.beta, "--seed": request.seed,
                "--dataset": request.metadata.get(DATASET_KEY)}
    for flag, value in optional.items():
        if value is not None:
            args += [flag, str(value)]
    return args


def gpu_cost(catalogue: Catalogue, model: str, billed_tokens: int, gpu_hour_usd: float) -> tuple[float, str]:
    hours = gpu_hours(catalogue, model, billed_tokens)
    return hours * gpu_hour_usd, f"self-hosted: {hours:.2f} GPU-hours × ${gpu_hour_usd:g} an hour"


class SelfHostedTrainer:
    """What the local and Ray back-ends share: the catalogue's open models, GPU-hour cost, artifacts as uploads."""

    name: str
    _catalogue: Catalogue
    _gpu_hour_usd: float
    _artifacts: Artifacts

    def capabilities(self) -> Capabilities:
        return selfhost_capabilities(self.name, self._catalogue)

    def estimate_cost(self, model: str, billed_tokens: int) -> tuple[float, str]:
        return gpu_cost(self._catalogue, model, billed_tokens, self._gpu_hour_usd)

    async def upload(self, path: Path, purpose: str = "fine-tune") -> str:
        return await asyncio.to_thread(self._artifacts.put, path, self.name)
