"""The fake OpenAI account: files, models and scripted fine-tuning jobs.

Jobs move only when the test says so (`FineTuning.advance`), never by wall time:

    validating_files -> queued -> running (one advance per `steps` training steps)
                                      -> succeeded | failed | cancelled

Everything is synchronous; `openai_api.py` serves it over HTTP.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.fakes.server import ApiFailure

ORGANIZATION_ID = "org-tuneloop-test"
ACTIVE = ("validating_files", "queued", "running")
TERMINAL = ("succeeded", "failed", "cancelled")
Outcome = Literal["succeeded", "failed", "cancelled"]

BASE_MODELS = (
    "gpt-4o-mini-2024-07-18",
    "gpt-4o-2024-08-06",
    "gpt-4.1-2025-04-14",
    "gpt-4.1-mini-2025-04-14",
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
)
FINE_TUNABLE = (
    "gpt-4o-mini-2024-07-18",
    "gpt-4o-2024-08-06",
    "gpt-4.1-2025-04-14",
    "gpt-4.1-mini-2025-04-14",
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1",
    "gpt-4.1-mini",
)
DEFAULT_FAILURE = {
    "code": "server_error",
    "message": "The job failed due to an internal error.",
    "param": None,
}


class OpenAIFailure(ApiFailure):
    """An OpenAI API error."""


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def now() -> int:
    return int(time.time())


def count_tokens(text: str) -> int:
    """A stand-in tokenizer: one token per word, at least one."""
    return max(1, len(text.split()))


# -- files and models ---------------------------------------------------------


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int = field(default_factory=now)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }


@dataclass
class Model:
    """openai-python 3.57 `types/model.py` (from OpenAI's OpenAPI spec, read 2026-12-02): id, created, object,
    owned_by, and `shutdown_date` ("the date when the model will shut down, or null if not announced")."""

    id: str
    owned_by: str = "system"
    created: int = 1700000000
    shutdown_date: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "model",
            "created": self.created,
            "owned_by": self.owned_by,
            "shutdown_date": self.shutdown_date,
        }


def page(items: list[dict[str, Any]], after: str | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """OpenAI cursor pagination: the `limit` items following the item whose id is `after`."""
    start = 0
    if after:
        ids = [item["id"] for item in items]
        if after not in ids:
            raise OpenAIFailure(400, f"Invalid 'after' cursor: {after}", param="after")
        start = ids.index(after) + 1
    chunk = items[start : start + limit]
    return chunk, start + limit < len(items)


# -- fine-tuning --------------------------------------------------------------


@dataclass(frozen=True)
class JobScript:
    """What a created job does when advanced: its step count and how it ends."""

    total_steps: int = 10
    outcome: Outcome = "succeeded"
    error: dict[str, Any] | None = None


@dataclass
class Dataset:
    """What validation learned about a training file."""

    examples: int
    tokens: int


@dataclass
class Job:
    id: str
    model: str
    training_file: str
    validation_file: str | None
    suffix: str | None
    seed: int
    metadata: dict[str, str] | None
    method: dict[str, Any]
    script: JobScript
    created_at: int = field(default_factory=now)
    status: str = "validating_files"
    step: int = 0
    fine_tuned_model: str | None = None
    finished_at: int | None = None
    trained_tokens: int | None = None
    estimated_finish: int | None = None
    error: dict[str, Any] | None = None
    result_files: list[str] = field(default_factory=list)
    dataset: Dataset | None = None

    @property
    def hyperparameters(self) -> dict[str, Any]:
        hyperparameters: dict[str, Any] = self.method[self.method["type"]]["hyperparameters"]
        return hyperparameters

    @property
    def output_model(self) -> str:
        """The name the tuned model gets: ft:<base>:<org>:<suffix>:<short id>."""
        return f"ft:{self.model}:tuneloop:{self.suffix or 'custom'}:{self.id[-8:]}"

    @property
    def n_epochs(self) -> int:
        epochs = self.hyperparameters.get("n_epochs")
        return epochs if isinstance(epochs, int) else 3

    def to_dict(self) -> dict[str, Any]:
        hp = self.hyperparameters
        return {
            "id": self.id,
            "object": "fine_tuning.job",
            "created_at": self.created_at,
            "error": self.error,
            "fine_tuned_model": self.fine_tuned_model,
            "finished_at": self.finished_at,
            "hyperparameters": {k: hp.get(k) for k in ("n_epochs", "batch_size", "learning_rate_multiplier")},
            "model": self.model,
            "organization_id": ORGANIZATION_ID,
            "result_files": self.result_files,
            "seed": self.seed,
            "status": self.status,
            "trained_tokens": self.trained_tokens,
            "training_file": self.training_file,
            "validation_file": self.validation_file,
            "estimated_finish": self.estimated_finish,
            "integrations": [],
            "metadata": self.metadata,
            "method": self.method,
            "user_provided_suffix": self.suffix,
        }


class FineTuning:
    """Jobs, their events and checkpoints, advanced by the test."""

    def __init__(self, files: dict[str, StoredFile], models: dict[str, Model]) -> None:
        self.files = files
        self.models = models
        self.jobs: dict[str, Job] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.checkpoints: dict[str, list[dict[str, Any]]] = {}
        self.min_examples = 10
        self.refusal: OpenAIFailure | None = None
        self._scripts: deque[JobScript] = deque()
        self._seeds = itertools.count(42)

    def script_next(self, script: JobScript) -> None:
        self._scripts.append(script)

    # -- API operations ----------------------------------------------------

    def create(self, params: dict[str, Any]) -> Job:
        if self.refusal is not None:
            raise self.refusal
        self._validate_create(params)
        job = Job(
            id=new_id("ftjob"),
            model=params["model"],
            training_file=params["training_file"],
            validation_file=params.get("validation_file"),
            suffix=params.get("suffix"),
            seed=next(self._seeds) if params.get("seed") is None else params["seed"],
            metadata=params.get("metadata"),
            method=_method_of(params),
            script=self._scripts.popleft() if self._scripts else JobScript(),
        )
        self.jobs[job.id] = job
        self.events[job.id], self.checkpoints[job.id] = [], []
        self._event(job, f"Validating training file: {job.training_file}")
        return job

    def get(self, job_id: str) -> Job:
        if job_id not in self.jobs:
            raise OpenAIFailure(
                404,
                f"Could not find fine-tuning job {job_id}.",
                param="fine_tuning_job_id",
                code="fine_tuning_job_not_found",
            )
        return self.jobs[job_id]

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job.status in TERMINAL:
            raise OpenAIFailure(
                400,
                f"Job has already completed with status {job.status}: {job_id}.",
                code="invalid_job_status",
            )
        self._finish(job, "cancelled")
        self._event(job, "Fine-tuning job cancelled")
        return job

    def list_jobs(self, metadata: dict[str, str] | None, only_without_metadata: bool) -> list[dict[str, Any]]:
        jobs = list(reversed(self.jobs.values()))  # newest first
        if only_without_metadata:
            jobs = [j for j in jobs if not j.metadata]
        elif metadata:
            jobs = [j for j in jobs if all((j.metadata or {}).get(k) == v for k, v in metadata.items())]
        return [j.to_dict() for j in jobs]

    # -- the state machine -------------------------------------------------

    def advance(self, job_id: str | None = None, steps: int = 1) -> None:
        """Move one job (or every active job) one stage on; in `running`, `steps` steps."""
        jobs = [self.get(job_id)] if job_id else [j for j in self.jobs.values() if j.status in ACTIVE]
        for job in jobs:
            self._advance(job, steps)

    def run_to_end(self, job_id: str) -> Job:
        job = self.get(job_id)
        while job.status in ACTIVE:
            self._advance(job, steps=max(1, job.script.total_steps))
        return job

    def _advance(self, job: Job, steps: int) -> None:
        if job.status == "validating_files":
            self._validate_files(job)
        elif job.status == "queued":
            self._start(job)
        elif job.status == "running" and job.step < job.script.total_steps:
            for _ in range(min(steps, job.script.total_steps - job.step)):
                self._train_step(job)
        elif job.status == "running":
            self._conclude(job)

    def _validate_files(self, job: Job) -> None:
        try:
            job.dataset = self._inspect(job.training_file, job.method["type"])
        except ValueError as problem:
            job.error = {"code": "invalid_training_file", "message": str(problem), "param": "training_file"}
            self._fail(job)
            return
        if job.dataset.examples < self.min_examples:
            job.error = {
                "code": "invalid_n_examples",
                "param": "training_file",
                "message": f"Training file has {job.dataset.examples} example(s), "
                f"but must have at least {self.min_examples} examples",
            }
            self._fail(job)
            return
        job.status = "queued"
        self._event(job, "Files validated, moving job to queued state")

    def _start(self, job: Job) -> None:
        _resolve_hyperparameters(job.hyperparameters, job.dataset.examples if job.dataset else 0)
        job.status = "running"
        job.estimated_finish = now() + 60 * max(1, job.script.total_steps)
        self._event(job, "Fine-tuning job started")

    def _train_step(self, job: Job) -> None:
        job.step += 1
        total = job.script.total_steps
        metrics = _metrics(job.step, total, with_validation=job.validation_file is not None)
        self._event(
            job,
            f"Step {job.step}/{total}: training loss={metrics['train_loss']:.4f}",
            type="metrics",
            data=metrics,
        )
        if job.step % max(1, math.ceil(total / job.n_epochs)) == 0 or job.step == total:
            self._checkpoint(job, metrics)

    def _conclude(self, job: Job) -> None:
        if job.script.outcome == "succeeded":
            self._succeed(job)
        elif job.script.outcome == "failed":
            job.error = {**DEFAULT_FAILURE, **(job.script.error or {})}
            self._fail(job)
        else:
            self._finish(job, "cancelled")
            self._event(job, "Fine-tuning job cancelled")

    def _succeed(self, job: Job) -> None:
        job.fine_tuned_model = job.output_model
        tokens = job.dataset.tokens if job.dataset else 0
        job.trained_tokens = max(1, tokens * job.n_epochs)
        job.result_files = [self._results_file(job).id]
        self.models[job.fine_tuned_model] = Model(job.fine_tuned_model, owned_by=ORGANIZATION_ID, created=now())
        self._finish(job, "succeeded")
        self._event(job, f"New fine-tuned model created: {job.fine_tuned_model}")
        self._event(job, "The job has successfully completed")

    def _fail(self, job: Job) -> None:
        self._finish(job, "failed")
        self._event(job, str((job.error or DEFAULT_FAILURE)["message"]), level="error")

    def _finish(self, job: Job, status: str) -> None:
        job.status = status
        job.finished_at = now()
        job.estimated_finish = None

    # -- helpers -------------------------------------------------------------

    def _validate_create(self, params: dict[str, Any]) -> None:
        model = params.get("model")
        if not model:
            raise OpenAIFailure(
                400, "Missing required parameter: 'model'.", param="model", code="missing_required_parameter"
            )
        if model not in FINE_TUNABLE and not (model.startswith("ft:") and model in self.models):
            raise OpenAIFailure(
                400,
                f"Model {model} is not available for fine-tuning or does not exist.",
                param="model",
                code="model_not_available",
            )
        self._check_file(params.get("training_file"), "training_file")
        if params.get("validation_file"):
            self._check_file(params["validation_file"], "validation_file")
        if len(params.get("suffix") or "") > 64:
            raise OpenAIFailure(400, "suffix must be at most 64 characters.", param="suffix")
        if len(params.get("metadata") or {}) > 16:
            raise OpenAIFailure(400, "metadata may have at most 16 keys.", param="metadata")

    def _check_file(self, file_id: str | None, param: str) -> None:
        stored = self.files.get(file_id or "")
        if stored is None:
            raise OpenAIFailure(400, f"invalid {param}: {file_id}", param=param, code="file_not_found")
        if stored.purpose != "fine-tune":
            raise OpenAIFailure(
                400,
                f"File {file_id} has purpose {stored.purpose!r}, expected 'fine-tune'.",
                param=param,
                code="invalid_file_purpose",
            )

    def _inspect(self, file_id: str, method: str) -> Dataset:
        """Count examples and tokens; raise ValueError on lines the method cannot train on."""
        required = ("input", "preferred_output", "non_preferred_output") if method == "dpo" else ("messages",)
        examples = tokens = 0
        stored = self.files.get(file_id)
        if stored is None:
            raise ValueError(f"File {file_id} was deleted before validation.")
        for number, line in enumerate(stored.content.decode().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                example = json.loads(line)
            except json.JSONDecodeError:
                raise ValueError(f"Invalid file format. Line {number} is not valid JSON.") from None
            if not isinstance(example, dict) or any(key not in example for key in required):
                raise ValueError(f"Invalid file format. Line {number} lacks {', '.join(required)}.")
            examples += 1
            tokens += count_tokens(line)
        return Dataset(examples, tokens)

    def _event(
        self,
        job: Job,
        message: str,
        *,
        level: str = "info",
        type: str = "message",
        data: dict[str, Any] | None = None,
    ) -> None:
        self.events[job.id].append(
            {
                "id": new_id("ftevent"),
                "object": "fine_tuning.job.event",
                "created_at": now(),
                "level": level,
                "message": message,
                "type": type,
                "data": data or {},
            }
        )

    def _checkpoint(self, job: Job, metrics: dict[str, Any]) -> None:
        self.checkpoints[job.id].append(
            {
                "id": new_id("ftckpt"),
                "object": "fine_tuning.job.checkpoint",
                "created_at": now(),
                "fine_tuned_model_checkpoint": f"{job.output_model}:ckpt-step-{job.step}",
                "fine_tuning_job_id": job.id,
                "step_number": job.step,
                "metrics": {k: v for k, v in metrics.items() if k != "total_steps"},
            }
        )
        self._event(job, f"Checkpoint created at step {job.step}")

    def _results_file(self, job: Job) -> StoredFile:
        rows = ["step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"]
        for event in self.events[job.id]:
            if event["type"] == "metrics":
                m = event["data"]
                rows.append(
                    f"{m['step']},{m['train_loss']},{m['train_mean_token_accuracy']},"
                    f"{m.get('valid_loss', '')},{m.get('valid_mean_token_accuracy', '')}"
                )
        stored = StoredFile(new_id("file"), "step_metrics.csv", "fine-tune-results", ("\n".join(rows) + "\n").encode())
        self.files[stored.id] = stored
        return stored


def _method_of(params: dict[str, Any]) -> dict[str, Any]:
    """The job's `method`, with the legacy top-level `hyperparameters` folded in."""
    method = copy.deepcopy(params.get("method") or {"type": "supervised"})
    kind = method.get("type")
    if kind not in ("supervised", "dpo", "reinforcement"):
        raise OpenAIFailure(400, f"Invalid method type: {kind!r}.", param="method.type")
    settings = method.get(kind) or {}
    auto = dict.fromkeys(("n_epochs", "batch_size", "learning_rate_multiplier"), "auto")
    if kind == "dpo":
        auto["beta"] = "auto"
    legacy = params.get("hyperparameters") or {}
    settings["hyperparameters"] = {**auto, **legacy, **(settings.get("hyperparameters") or {})}
    method[kind] = settings
    return method


def default_epochs(examples: int) -> int:
    """OpenAI's documented default for n_epochs="auto"."""
    if examples <= 0:
        return 3
    if 3 * examples < 100:
        return min(25, 100 // examples)
    if 3 * examples > 25_000:
        return max(1, 25_000 // examples)
    return 3


def _resolve_hyperparameters(hp: dict[str, Any], examples: int) -> None:
    defaults = {"n_epochs": default_epochs(examples), "batch_size": 1, "learning_rate_multiplier": 1.8}
    for name, value in defaults.items():
        if hp.get(name) == "auto":
            hp[name] = value
    if hp.get("beta") == "auto":
        hp["beta"] = 0.1


def _metrics(step: int, total: int, with_validation: bool) -> dict[str, Any]:
    """Losses that fall with every step; validation metrics only with a validation file."""
    train_loss = round(0.2 + 1.8 * 0.8**step, 4)
    metrics: dict[str, Any] = {
        "step": step,
        "total_steps": total,
        "train_loss": train_loss,
        "train_mean_token_accuracy": round(1 - train_loss / 3, 4),
    }
    if with_validation:
        valid_loss = round(train_loss + 0.05, 4)
        metrics |= {
            "valid_loss": valid_loss,
            "valid_mean_token_accuracy": round(1 - valid_loss / 3, 4),
            "full_valid_loss": valid_loss,
            "full_valid_mean_token_accuracy": round(1 - valid_loss / 3, 4),
        }
    return metrics
