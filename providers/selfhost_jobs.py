"""What the `local` and `ray` back-ends share: capabilities, cost, uploads, the training command."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from providers.artifacts import Artifacts
from providers.spec import BuildContext
from tuning.catalogue.entries import Catalogue
from tuning.training.jobs.view import SELF_HOSTED_NOTE
from tuning.training.trainers.open_models import gpu_hours
from tuning.training.trainers.values import COMMON_OPTIONS, DATASET_KEY, Capabilities, JobRequest, LoraSettings

# LoRA SFT's usual rate; DPO and KTO move a policy against a reference and need a far smaller one (TRL's
# DPOConfig and KTOConfig default to 1e-6 for full fine-tuning; LoRA tolerates a few times more).
DEFAULT_LEARNING_RATES = {"sft": 2e-4, "dpo": 5e-6, "kto": 5e-6}


DEFAULT_LORA = LoraSettings()
KTO_WEIGHTS = frozenset({"desirable_weight", "undesirable_weight"})  # set from a KTO dataset's label counts
DEFAULT_MAX_LENGTH = 1024  # tokens an example is cut to
# A crash loses at most this many steps; a LoRA checkpoint is small (adapter + optimizer), so saving is cheap.
SAVE_STEPS = 50


def gpu_hour_usd(context: BuildContext) -> float:
    return float(context.values.get("TUNELOOP_GPU_HOUR_USD") or 0.0)


def gpus_per_job(context: BuildContext) -> float:
    """TUNELOOP_GPUS_PER_JOB: 0 trains on the CPU; several on one node run one process per GPU."""
    value = context.values.get("TUNELOOP_GPUS_PER_JOB")
    return float(value) if value is not None else 1.0


def selfhost_capabilities(name: str, catalogue: Catalogue) -> Capabilities:
    """The catalogue's models with `train = {<name> = …}`, plus any local model folder."""
    return Capabilities(
        name=name,
        methods=frozenset({"sft", "dpo", "kto"}),
        local_folders=True,
        default_model=catalogue.default_model(name),
        models=catalogue.trainable(name),
        options=COMMON_OPTIONS | KTO_WEIGHTS,
    )


def training_args(
    request: JobRequest,
    job_id: str,
    output_dir: str,
    lora: LoraSettings,
    max_length: int = DEFAULT_MAX_LENGTH,
    gpus: float = 1,
) -> list[str]:
    """Arguments after `python -m selfhost.train` for this request. A job given several GPUs (on one node) runs
    one process per GPU: the program starts itself under `accelerate launch` (DDP) with --num-processes.
    Every run saves checkpoints and resumes from the newest one in its output folder (none the first time), so a
    relaunch of the same job after a crash continues where it stopped."""
    args = [
        "--base-model",
        request.base_model,
        "--method",
        request.method,
        "--train-file",
        request.training_file_id,
        "--output-dir",
        output_dir,
        "--job-id",
        job_id,
        "--learning-rate",
        str(request.learning_rate or DEFAULT_LEARNING_RATES[request.method]),
        "--lora-r",
        str(lora.r),
        "--lora-alpha",
        str(lora.alpha),
        "--lora-dropout",
        str(lora.dropout),
        "--target-modules",
        lora.target_modules,
        "--max-length",
        str(max_length),
        "--save-steps",
        str(SAVE_STEPS),
        "--resume",
    ]
    optional = {
        "--validation-file": request.validation_file_id,
        "--epochs": request.epochs,
        "--batch-size": request.batch_size,
        "--beta": request.beta,
        "--seed": request.seed,
        "--desirable-weight": request.desirable_weight,
        "--undesirable-weight": request.undesirable_weight,
        "--dataset": request.metadata.get(DATASET_KEY),
    }
    for flag, value in optional.items():
        if value is not None:
            args += [flag, str(value)]
    if int(gpus) > 1:
        args += ["--num-processes", str(int(gpus))]
    return args


def gpu_cost(catalogue: Catalogue, model: str, billed_tokens: int, gpu_hour_usd: float) -> tuple[float, str]:
    hours = gpu_hours(catalogue, model, billed_tokens)
    return hours * gpu_hour_usd, f"{SELF_HOSTED_NOTE}: {hours:.2f} GPU-hours × ${gpu_hour_usd:g} an hour"


def run_gpu_hours(started: datetime | None, ended: datetime | None, gpus: float) -> float | None:
    """GPU-hours a finished run held: its wall-clock time × the GPUs it was given (0 on a CPU)."""
    if started is None or ended is None:
        return None
    return max(0.0, (ended - started).total_seconds()) / 3600 * gpus


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

    async def succeeded(
        self, job_id: str, started: datetime | None, ended: datetime | None, gpus: float
    ) -> dict[str, Any]:
        """What a succeeded job adds to its TrainerJob: the adapter published for the model server (or why it
        cannot be), and the GPU-hours the run took."""
        note = await asyncio.to_thread(self._artifacts.publish_adapter, job_id)
        return {"serving_note": note, "gpu_hours": run_gpu_hours(started, ended, gpus)}
