"""Together AI fine-tuning over its REST API (LoRA, SFT and DPO).

Field names follow Together's OpenAPI document (togethercomputer/openapi `openapi.yaml`) and
the together-py SDK generated from it, as read 2026-12-02: the tuned model's name is
`model_output_name` (older SDKs called it `output_name`; both are read), `created_at`/
`updated_at` are ISO 8601 strings, SFT's `training_method` requires `train_on_inputs`, losses
come from `GET /fine-tunes/{id}/metrics` (events carry none), and events have no id, so the
event cursor is built here (see `events_since`). Model facts (bases, default, which can be deployed) live in the catalogue, tuning/catalogue/models.toml.

Together jobs carry no metadata. The Tuneloop link (`JobRequest.metadata[LINK_KEY]`)
goes into the model suffix as a `tl-<link>` tag, and `find_job_by_metadata` lists jobs
and matches that tag in `suffix` (or, failing that, in `model_output_name`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from providers.retry import RetryPolicy, Sleep
from providers.spec import BuildContext, TrainerSpec
from providers.together_endpoints import TogetherEndpoints
from providers.together_http import DEFAULT_BASE_URL, TogetherAPIError, TogetherHTTP
from providers.together_metrics import join_cursor, metric_points, metrics_filter, split_cursor
from tuning.catalogue.entries import Catalogue, packaged_catalogue
from tuning.errors import NotFound, TuningError
from tuning.training.trainers.base import check_request
from tuning.training.trainers.errors import ProviderRefused, ProviderRejected, TrainerError, redact
from tuning.training.trainers.features import Progress
from tuning.training.trainers.values import (
    LINK_KEY,
    Capabilities,
    EventPage,
    JobEvent,
    JobRequest,
    JobState,
    LoraSettings,
    Method,
    TrainerJob,
    as_float,
)

log = logging.getLogger(__name__)

# The bases Together trains, and its default, come from the model catalogue (tuning/catalogue/models.toml).
CATALOGUE_BACKEND = "together"

# Every status in the spec's FinetuneResponse plus the SDK's `user_error` (terminal: bad data).
STATES: dict[str, JobState] = {
    "pending": JobState.PENDING,
    "queued": JobState.PENDING,
    "running": JobState.RUNNING,
    "compressing": JobState.RUNNING,
    "uploading": JobState.RUNNING,
    "cancel_requested": JobState.CANCELLING,
    "cancelled": JobState.CANCELLED,
    "error": JobState.FAILED,
    "user_error": JobState.FAILED,
    "completed": JobState.SUCCEEDED,
}
UNKNOWN_STATE = JobState.RUNNING

MAX_SUFFIX = 40  # together-py: "Up to 40 character suffix"
LINK_TAG = "tl-"
UPLOAD_CHUNK = 1 << 20
DEFAULT_LORA = LoraSettings()


def lora_payload(lora: LoraSettings) -> dict[str, Any]:
    """Together's `training_type` (spec: LoRATrainingType) for the adapter Tuneloop trains everywhere."""
    return {
        "type": "Lora",
        "lora_r": lora.r,
        "lora_alpha": lora.alpha,
        "lora_dropout": lora.dropout,
        "lora_trainable_modules": lora.target_modules,
    }


class TogetherTrainer:
    """Together fine-tuning. `learning_rate` is Together's absolute rate (its default is 1e-5)."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        catalogue: Catalogue | None = None,
        models: Mapping[str, frozenset[Method]] | None = None,
        default_model: str | None = None,
        lora: LoraSettings = DEFAULT_LORA,
        n_evals: int = 4,
        timeout: float = 60.0,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Sleep = asyncio.sleep,
        name: str = "together",
    ) -> None:
        self.name = name
        self._http = TogetherHTTP(api_key, base_url, timeout=timeout, retry=retry, sleep=sleep)
        self._endpoints = TogetherEndpoints(self._http)
        catalogue = catalogue or packaged_catalogue()
        self._models = dict(models or catalogue.trainable(CATALOGUE_BACKEND))
        self._default_model = default_model or catalogue.default_model(CATALOGUE_BACKEND)
        self._lora = lora
        self._n_evals = n_evals

    @property
    def endpoints(self) -> TogetherEndpoints:
        """Together serves a tuned model only on a dedicated endpoint (tuning.training.endpoints manages them)."""
        return self._endpoints

    def check_open(self) -> None:
        """Together takes new jobs; nothing to check."""

    def capabilities(self) -> Capabilities:
        methods = frozenset(m for supported in self._models.values() for m in supported)
        return Capabilities(name=self.name, methods=methods, models=self._models, default_model=self._default_model)

    # -- files -----------------------------------------------------------------

    async def upload(self, path: Path, purpose: str = "fine-tune", *, progress: Progress | None = None) -> str:
        """Streams the file (never whole in memory); `progress(sent, total)` after every chunk."""
        total = (await asyncio.to_thread(path.stat)).st_size

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field(
                "file", _chunks(path, total, progress), filename=path.name, content_type="application/octet-stream"
            )
            data.add_field("file_name", path.name)
            data.add_field("purpose", purpose)
            data.add_field("file_type", "jsonl")
            return data

        body = await self._call("POST", "/files/upload", "upload the training file", form=form)
        file_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(file_id, str):
            raise TrainerError("Together did not say which file it stored.", self.name)
        return file_id

    async def upload_with_progress(self, path: Path, progress: Progress) -> str:
        return await self.upload(path, progress=progress)

    # -- jobs --------------------------------------------------------------------

    async def create_job(self, request: JobRequest) -> TrainerJob:
        check_request(self.capabilities(), request)
        payload = self.create_payload(request)
        link = request.link

        async def recover() -> dict[str, Any] | None:
            """After a 5xx or a timeout the job may exist: look for it before creating again."""
            try:
                return await self._find_raw(link) if link else None
            except TuningError:
                return None

        body = await self._call("POST", "/fine-tunes", "start the fine-tuning job", json_body=payload, recover=recover)
        return self._job(body)

    def create_payload(self, request: JobRequest) -> dict[str, Any]:
        """The body of `POST /fine-tunes`, as docs/providers.md gives it; unset values are left to Together."""
        # The spec requires train_on_inputs for SFT; "auto" (what the SDK sends) masks the prompts of
        # chat data. DPO requires only `method`.
        method: dict[str, Any] = {"method": request.method}
        if request.method == "sft":
            method["train_on_inputs"] = "auto"
        if request.method == "dpo" and request.beta is not None:
            method["dpo_beta"] = request.beta
        payload: dict[str, Any] = {
            "model": request.base_model,
            "training_file": request.training_file_id,
            "training_type": lora_payload(self._lora),
            "training_method": method,
        }
        optional: dict[str, Any] = {
            "validation_file": request.validation_file_id,
            "n_epochs": request.epochs,
            "n_evals": self._n_evals if request.validation_file_id else None,
            "batch_size": request.batch_size,
            "learning_rate": request.learning_rate,
            "suffix": together_suffix(request.suffix, request.link),
            "random_seed": request.seed,
        }
        payload.update({key: value for key, value in optional.items() if value is not None})
        return payload

    async def get_job(self, provider_job_id: str) -> TrainerJob:
        body = await self._call("GET", f"/fine-tunes/{provider_job_id}", "look up the job", job_id=provider_job_id)
        return self._job(body)

    async def cancel(self, provider_job_id: str) -> TrainerJob:
        path = f"/fine-tunes/{provider_job_id}/cancel"
        try:
            body = await self._http.request("POST", path)
        except TogetherAPIError as error:
            if error.status == 404:
                raise self._translate(error, "cancel the job", provider_job_id) from error
            current = await self.get_job(provider_job_id)
            if current.terminal:
                return current
            raise self._translate(error, "cancel the job", provider_job_id) from error
        return self._job(body)

    async def find_job_by_metadata(self, key: str, value: str) -> TrainerJob | None:
        """Together keeps no metadata: only `LINK_KEY`, carried in the suffix, can be searched."""
        if key != LINK_KEY:
            raise ValueError(f"Together jobs can only be found by {LINK_KEY!r}, not {key!r}")
        body = await self._find_raw(value)
        return self._job(body) if body else None

    async def _find_raw(self, link: str) -> dict[str, Any] | None:
        body = await self._call("GET", "/fine-tunes", "list fine-tuning jobs")
        jobs = [job for job in _data(body) if links_to(job, link)]
        jobs.sort(key=lambda job: _parse_time(job.get("created_at")) or datetime.min.replace(tzinfo=UTC))
        return jobs[-1] if jobs else None

    async def estimate_price(self, request: JobRequest) -> float | None:
        """Together's own estimate in USD, or None when it cannot give one (never raises)."""
        try:
            check_request(self.capabilities(), request)
            full = self.create_payload(request)
            keys: tuple[str, ...] = ("training_file", "validation_file", "model", "n_epochs", "n_evals")
            keys += ("training_method", "training_type")
            body = await self._http.request(
                "POST", "/fine-tunes/estimate-price", json_body={k: full[k] for k in keys if k in full}
            )
        except (TuningError, TogetherAPIError) as error:
            log.info("Together price estimate unavailable: %s", error)
            return None
        if not isinstance(body, dict) or body.get("estimation_available") is False:
            return None
        return as_float(body.get("estimated_total_price"))

    # -- events ------------------------------------------------------------------

    async def events_since(self, provider_job_id: str, cursor: str | None) -> EventPage:
        """Messages from the events, losses from the metrics endpoint.

        Together returns a job's whole event list, without ids. The events part of the cursor is
        `<count>:<fingerprint of the last event seen>`: when the event at that position still has
        that fingerprint, everything after it is new; otherwise the fingerprint is looked for
        anywhere; failing both, every event is returned again. The metrics part is the last step
        read (`<events cursor>;<step>`), asked for with `global_step_from` in the JSON body."""
        events_cursor, last_step = split_cursor(cursor)
        path = f"/fine-tunes/{provider_job_id}/events"
        body = await self._call("GET", path, "read the job's events", job_id=provider_job_id)
        raw = sorted(_data(body), key=_event_time)
        fresh = _after_cursor(raw, events_cursor)
        totals = [e["total_steps"] for e in raw if isinstance(e.get("total_steps"), int)]
        metrics = await self._call(
            "GET",
            f"/fine-tunes/{provider_job_id}/metrics",
            "read the job's training metrics",
            job_id=provider_job_id,
            json_body=metrics_filter(last_step),
        )
        points = metric_points(metrics, after=last_step, total_steps=max(totals) if totals else None)
        new_events = f"{len(raw)}:{fingerprint(raw[-1])}" if raw else events_cursor
        new_step = points[-1].step if points else last_step
        return EventPage(events=[_event(e) for e in fresh], metrics=points, cursor=join_cursor(new_events, new_step))

    async def close(self) -> None:
        await self._http.close()

    # -- plumbing ----------------------------------------------------------------

    async def _call(self, method: str, path: str, doing: str, *, job_id: str | None = None, **kwargs: Any) -> Any:
        try:
            return await self._http.request(method, path, **kwargs)
        except TogetherAPIError as error:
            raise self._translate(error, doing, job_id) from error

    def _translate(self, error: TogetherAPIError, doing: str, job_id: str | None) -> TuningError:
        if error.status == 401:
            return ProviderRefused(
                "Together did not accept Tuneloop's API key; an operator should check TOGETHER_API_KEY.", self.name
            )
        if error.status in (402, 403):
            return ProviderRefused(
                f"Together will not {doing} for this account (it said: “{error.message}”).", self.name
            )
        if error.status == 404 and job_id is not None:
            return NotFound(f"Together has no fine-tuning job `{job_id}`.")
        return ProviderRejected(f"Together could not {doing}: {error.message}", self.name)

    def _job(self, body: Any) -> TrainerJob:
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise TrainerError("Together answered in a shape Tuneloop does not understand.", self.name)
        status = str(body.get("status") or "")
        state = STATES.get(status, UNKNOWN_STATE)
        events = [e for e in body.get("events") or [] if isinstance(e, dict)]
        code, message = _failure(body, events) if state is JobState.FAILED else (None, None)
        totals = [e["total_steps"] for e in events if isinstance(e.get("total_steps"), int)]
        output = body.get("model_output_name") or body.get("output_name")
        return TrainerJob(
            provider=self.name,
            provider_job_id=body["id"],
            state=state,
            raw_status=status,
            base_model=str(body.get("model") or ""),
            fine_tuned_model=output if state is JobState.SUCCEEDED and isinstance(output, str) else None,
            trained_tokens=_trained_tokens(body, state),
            error_code=code,
            error_message=message,
            created_at=_parse_time(body.get("created_at")) or datetime.now(UTC),
            finished_at=_parse_time(body.get("updated_at")) if state.terminal else None,
            total_steps=max(totals) if totals else None,
        )


# -- suffix and link ----------------------------------------------------------------


def slug(text: str) -> str:
    return re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9-]", "-", text)).strip("-")


def together_suffix(suffix: str | None, link: str | None) -> str | None:
    """`<suffix>-tl-<link>`, cut to Together's limit by shortening the user's part."""
    head = slug(suffix or "")
    if not link:
        return head[:MAX_SUFFIX] or None
    tag = LINK_TAG + slug(link)
    room = MAX_SUFFIX - len(tag) - 1
    head = head[:room].rstrip("-") if room > 0 else ""
    return f"{head}-{tag}" if head else tag[:MAX_SUFFIX]


def links_to(job: Mapping[str, Any], link: str) -> bool:
    tag = re.escape(LINK_TAG + slug(link))
    suffix = job.get("suffix")
    if isinstance(suffix, str) and suffix:
        return re.search(rf"(?:^|-){tag}$", suffix) is not None
    output = job.get("model_output_name") or job.get("output_name")
    return isinstance(output, str) and re.search(rf"(?:^|[-:/]){tag}(?::|$)", output) is not None


# -- events -----------------------------------------------------------------------------


def fingerprint(event: Mapping[str, Any]) -> str:
    parts = [str(event.get(key)) for key in ("created_at", "type", "message", "step", "hash")]
    return hashlib.sha1("\x1f".join(parts).encode(), usedforsecurity=False).hexdigest()[:16]


def _after_cursor(events: list[dict[str, Any]], cursor: str | None) -> list[dict[str, Any]]:
    if not cursor:
        return events
    count_text, _, mark = cursor.partition(":")
    count = int(count_text) if count_text.isdigit() else -1
    if 0 < count <= len(events) and fingerprint(events[count - 1]) == mark:
        return events[count:]
    marks = [fingerprint(e) for e in events]
    if mark in marks:
        return events[len(marks) - marks[::-1].index(mark) :]
    log.warning("Together event cursor %s not found; returning every event again", cursor)
    return events


def _event(event: Mapping[str, Any]) -> JobEvent:
    return JobEvent(
        id=fingerprint(event),
        created_at=_event_time(event),
        level=_level(event.get("level")),
        message=redact(str(event.get("message") or "")),
        type=str(event.get("type") or "message").lower(),
    )


def _level(value: Any) -> str:
    text = str(value or "info").lower().removeprefix("legacy_")
    return {"iwarning": "warning", "warn": "warning", "ierror": "error", "iinfo": "info"}.get(text, text)


def _failure(body: Mapping[str, Any], events: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """Why a job failed: an `error` field if Together gives one, else its last error event."""
    error = body.get("error")
    if isinstance(error, dict):
        return _opt(error.get("code")), _opt_redacted(error.get("message"))
    if isinstance(error, str) and error:
        return None, redact(error)
    for event in reversed(events):
        if str(event.get("type", "")).lower() == "job_error" or _level(event.get("level")) == "error":
            return "job_error", _opt_redacted(event.get("message"))
    return None, None


def _trained_tokens(body: Mapping[str, Any], state: JobState) -> int | None:
    """Together's `token_count` ("tokens processed"), reported, like OpenAI's, once the job succeeded."""
    count = body.get("token_count")
    return count if state is JobState.SUCCEEDED and isinstance(count, int) else None


def _opt(value: Any) -> str | None:
    return str(value) if value else None


def _opt_redacted(value: Any) -> str | None:
    return redact(str(value)) if value else None


# -- small helpers -------------------------------------------------------------------------


async def _chunks(path: Path, total: int, progress: Progress | None) -> AsyncIterator[bytes]:
    """The file in chunks read off the event loop, so a large upload neither blocks nor fills memory."""
    handle = await asyncio.to_thread(path.open, "rb")
    sent = 0
    try:
        while chunk := await asyncio.to_thread(handle.read, UPLOAD_CHUNK):
            yield chunk
            sent += len(chunk)
            if progress is not None:
                await progress(sent, total)
    finally:
        handle.close()


def _data(body: Any) -> list[dict[str, Any]]:
    items = body.get("data") if isinstance(body, dict) else body
    return [item for item in items or [] if isinstance(item, dict)] if isinstance(items, list) else []


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _event_time(event: Mapping[str, Any]) -> datetime:
    return _parse_time(event.get("created_at")) or datetime.min.replace(tzinfo=UTC)


def _build(context: BuildContext) -> TogetherTrainer:
    key = context.text("TOGETHER_API_KEY")
    assert key is not None  # `required`: the registry builds only a configured back-end
    return TogetherTrainer(key, context.text("TOGETHER_BASE_URL") or DEFAULT_BASE_URL, catalogue=context.catalogue)


SPEC = TrainerSpec(
    name="together",
    summary="Together AI fine-tuning (LoRA); tuned models answer on a dedicated endpoint",
    kind=TogetherTrainer,
    build=_build,
    provider="together",
    settings=("TOGETHER_API_KEY", "TOGETHER_BASE_URL"),
    required=("TOGETHER_API_KEY",),
    hint="Together needs TOGETHER_API_KEY set by an operator.",
)
