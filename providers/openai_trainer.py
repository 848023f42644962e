"""OpenAI (and Azure OpenAI) fine-tuning through `openai.AsyncOpenAI`.

The client is passed in (the composition root owns it; it may point at Azure through
OPENAI_BASE_URL). Reads use the SDK's own retries (429 after Retry-After, 5xx,
timeouts). Creating a job does not: the SDK sends no idempotency key, so a create
retried after a lost answer could start a second paid job. `create_job` therefore
retries with `retry.retrying` and, after a 5xx or a timeout, first looks the job up
by its Tuneloop link in metadata.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import openai
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent

from providers.retry import RetryPolicy, Sleep, Transient, retry_after, retrying
from providers.spec import BuildContext, TrainerSpec
from tuning.catalogue.entries import Catalogue, packaged_catalogue
from tuning.errors import NotFound, TuningError
from tuning.training.trainers.base import check_request
from tuning.training.trainers.errors import (
    ProviderRefused,
    ProviderRejected,
    ProviderUnavailable,
    TrainerError,
    redact,
)
from tuning.training.trainers.values import (
    LINK_KEY,
    Capabilities,
    EventPage,
    JobEvent,
    JobRequest,
    JobState,
    Method,
    MetricPoint,
    TrainerJob,
    as_float,
)

# Models, the default base model and the day OpenAI stops taking jobs come from the model catalogue
# (tuning/catalogue/models.toml), under this back-end name, whatever name this trainer is given (e.g. "azure").
CATALOGUE_BACKEND = "openai"

STATES: dict[str, JobState] = {
    "validating_files": JobState.PENDING,
    "queued": JobState.PENDING,
    "running": JobState.RUNNING,
    "succeeded": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "cancelled": JobState.CANCELLED,
}
# Anything else (pausing, paused, a status added later) is a job still in progress.
UNKNOWN_STATE = JobState.RUNNING

MAX_SUFFIX = 64
MAX_METADATA_PAIRS = 16
_METRIC_FIELDS = {
    "step",
    "total_steps",
    "epoch",
    "train_loss",
    "valid_loss",
    "train_mean_token_accuracy",
}
_REFUSAL_CODES = {
    "fine_tuning_unavailable",
    "fine_tuning_not_available",
    "fine_tuning_disabled",
    "fine_tuning_not_allowed",
    "organization_not_allowed",
}
_WHO = re.compile(r"(?i)\b(organi[sz]ations?|account|project)\b")
_REFUSES = re.compile(r"(?i)(no longer|not (allowed|eligible|permitted)|cannot|can't|unable to)")
_FIND_SCAN_LIMIT = 200


def utc_today() -> date:
    return datetime.now(UTC).date()


class OpenAITrainer:
    """OpenAI fine-tuning. `learning_rate` is OpenAI's `learning_rate_multiplier`."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        today: Callable[[], date] = utc_today,
        catalogue: Catalogue | None = None,
        closes_on: date | None | Literal["catalogue"] = "catalogue",
        models: Mapping[str, frozenset[Method]] | None = None,
        default_model: str | None = None,
        name: str = "openai",
        label: str = "OpenAI",
        retry: RetryPolicy = RetryPolicy(),
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.name = name
        self._label = label
        self._client = client
        self._today = today
        catalogue = catalogue or packaged_catalogue()
        self._closes_on = catalogue.closes_on(CATALOGUE_BACKEND) if closes_on == "catalogue" else closes_on
        self._models = dict(models or catalogue.trainable(CATALOGUE_BACKEND))
        self._default_model = default_model or catalogue.default_model(CATALOGUE_BACKEND)
        self._retry = retry
        self._sleep = sleep

    def capabilities(self) -> Capabilities:
        methods = frozenset(m for supported in self._models.values() for m in supported)
        return Capabilities(name=self.name, methods=methods, models=self._models, default_model=self._default_model)

    # -- files ---------------------------------------------------------------

    async def upload(self, path: Path, purpose: str = "fine-tune") -> str:
        content = await asyncio.to_thread(path.read_bytes)
        try:
            stored = await self._client.files.create(
                file=(path.name, content),
                purpose=purpose,  # type: ignore[arg-type]
            )
        except openai.APIError as error:
            raise self._translate(error, "upload the training file") from error
        return stored.id

    # -- jobs ------------------------------------------------------------------

    async def create_job(self, request: JobRequest) -> TrainerJob:
        self.check_open()
        check_request(self.capabilities(), request)
        params = self._create_params(request)
        create = self._client.with_options(max_retries=0).fine_tuning.jobs.create

        async def attempt() -> FineTuningJob:
            try:
                return await create(**params)
            except openai.APIError as error:
                raise _transient(error) or error  # noqa: B904 - the SDK's own error, or a Transient wrapping it

        link = request.link

        async def recover() -> FineTuningJob | None:
            """After a 5xx or a timeout the job may exist: look for it before creating again."""
            try:
                return await self._find_raw(LINK_KEY, link) if link else None
            except openai.APIError:
                return None

        try:
            job = await retrying(attempt, self._retry, sleep=self._sleep, recover=recover)
        except Transient as failure:
            raise self._unavailable(failure.reason) from failure
        except openai.APIError as error:
            raise self._translate(error, "start fine-tuning jobs") from error
        return self._job(job)

    async def get_job(self, provider_job_id: str) -> TrainerJob:
        try:
            job = await self._client.fine_tuning.jobs.retrieve(provider_job_id)
        except openai.APIError as error:
            raise self._translate(error, "look up the job", job_id=provider_job_id) from error
        return self._job(job)

    async def cancel(self, provider_job_id: str) -> TrainerJob:
        try:
            job = await self._client.fine_tuning.jobs.cancel(provider_job_id)
        except openai.BadRequestError as error:
            current = await self.get_job(provider_job_id)
            if current.terminal:
                return current
            raise self._translate(error, "cancel the job", job_id=provider_job_id) from error
        except openai.APIError as error:
            raise self._translate(error, "cancel the job", job_id=provider_job_id) from error
        return self._job(job)

    async def find_job_by_metadata(self, key: str, value: str) -> TrainerJob | None:
        try:
            job = await self._find_raw(key, value)
        except openai.APIError as error:
            raise self._translate(error, "list fine-tuning jobs") from error
        return self._job(job) if job else None

    async def _find_raw(self, key: str, value: str) -> FineTuningJob | None:
        """Newest first; the metadata is checked here too, in case a server ignores the filter."""
        scanned = 0
        async for job in self._client.fine_tuning.jobs.list(metadata={key: value}, limit=20):
            if (job.metadata or {}).get(key) == value:
                return job
            scanned += 1
            if scanned >= _FIND_SCAN_LIMIT:
                break
        return None

    # -- events ------------------------------------------------------------------

    async def events_since(self, provider_job_id: str, cursor: str | None) -> EventPage:
        """OpenAI lists events newest first and `after=id` means older than id, so read
        from the newest until the cursor (the newest id seen last time) comes up."""
        fresh: list[FineTuningJobEvent] = []
        try:
            async for event in self._client.fine_tuning.jobs.list_events(provider_job_id, limit=100):
                if event.id == cursor:
                    break
                fresh.append(event)
        except openai.APIError as error:
            raise self._translate(error, "read the job's events", job_id=provider_job_id) from error
        newest = fresh[0].id if fresh else cursor
        fresh.reverse()
        events = [_event(e) for e in fresh if not _is_metrics(e)]
        metrics = [point for e in fresh if _is_metrics(e) and (point := _metric(e)) is not None]
        return EventPage(events=events, metrics=metrics, cursor=newest)

    async def close(self) -> None:
        """The client belongs to the composition root, which closes it."""

    # -- mapping -------------------------------------------------------------------

    def _job(self, job: FineTuningJob) -> TrainerJob:
        status = str(job.status)
        error = job.error
        return TrainerJob(
            provider=self.name,
            provider_job_id=job.id,
            state=STATES.get(status, UNKNOWN_STATE),
            raw_status=status,
            base_model=job.model,
            fine_tuned_model=job.fine_tuned_model,
            trained_tokens=job.trained_tokens,
            error_code=(error.code or None) if error else None,
            error_message=redact(error.message) if error and error.message else None,
            created_at=_time(job.created_at) or datetime.now(UTC),
            finished_at=_time(job.finished_at),
            estimated_finish=_time(job.estimated_finish),
        )

    def _create_params(self, request: JobRequest) -> dict[str, Any]:
        if request.suffix and len(request.suffix) > MAX_SUFFIX:
            raise TuningError(f"The suffix is {len(request.suffix)} characters; {self._label} allows {MAX_SUFFIX}.")
        if len(request.metadata) > MAX_METADATA_PAIRS:
            raise TuningError(f"{self._label} keeps at most {MAX_METADATA_PAIRS} metadata pairs on a job.")
        params: dict[str, Any] = {
            "model": request.base_model,
            "training_file": request.training_file_id,
            "method": method_payload(request),
        }
        optional = {
            "validation_file": request.validation_file_id,
            "suffix": request.suffix,
            "seed": request.seed,
            "metadata": dict(request.metadata) or None,
        }
        params.update({key: value for key, value in optional.items() if value is not None})
        return params

    # -- errors ----------------------------------------------------------------------

    def check_open(self) -> None:
        if self._closes_on is not None and self._today() >= self._closes_on:
            raise ProviderRefused(
                f"{self._label} stopped accepting new fine-tuning jobs on "
                f"{self._closes_on.day} {self._closes_on:%B %Y}; models already fine-tuned keep answering until "
                "their base model retires.",
                self.name,
            )

    def _unavailable(self, reason: str) -> ProviderUnavailable:
        return ProviderUnavailable(
            f"{self._label} is not answering right now ({reason}). Please try again in a few minutes.",
            self.name,
        )

    def _translate(self, error: openai.APIError, doing: str, job_id: str | None = None) -> TuningError:
        label = self._label
        if isinstance(error, openai.APITimeoutError):
            return self._unavailable("it timed out")
        if isinstance(error, openai.APIConnectionError):
            return self._unavailable("could not connect")
        if isinstance(error, openai.APIResponseValidationError):
            return TrainerError(f"{label} answered in a shape Tuneloop does not understand.", self.name)
        if not isinstance(error, openai.APIStatusError):
            return TrainerError(f"{label} could not {doing}.", self.name)
        status, code, text = error.status_code, _code(error), redact(_message(error))
        if status == 401:
            return ProviderRefused(
                f"{label} did not accept Tuneloop's API key; an operator should check OPENAI_API_KEY.", self.name
            )
        if status == 429 and code == "insufficient_quota":
            return ProviderRefused(
                f"{label} says this account is out of quota or credit; an operator adds credit.",
                self.name,
            )
        if status == 403 or _is_refusal(code, text):
            return ProviderRefused(
                f"{label} will not let this organisation {doing} (it said: “{text}”).",
                self.name,
            )
        if status == 404 and job_id is not None:
            return NotFound(f"{label} has no fine-tuning job `{job_id}`.")
        if status in (408, 409, 429) or status >= 500:
            return self._unavailable(f"HTTP {status}")
        return ProviderRejected(f"{label} could not {doing}: {text}", self.name)


def method_payload(request: JobRequest) -> dict[str, Any]:
    """OpenAI's `method` argument, exactly as docs/providers.md gives it; unset values are "auto"."""
    hyperparameters: dict[str, Any] = {
        "n_epochs": request.epochs or "auto",
        "batch_size": request.batch_size or "auto",
        "learning_rate_multiplier": request.learning_rate or "auto",
    }
    if request.method == "dpo":
        hyperparameters["beta"] = request.beta or "auto"
        return {"type": "dpo", "dpo": {"hyperparameters": hyperparameters}}
    return {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}}


def _transient(error: openai.APIError) -> Transient | None:
    """The retryable failures of a create call, or None for those to report at once."""
    if isinstance(error, openai.APITimeoutError | openai.APIConnectionError):
        reason = "it timed out" if isinstance(error, openai.APITimeoutError) else "could not connect"
        return _chained(Transient(reason), error)
    if not isinstance(error, openai.APIStatusError):
        return None
    status = error.status_code
    if status == 429 and _code(error) != "insufficient_quota":
        wait = retry_after(dict(error.response.headers))
        return _chained(Transient("HTTP 429, rate limited", wait, rate_limited=True), error)
    if status in (408, 409) or status >= 500:
        return _chained(Transient(f"HTTP {status}"), error)
    return None


def _chained(transient: Transient, cause: BaseException) -> Transient:
    transient.__cause__ = cause
    return transient


def _code(error: openai.APIStatusError) -> str | None:
    code = getattr(error, "code", None)
    return str(code) if code else None


def _message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if isinstance(message, str) and message:
            return message
    return f"HTTP {error.status_code}"


def _is_refusal(code: str | None, text: str) -> bool:
    if code in _REFUSAL_CODES:
        return True
    return bool(_WHO.search(text) and _REFUSES.search(text))


def _time(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


def _is_metrics(event: FineTuningJobEvent) -> bool:
    return event.type == "metrics" and isinstance(event.data, dict)


def _event(event: FineTuningJobEvent) -> JobEvent:
    level = {"warn": "warning"}.get(event.level, event.level)
    return JobEvent(
        id=event.id,
        created_at=_time(event.created_at) or datetime.now(UTC),
        level=level,
        message=redact(event.message),
        type=event.type or "message",
    )


def _metric(event: FineTuningJobEvent) -> MetricPoint | None:
    data: dict[str, Any] = event.data if isinstance(event.data, dict) else {}
    step = data.get("step")
    if not isinstance(step, int):
        return None
    total = data.get("total_steps")
    extra = {
        key: number
        for key, value in data.items()
        if key not in _METRIC_FIELDS and (number := as_float(value)) is not None
    }
    return MetricPoint(
        step=step,
        total_steps=total if isinstance(total, int) else None,
        epoch=as_float(data.get("epoch")),
        train_loss=as_float(data.get("train_loss")),
        valid_loss=as_float(data.get("valid_loss")),
        token_accuracy=as_float(data.get("train_mean_token_accuracy")),
        extra=extra,
    )


def _build(context: BuildContext) -> OpenAITrainer:
    return OpenAITrainer(context.openai, today=context.today, catalogue=context.catalogue)


SPEC = TrainerSpec(
    name="openai",
    summary="OpenAI (or Azure OpenAI through OPENAI_BASE_URL) fine-tuning",
    kind=OpenAITrainer,
    build=_build,
    provider="openai",
    settings=("OPENAI_API_KEY", "OPENAI_BASE_URL"),
    hint="OpenAI needs OPENAI_API_KEY set by an operator.",
)
