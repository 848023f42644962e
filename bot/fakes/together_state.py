"""The fake Together account: files, scripted fine-tuning jobs, their events and metrics.

Source: Together's OpenAPI document (github.com/togethercomputer/openapi, `openapi.yaml`
as stored at commit 6ed1b93, read 2026-12-02) and the SDK generated from it
(github.com/togethercomputer/together-py: `types/finetune_response.py`,
`fine_tuning_estimate_price_params.py` / `_response.py`, `fine_tuning_list_metrics_*.py`;
`lib/types/fine_tuning.py` for the status `user_error`).

Jobs move only when the test says so (`FineTunes.advance`), never by wall time:

    pending -> queued -> running (one advance per `steps` training steps)
            -> compressing -> uploading -> completed
            |  or -> error                          (outcome "error")
            |  or -> user_error                     (outcome "user_error": bad data, Together's message)
            |  or -> cancel_requested -> cancelled  (outcome "cancelled", or a cancel call)

What the spec requires is required here: `training_file` and `model`; in `training_method`
SFT needs `method` and `train_on_inputs` (bool or "auto"), DPO needs `method`; a LoRA
`training_type` needs `type`, `lora_r` and `lora_alpha`. A missing one answers 400 with
Together's `ErrorData` shape `{"error": {"message", "type", "param", "code"}}`.

Events (no ids) carry `type`, `message`, `level` and, for training events, `step` and
`total_steps` — no losses. Losses come from `GET /fine-tunes/{id}/metrics` (added to the document
2026-04-27, commit 62f42f2; re-read at 090263a, 2026-04-28, on 2026-12-05). The spec types a row as
name -> number and its one example uses `train/loss`, `train/learning_rate`, `train/global_step`:
the names Hugging Face's Trainer logs to W&B (transformers `integrations/integration_utils.py`,
`rewrite_logs`: `eval_loss` becomes `eval/loss`), so a validation loss is `eval/loss` here.
Filters travel in an optional JSON body (`global_step_from`/`_to`, `logged_at_from`/`_to`); the
operation declares no query parameters, so the fake refuses any with a 400.
"""

from __future__ import annotations

import itertools
import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from bot.fakes.server import ApiFailure

ACCOUNT = "tuneloop-test"
# A metrics row's keys, as in the document's example (see above).
STEP, TRAIN_LOSS, EVAL_LOSS = "train/global_step", "train/loss", "eval/loss"
USER_ID = "user_tuneloop_test"
ACTIVE = ("pending", "queued", "running", "compressing", "uploading", "cancel_requested")
TERMINAL = ("completed", "error", "user_error", "cancelled")
Outcome = Literal["completed", "error", "user_error", "cancelled"]
SFT_DPO = frozenset({"sft", "dpo"})
FINE_TUNABLE: dict[str, frozenset[str]] = {
    "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference": SFT_DPO,
    "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference": SFT_DPO,
    "Qwen/Qwen2.5-7B-Instruct": SFT_DPO,
    "mistralai/Mistral-7B-Instruct-v0.2": SFT_DPO,
    "togethercomputer/llama-2-7b-chat": frozenset({"sft"}),
}
MAX_SUFFIX = 40
DEFAULT_ERROR = "Job failed: the training process exited unexpectedly."
PRICE_PER_MILLION_TOKENS = 3.0
_clock = itertools.count()
_EPOCH = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


class TogetherFailure(ApiFailure):
    """A Together API error: the spec's `ErrorData`, `{"error": {"message", "type", "param", "code"}}`."""


def now() -> datetime:
    """Strictly increasing fake time, so ordering by timestamp is unambiguous."""
    return _EPOCH + timedelta(milliseconds=next(_clock))


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def count_tokens(text: str) -> int:
    return max(1, len(text.split()))


# -- files -----------------------------------------------------------------------


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    file_type: str
    content: bytes
    created_at: int = field(default_factory=lambda: int(now().timestamp()))

    @property
    def lines(self) -> list[str]:
        return [line for line in self.content.decode(errors="replace").splitlines() if line.strip()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "created_at": self.created_at,
            "filename": self.filename,
            "bytes": len(self.content),
            "purpose": self.purpose,
            "Processed": True,
            "FileType": self.file_type,
            "LineCount": len(self.lines),
        }


# -- jobs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobScript:
    """What a created job does when advanced: its step count and how it ends."""

    total_steps: int = 10
    outcome: Outcome = "completed"
    error: str | None = None


@dataclass
class Job:
    id: str
    params: dict[str, Any]
    script: JobScript
    examples: int
    tokens: int
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    status: str = "pending"
    step: int = 0
    epochs_completed: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, float]] = field(default_factory=list)

    @property
    def model(self) -> str:
        return str(self.params["model"])

    @property
    def n_epochs(self) -> int:
        return int(self.params.get("n_epochs") or 1)

    @property
    def suffix(self) -> str | None:
        return self.params.get("suffix")

    @property
    def output_name(self) -> str:
        base = self.model.split("/")[-1]
        middle = f":{self.suffix}" if self.suffix else ""
        return f"{ACCOUNT}/{base}{middle}:{self.id}"

    @property
    def method(self) -> dict[str, Any]:
        return self.params.get("training_method") or {"method": "sft", "train_on_inputs": "auto"}

    def metrics_between(self, first: int | None, last: int | None) -> list[dict[str, float]]:
        low, high = first if first is not None else 0, last if last is not None else math.inf
        return [row for row in self.metrics if low <= row[STEP] <= high]

    def to_dict(self, *, truncated: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "user_id": USER_ID,
            "owner_address": f"{ACCOUNT}@example.com",
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "model": self.model,
            "model_output_name": self.output_name,
            "suffix": self.suffix,
            "training_file": self.params["training_file"],
            "validation_file": self.params.get("validation_file") or "",
            "n_epochs": self.n_epochs,
            "n_evals": self.params.get("n_evals") or 0,
            "n_checkpoints": self.params.get("n_checkpoints") or 1,
            "batch_size": self.params.get("batch_size") or "max",
            "learning_rate": self.params.get("learning_rate") or 0.00001,
            "training_type": self.params.get("training_type") or {"type": "Lora", "lora_r": 8, "lora_alpha": 16},
            "training_method": self.method,
            "random_seed": self.params.get("random_seed"),
            "token_count": self.tokens * self.n_epochs if self.status == "completed" else self.tokens,
            "param_count": 8_030_261_248,
            "total_price": 0,
            "epochs_completed": self.epochs_completed,
            "queue_depth": 0,
        }
        if not truncated:
            body["events"] = list(self.events)
        return body


class FineTunes:
    """Jobs and their events, advanced by the test."""

    def __init__(self, files: dict[str, StoredFile], models: dict[str, frozenset[str]]) -> None:
        self.files = files
        self.models = models
        self.jobs: dict[str, Job] = {}
        self.scripts: list[JobScript] = []
        self.refusal: TogetherFailure | None = None
        self.price_unavailable: str | None = None

    # -- API operations --------------------------------------------------------------

    def create(self, params: dict[str, Any]) -> Job:
        if self.refusal is not None:
            raise self.refusal
        self._validate(params)
        training = self.files[params["training_file"]]
        job = Job(
            id=f"ft-{uuid.uuid4()}",
            params=params,
            script=self.scripts.pop(0) if self.scripts else JobScript(),
            examples=len(training.lines),
            tokens=sum(count_tokens(line) for line in training.lines),
        )
        self.jobs[job.id] = job
        self._event(job, "job_pending", "Fine tune request created")
        return job

    def get(self, job_id: str) -> Job:
        if job_id not in self.jobs:
            raise TogetherFailure(404, f"Fine-tune job {job_id} not found", code="not_found")
        return self.jobs[job_id]

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job.status in TERMINAL:
            raise TogetherFailure(400, f"Cannot cancel job {job_id} with status {job.status}", code="invalid_status")
        if job.status != "cancel_requested":
            job.status = "cancel_requested"
            self._event(job, "cancel_requested", "Cancel requested by user")
        return job

    def list_jobs(self) -> list[dict[str, Any]]:
        """In creation order, oldest first (Together documents no order)."""
        return [job.to_dict(truncated=True) for job in self.jobs.values()]

    def estimate_price(self, params: dict[str, Any]) -> dict[str, Any]:
        _require(params, ("training_file",), "")
        method = _check_method(params.get("training_method"))
        _check_training_type(params.get("training_type"))
        self._check_model(params.get("model"), method)
        training = self._check_file(params.get("training_file"), "training_file")
        if self.price_unavailable:
            return {"estimation_available": False, "unavailable_reason": self.price_unavailable}
        epochs = int(params.get("n_epochs") or 1)
        tokens = sum(count_tokens(line) for line in training.lines) * epochs
        evals = 0
        if params.get("validation_file"):
            validation = self._check_file(params["validation_file"], "validation_file")
            evals = sum(count_tokens(line) for line in validation.lines) * int(params.get("n_evals") or 0)
        price = round((tokens + evals) * PRICE_PER_MILLION_TOKENS / 1_000_000, 6)
        return {
            "estimation_available": True,
            "allowed_to_proceed": True,
            "estimated_total_price": price,
            "estimated_train_token_count": tokens,
            "estimated_eval_token_count": evals,
            "user_limit": 100.0,
        }

    # -- the state machine -------------------------------------------------------------

    def advance(self, job_id: str | None = None, steps: int = 1) -> None:
        jobs = [self.get(job_id)] if job_id else [j for j in self.jobs.values() if j.status in ACTIVE]
        for job in jobs:
            self._advance(job, steps)

    def run_to_end(self, job_id: str) -> Job:
        job = self.get(job_id)
        while job.status in ACTIVE:
            self._advance(job, steps=max(1, job.script.total_steps))
        return job

    def _advance(self, job: Job, steps: int) -> None:
        status = job.status
        if status == "pending":
            self._set(job, "queued")
        elif status == "queued":
            self._start(job)
        elif status == "running" and job.step < job.script.total_steps:
            for _ in range(min(steps, job.script.total_steps - job.step)):
                self._train_step(job)
        elif status == "running":
            self._conclude(job)
        elif status == "compressing":
            self._event(job, "model_compression_complete", "Compressing output model completed")
            self._event(job, "model_uploading", "Uploading output model")
            self._set(job, "uploading")
        elif status == "uploading":
            self._event(job, "model_upload_complete", f"Model upload complete: {job.output_name}")
            self._set(job, "completed")
            self._event(job, "job_complete", "Job finished", model_path=f"s3://together/{job.id}/model")
        elif status == "cancel_requested":
            self._set(job, "cancelled")
            self._event(job, "job_stopped", "Job stopped")

    def _start(self, job: Job) -> None:
        self._set(job, "running")
        self._event(job, "job_start", f"Job started at {iso(now())}")
        self._event(job, "model_download_complete", f"Model data downloaded for {job.model}")
        self._event(job, "training_start", f"Training started for model {job.model}")

    def _train_step(self, job: Job) -> None:
        job.step += 1
        total = job.script.total_steps
        boundaries = {math.ceil(total * k / job.n_epochs) for k in range(1, job.n_epochs + 1)}
        at_boundary = job.step in boundaries
        with_eval = at_boundary and bool(job.params.get("validation_file"))
        job.metrics.append({STEP: job.step, **_losses(job.step, with_eval)})
        if not at_boundary:
            return
        job.epochs_completed += 1
        self._event(job, "epoch_complete", f"Epoch completed, at step {job.step}", step=job.step, total_steps=total)
        if job.step == total:
            self._event(
                job,
                "checkpoint_save",
                f"Checkpoint saved at step {job.step}",
                step=job.step,
                total_steps=total,
                checkpoint_path=f"s3://together/{job.id}/checkpoint-{job.step}",
            )

    def _conclude(self, job: Job) -> None:
        outcome = job.script.outcome
        if outcome == "completed":
            self._event(job, "training_complete", f"Training completed for {job.model}")
            self._event(job, "model_compressing", "Compressing output model")
            self._set(job, "compressing")
        elif outcome in ("error", "user_error"):
            self._set(job, outcome)
            self._event(job, "job_error", job.script.error or DEFAULT_ERROR, level="error")
        else:
            self._set(job, "cancel_requested")
            self._event(job, "cancel_requested", "Cancel requested: billing limit reached")

    def _set(self, job: Job, status: str) -> None:
        job.status = status
        job.updated_at = now()

    def _event(self, job: Job, type: str, message: str, *, level: str = "info", **fields: Any) -> None:
        event: dict[str, Any] = {
            "object": "fine-tune-event",
            "created_at": iso(now()),
            "level": level,
            "message": message,
            "type": type,
            "param_count": 0,
            "token_count": 0,
            "wandb_url": "",
            "hash": "",
        }
        event.update(fields)
        job.events.append(event)

    # -- validation ---------------------------------------------------------------------

    def _validate(self, params: dict[str, Any]) -> None:
        _require(params, ("training_file", "model"), "")
        method = _check_method(params.get("training_method"))
        _check_training_type(params.get("training_type"))
        self._check_model(params.get("model"), method)
        training = self._check_file(params.get("training_file"), "training_file")
        self._check_lines(training, method)
        if params.get("validation_file"):
            self._check_lines(self._check_file(params["validation_file"], "validation_file"), method)
        suffix = params.get("suffix")
        if suffix is not None and (len(suffix) > MAX_SUFFIX or not all(c.isalnum() or c in "-_" for c in suffix)):
            raise TogetherFailure(
                400, f"suffix must be at most {MAX_SUFFIX} letters, digits, '-' or '_'", param="suffix"
            )
        epochs = params.get("n_epochs", 1)
        if not isinstance(epochs, int) or epochs < 1:
            raise TogetherFailure(400, "n_epochs must be a positive integer", param="n_epochs")
        batch = params.get("batch_size", "max")
        if batch != "max" and (not isinstance(batch, int) or batch < 1):
            raise TogetherFailure(400, "batch_size must be a positive integer or 'max'", param="batch_size")
        rate = params.get("learning_rate", 0.00001)
        if not isinstance(rate, int | float) or rate <= 0:
            raise TogetherFailure(400, "learning_rate must be positive", param="learning_rate")

    def _check_model(self, model: Any, method: str) -> None:
        if not model:
            raise TogetherFailure(400, "model is required", param="model")
        if model not in self.models:
            raise TogetherFailure(
                400, f"Model {model} is not supported for fine-tuning", param="model", code="model_not_supported"
            )
        if method not in self.models[model]:
            raise TogetherFailure(400, f"Model {model} does not support {method} training", param="model")

    def _check_file(self, file_id: Any, param: str) -> StoredFile:
        stored = self.files.get(str(file_id or ""))
        if stored is None:
            raise TogetherFailure(404, f"File {file_id} not found", param=param, code="file_not_found")
        if stored.purpose != "fine-tune":
            raise TogetherFailure(400, f"File {file_id} has purpose {stored.purpose}, not fine-tune", param=param)
        return stored

    def _check_lines(self, stored: StoredFile, method: str) -> None:
        required = ("input", "preferred_output", "non_preferred_output") if method == "dpo" else ("messages",)
        for number, line in enumerate(stored.lines, start=1):
            try:
                example = json.loads(line)
            except json.JSONDecodeError:
                raise TogetherFailure(400, f"Invalid JSON on line {number} of {stored.id}") from None
            if not isinstance(example, dict) or any(key not in example for key in required):
                raise TogetherFailure(
                    400,
                    f"Line {number} of {stored.id} is not a {method.upper()} example (needs {', '.join(required)})",
                    param="training_file",
                )


def _require(params: Any, names: tuple[str, ...], prefix: str) -> None:
    missing = [name for name in names if not isinstance(params, dict) or params.get(name) in (None, "")]
    if missing:
        param = prefix + missing[0]
        raise TogetherFailure(400, f"Field required: {param}", param=param, code="invalid_request")


def _check_method(method: Any) -> str:
    """`TrainingMethodSFT` requires method and train_on_inputs; `TrainingMethodDPO` requires method."""
    if method is None:
        return "sft"  # the whole object is optional; Together's own default applies
    _require(method, ("method",), "training_method.")
    name = method["method"]
    if name == "sft":
        _require(method, ("train_on_inputs",), "training_method.")
        if method["train_on_inputs"] not in (True, False, "auto"):
            raise TogetherFailure(
                400,
                "training_method.train_on_inputs must be a boolean or 'auto'",
                param="training_method.train_on_inputs",
                code="invalid_request",
            )
    elif name != "dpo":
        raise TogetherFailure(
            400,
            f"training_method.method must be one of sft, dpo (got {name!r})",
            param="training_method.method",
            code="invalid_request",
        )
    return str(name)


def _check_training_type(kind: Any) -> None:
    if kind is None:
        return
    _require(kind, ("type",), "training_type.")
    if kind["type"] == "Lora":
        _require(kind, ("lora_r", "lora_alpha"), "training_type.")
    elif kind["type"] != "Full":
        raise TogetherFailure(
            400, f"Unknown training_type {kind['type']!r}", param="training_type.type", code="invalid_request"
        )


def _losses(step: int, with_eval: bool) -> dict[str, float]:
    train = round(0.2 + 1.8 * 0.8**step, 4)
    row = {TRAIN_LOSS: train, "train/learning_rate": round(1e-4 * 0.99**step, 8)}
    return row | ({EVAL_LOSS: round(train + 0.05, 4)} if with_eval else {})
