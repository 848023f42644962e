"""The `ray` back-end: `python -m selfhost.train` submitted to an existing Ray cluster's Jobs REST API.

Endpoints and shapes as in Ray's dashboard job module (`ray/dashboard/modules/job/job_head.py` and
`common.py`, Ray 2.60, read 2026-12-02): `POST /api/jobs/` takes `{entrypoint, submission_id,
runtime_env, metadata, entrypoint_num_gpus, …}` and answers `{job_id, submission_id}` (a
`submission_id` already used is a 400 whose body says it "already exists"); `GET /api/jobs/{id}`
gives the job's details with `status` PENDING | RUNNING | STOPPED | SUCCEEDED | FAILED and
`message`; `GET /api/jobs/{id}/logs` gives `{logs}` (the whole output so far); `POST
/api/jobs/{id}/stop` gives `{stopped}`; an unknown id is a 404 in plain text.

`submission_id` is Tuneloop's job id, so a retried Start finds the job instead of making a second.
Dataset files and the adapter travel through `TUNELOOP_ARTIFACTS` (see `artifacts`).

A job that crashes (FAILED without a final `done` or `error` line from the program; a job Tuneloop stops
ends STOPPED) is resubmitted `resubmits` times as `<job id>-r<n>`, same entrypoint, which resumes from
the last checkpoint in the job's unchanged output folder. Tuneloop keeps calling it by its own job id:
its state is the newest submission's, its logs those of every submission, joined.
"""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime
from typing import Any

import aiohttp

from providers.artifacts import Artifacts
from providers.progress_lines import outcome, progress_summary, read_page
from providers.selfhost_jobs import (
    DEFAULT_LORA,
    DEFAULT_MAX_LENGTH,
    SelfHostedTrainer,
    gpu_hour_usd,
    gpus_per_job,
    training_args,
)
from providers.spec import BuildContext, TrainerSpec
from tuning.catalogue.entries import Catalogue, packaged_catalogue
from tuning.errors import NotFound
from tuning.training.trainers.base import check_request
from tuning.training.trainers.errors import ProviderRefused, ProviderRejected, ProviderUnavailable, redact
from tuning.training.trainers.open_models import SELF_HOSTED_PROVIDER, served_name
from tuning.training.trainers.values import (
    LINK_KEY,
    EventPage,
    JobRequest,
    JobState,
    LoraSettings,
    TrainerJob,
)

STATES = {
    "PENDING": JobState.PENDING,
    "RUNNING": JobState.RUNNING,
    "STOPPED": JobState.CANCELLED,
    "SUCCEEDED": JobState.SUCCEEDED,
    "FAILED": JobState.FAILED,
}


GPUS_KEY = "gpus"
# A crash on a cluster is often the node's (preempted, out of memory); a second one in a row is likely the job's.
RESUBMITS = 1


class RayAPIError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {text}")
        self.status = status
        self.text = text


class RayTrainer(SelfHostedTrainer):
    """`python` is the interpreter on the cluster's workers; `runtime_env` is passed to every job as is (Ray
    validates it); `gpus_per_job` is the job's `entrypoint_num_gpus` (0 on a CPU-only cluster)."""

    def __init__(
        self,
        address: str,
        artifacts: str,
        *,
        token: str | None = None,
        gpus_per_job: float = 1,
        python: str = "python",
        runtime_env: dict[str, Any] | None = None,
        lora: LoraSettings = DEFAULT_LORA,
        max_length: int = DEFAULT_MAX_LENGTH,
        extra_args: tuple[str, ...] = (),
        gpu_hour_usd: float = 0.0,
        timeout: float = 30.0,
        catalogue: Catalogue | None = None,
        name: str = "ray",
        resubmits: int = RESUBMITS,
    ) -> None:
        self.name = name
        self._catalogue = catalogue or packaged_catalogue()
        self._address = address.rstrip("/")
        self._artifacts = Artifacts(artifacts)
        self._token = token
        self._gpus = gpus_per_job
        self._python = python
        self._runtime_env = runtime_env
        self._lora = lora
        self._max_length = max_length
        self._extra_args = extra_args
        self._gpu_hour_usd = gpu_hour_usd
        self._resubmits = resubmits
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def check_open(self) -> None:
        """The cluster answers for itself when the job is submitted."""

    async def create_job(self, request: JobRequest) -> TrainerJob:
        check_request(self.capabilities(), request)
        if not request.link:
            raise ProviderRejected("A Ray job needs Tuneloop's job id (metadata tuneloop_job).", self.name)
        job_id = request.link
        args = training_args(
            request, job_id, str(self._artifacts.output_dir(job_id)), self._lora, self._max_length, self._gpus
        )
        body: dict[str, Any] = {
            "entrypoint": shlex.join([self._python, "-m", "selfhost.train", *args, *self._extra_args]),
            "submission_id": job_id,
            "entrypoint_num_gpus": self._gpus,
            # The job's details do not echo entrypoint_num_gpus: metadata keeps it for the GPU-hours at the end.
            "metadata": {LINK_KEY: job_id, "base_model": request.base_model, GPUS_KEY: f"{self._gpus:g}"},
        }
        if self._runtime_env:
            body["runtime_env"] = self._runtime_env
        try:
            await self._call("POST", "/api/jobs/", body)
        except RayAPIError as error:
            if not (error.status == 400 and "already exists" in error.text):
                raise ProviderRejected(
                    f"The Ray cluster refused the job: {_last_line(error.text)}", self.name
                ) from error
        return await self.get_job(job_id)

    async def get_job(self, provider_job_id: str) -> TrainerJob:
        return (await self._describe(provider_job_id))[0]

    async def _describe(self, job_id: str) -> tuple[TrainerJob, str]:
        """The job as Tuneloop sees it, and the submission that carries it now."""
        chain, logs = await self._submissions(job_id)
        first, details = chain[0], chain[-1]
        submission = str(details.get("submission_id") or job_id)
        status = str(details.get("status") or "PENDING")
        state = STATES.get(status, JobState.RUNNING)
        total, tokens = progress_summary(logs)
        values: dict[str, Any] = {
            "provider": self.name,
            "provider_job_id": job_id,
            "state": state,
            "raw_status": status if len(chain) == 1 else f"{status} (resubmitted as {submission} after a crash)",
            "base_model": str((details.get("metadata") or {}).get("base_model") or ""),
            "created_at": _ms(first.get("start_time")) or datetime.now(UTC),
            "finished_at": _ms(details.get("end_time")) if state.terminal else None,
            "total_steps": total,
            "trained_tokens": tokens,
        }
        if state == JobState.SUCCEEDED:
            values["fine_tuned_model"] = served_name(job_id)
            values |= await self.succeeded(
                job_id, _ms(first.get("start_time")), _ms(details.get("end_time")), _gpus_of(details, self._gpus)
            )
        if state == JobState.FAILED:
            ended = outcome(logs)
            reason = ended.message if ended is not None and not ended.succeeded else _failure(details, logs)
            if len(chain) > 1:
                reason += f" (it crashed again after {len(chain) - 1} resubmission{'s' * (len(chain) > 2)})"
            values |= {
                "error_code": str(details.get("error_type") or "training_failed"),
                "error_message": redact(reason, [self._token]),
            }
        return TrainerJob(**values), submission

    async def _submissions(self, job_id: str) -> tuple[list[dict[str, Any]], str]:
        """Details of the job's submissions in order (the first, then one for each crash, up to the limit) and
        their logs joined, resubmitting a crashed one whose resubmission does not exist yet."""
        chain: list[dict[str, Any]] = []
        logs = ""
        for attempt in range(self._resubmits + 1):
            submission = f"{job_id}-r{attempt}" if attempt else job_id
            try:
                details = await self._details(submission)
            except NotFound:
                if not chain:
                    raise
                await self._resubmit(submission, chain[-1])
                details = await self._details(submission)
            chain.append(details)
            if details.get("status") != "PENDING":
                logs += ("\n" if logs and not logs.endswith("\n") else "") + await self._logs(submission)
            if details.get("status") != "FAILED" or outcome(logs) is not None:
                break  # running, finished, stopped by Tuneloop, or failed with the program's own reason
        return chain, logs

    async def _resubmit(self, submission: str, crashed: dict[str, Any]) -> None:
        entrypoint = str(crashed.get("entrypoint") or "")
        if "--resume" not in shlex.split(entrypoint):  # submitted before every job resumed
            entrypoint += " --resume"
        body: dict[str, Any] = {
            "entrypoint": entrypoint,
            "submission_id": submission,
            "entrypoint_num_gpus": _gpus_of(crashed, self._gpus),
            "metadata": crashed.get("metadata"),
            "runtime_env": crashed.get("runtime_env"),
        }
        try:
            await self._call("POST", "/api/jobs/", {key: value for key, value in body.items() if value is not None})
        except RayAPIError as error:
            if not (error.status == 400 and "already exists" in error.text):  # else another poll resubmitted it
                raise ProviderUnavailable(
                    f"The Ray cluster refused to resubmit a crashed job as `{submission}`: {_last_line(error.text)}",
                    self.name,
                ) from error

    async def events_since(self, provider_job_id: str, cursor: str | None) -> EventPage:
        offset = int(cursor or 0)
        data = (await self._submissions(provider_job_id))[1].encode("utf-8")
        return read_page(data[offset:], offset, provider_job_id)

    async def cancel(self, provider_job_id: str) -> TrainerJob:
        job, submission = await self._describe(provider_job_id)
        if job.terminal:
            return job
        await self._call("POST", f"/api/jobs/{submission}/stop", None)
        job = await self.get_job(provider_job_id)
        # Ray says RUNNING until the process is gone: the card says "cancelling" meanwhile.
        return job if job.terminal else job.model_copy(update={"state": JobState.CANCELLING})

    async def find_job_by_metadata(self, key: str, value: str) -> TrainerJob | None:
        if key != LINK_KEY:
            return None
        try:
            return await self.get_job(value)
        except NotFound:
            return None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _details(self, job_id: str) -> dict[str, Any]:
        try:
            details = await self._call("GET", f"/api/jobs/{job_id}", None)
        except RayAPIError as error:
            if error.status == 404:
                raise NotFound(f"The Ray cluster has no job `{job_id}`.") from error
            raise ProviderUnavailable(
                f"The Ray cluster could not describe job `{job_id}`: {_last_line(error.text)}", self.name
            ) from error
        if not isinstance(details, dict):
            raise ProviderUnavailable(
                "The Ray cluster answered a job query with something that is not a job.", self.name
            )
        return details

    async def _logs(self, job_id: str) -> str:
        try:
            body = await self._call("GET", f"/api/jobs/{job_id}/logs", None)
        except RayAPIError as error:
            if error.status == 404:  # as in `_details`: an unknown job is not an outage to retry
                raise NotFound(f"The Ray cluster has no job `{job_id}`.") from error
            raise ProviderUnavailable(
                f"The Ray cluster could not give job `{job_id}`'s logs: {_last_line(error.text)}", self.name
            ) from error
        return str(body.get("logs") or "") if isinstance(body, dict) else ""

    async def _call(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        """JSON from the cluster; ProviderRefused for a token it does not accept, RayAPIError for another 4xx,
        ProviderUnavailable when it cannot be reached or fails."""
        if self._session is None:
            headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
            self._session = aiohttp.ClientSession(headers=headers, timeout=self._timeout)
        try:
            async with self._session.request(method, self._address + path, json=body) as response:
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ProviderUnavailable(
                f"The Ray cluster at {self._address} cannot be reached ({type(error).__name__}). Check "
                "TUNELOOP_RAY_ADDRESS and that the head's dashboard (port 8265) is up.",
                self.name,
            ) from error
        if response.status >= 500:
            raise ProviderUnavailable(f"The Ray cluster failed (HTTP {response.status}): {_last_line(text)}", self.name)
        if response.status in (401, 403):  # an authenticating proxy said no: retrying will not change that
            raise ProviderRefused(
                "The Ray cluster did not accept Tuneloop's token; an operator should check "
                f"TUNELOOP_RAY_TOKEN (it said: {_last_line(redact(text, [self._token]))}).",
                self.name,
            )
        if response.status >= 400:
            raise RayAPIError(response.status, redact(text, [self._token]))
        try:
            return json.loads(text)
        except ValueError:
            raise ProviderUnavailable("The Ray cluster answered with something that is not JSON.", self.name) from None


def _ms(value: Any) -> datetime | None:
    """Ray's times are milliseconds since the epoch."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value / 1000, UTC)
    return None


def _gpus_of(details: dict[str, Any], default: float) -> float:
    try:
        return float((details.get("metadata") or {}).get(GPUS_KEY, default))
    except (TypeError, ValueError):
        return default


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return redact(lines[-1]) if lines else "no details"


def _failure(details: dict[str, Any], logs: str) -> str:
    """Why a job failed when the program itself said nothing: the last line of a traceback, else Ray's message."""
    tail = [line.strip() for line in logs.strip().splitlines() if line.strip()]
    if tail:
        return f"The training program failed on the cluster: {tail[-1]}"
    return str(details.get("message") or "The Ray job failed.")


def _build(context: BuildContext) -> RayTrainer:
    address = context.text("TUNELOOP_RAY_ADDRESS")
    assert address is not None  # `required`: the registry builds only a configured back-end
    return RayTrainer(
        address,
        context.artifacts,
        token=context.text("TUNELOOP_RAY_TOKEN"),
        gpu_hour_usd=gpu_hour_usd(context),
        gpus_per_job=gpus_per_job(context),
        python=context.text("TUNELOOP_RAY_PYTHON") or "python",
        runtime_env=context.values.get("TUNELOOP_RAY_RUNTIME_ENV"),
        catalogue=context.catalogue,
    )


SPEC = TrainerSpec(
    name="ray",
    summary="LoRA on a Ray cluster through its Jobs API",
    kind=RayTrainer,
    build=_build,
    provider=SELF_HOSTED_PROVIDER,
    settings=(
        "TUNELOOP_RAY_ADDRESS",
        "TUNELOOP_RAY_TOKEN",
        "TUNELOOP_ARTIFACTS",
        "TUNELOOP_GPU_HOUR_USD",
        "TUNELOOP_GPUS_PER_JOB",
        "TUNELOOP_RAY_PYTHON",
        "TUNELOOP_RAY_RUNTIME_ENV",
    ),
    required=("TUNELOOP_RAY_ADDRESS",),
    hint="Ray needs TUNELOOP_RAY_ADDRESS (the cluster's dashboard, e.g. http://head:8265) set by an operator.",
)
