"""A fake Ray Jobs REST API (the dashboard's `/api/jobs/…`), for the failure paths a real head can't easily show.

Built from Ray's own server code, `ray/dashboard/modules/job/job_head.py`, `common.py`
(`JobSubmitRequest.__post_init__`, `JobStatus`, `JobSubmitResponse`, `JobStopResponse`,
`JobLogsResponse`) and `job_manager.py`, Ray 2.60.0, read 2026-12-02:

- `POST /api/jobs/` validates like `JobSubmitRequest` (keys with value null are dropped first; an
  unknown key or a wrong type is a 400 whose plain-text body is the Python traceback), refuses a
  `submission_id` already used with a 400 "ValueError: Job with submission_id … already exists.",
  and answers `{"job_id", "submission_id"}`.
- `GET /api/jobs/{id}` answers the job's details (`type`, `submission_id`, `status`, `entrypoint`,
  `message`, `error_type`, `start_time`/`end_time` in ms, `metadata`, `runtime_env`,
  `driver_exit_code`, …); an unknown id is a 404 "Job {id} does not exist" in plain text.
- `GET /api/jobs/{id}/logs` answers `{"logs": the whole output so far}`.
- `POST /api/jobs/{id}/stop` answers `{"stopped": true}` while the job is not finished, else false.

Tests drive jobs with `run`, `write`, `finish`, `crash`; `unreachable()` closes the port.
With `token=`, a request without `Authorization: Bearer <token>` gets a 401 (an authenticating proxy).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .server import ARGS, FakeServer, Fault

STATUSES = ("PENDING", "RUNNING", "STOPPED", "SUCCEEDED", "FAILED")
_FIELDS = {
    "entrypoint",
    "submission_id",
    "job_id",
    "runtime_env",
    "metadata",
    "entrypoint_num_cpus",
    "entrypoint_num_gpus",
    "entrypoint_memory",
    "entrypoint_resources",
    "entrypoint_label_selector",
}


@dataclass
class RayJob:
    submission_id: str
    entrypoint: str
    metadata: dict[str, str] | None
    runtime_env: dict[str, Any] | None
    num_gpus: float | None
    status: str = "PENDING"
    message: str = (
        "Job has not started yet. It may be waiting for resources (CPUs, GPUs, memory, custom resources)"
        " to become available. It may be waiting for the runtime environment to be set up."
    )
    error_type: str | None = None
    logs: str = ""
    start_time: int = field(default_factory=lambda: int(time.time() * 1000))
    end_time: int | None = None
    exit_code: int | None = None

    def details(self) -> dict[str, Any]:
        return {
            "type": "SUBMISSION",
            "job_id": None,
            "submission_id": self.submission_id,
            "driver_info": None,
            "status": self.status,
            "entrypoint": self.entrypoint,
            "message": self.message,
            "error_type": self.error_type,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "metadata": self.metadata,
            "runtime_env": self.runtime_env,
            "driver_agent_http_address": None,
            "driver_node_id": None,
            "driver_exit_code": self.exit_code,
        }


def _traceback(error: str) -> str:
    return f'Traceback (most recent call last):\n  File "job_head.py", line 410, in submit_job\n{error}\n'


class FakeRayJobs(FakeServer):
    def __init__(self, *, token: str | None = None) -> None:
        super().__init__()
        self.jobs: dict[str, RayJob] = {}
        self._token = token

    @property
    def address(self) -> str:
        return self.url("")

    async def unreachable(self) -> str:
        """Stop listening; return the address that no longer answers."""
        address = self.address
        await self.stop()
        return address

    # -- driving jobs from a test -------------------------------------------

    def run(self, job_id: str) -> None:
        job = self.jobs[job_id]
        job.status, job.message = "RUNNING", "Job is currently running."
        job.logs += f"Running entrypoint for job {job_id}: {job.entrypoint}\n"

    def write(self, job_id: str, text: str) -> None:
        self.jobs[job_id].logs += text

    def finish(self, job_id: str) -> None:
        self._end(job_id, "SUCCEEDED", "Job finished successfully.", 0)

    def crash(self, job_id: str, traceback: str, exit_code: int = 1) -> None:
        self.jobs[job_id].logs += traceback
        self._end(
            job_id,
            "FAILED",
            f"Job entrypoint command failed with exit code {exit_code}, last available"
            f" logs (truncated to 20,000 chars):\n{traceback}",
            exit_code,
            "JOB_ENTRYPOINT_COMMAND_ERROR",
        )

    def _end(self, job_id: str, status: str, message: str, code: int, error_type: str | None = None) -> None:
        job = self.jobs[job_id]
        job.status, job.message, job.exit_code, job.error_type = status, message, code, error_type
        job.end_time = int(time.time() * 1000)

    # -- FakeServer hooks ----------------------------------------------------------

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/jobs/", self._submit)
        app.router.add_get("/api/jobs/{id}", self._get)
        app.router.add_get("/api/jobs/{id}/logs", self._logs)
        app.router.add_post("/api/jobs/{id}/stop", self._stop)

    def _method_of(self, request: web.Request) -> str | None:
        path = request.path
        for pattern in ("/api/jobs/{id}/logs", "/api/jobs/{id}/stop", "/api/jobs/{id}"):
            prefix, _, suffix = pattern.partition("{id}")
            if path.startswith(prefix) and path.endswith(suffix) and len(path) > len(prefix + suffix):
                return f"{request.method} {pattern}"
        return f"{request.method} {path}"

    async def _parse_args(self, request: web.Request) -> dict[str, Any]:
        if request.method != "POST" or not request.can_read_body:
            return {}
        try:
            body = json.loads(await request.text())
        except ValueError:
            return {"_invalid": True}
        return body if isinstance(body, dict) else {"_invalid": True}

    def _fault_response(self, fault: Fault) -> web.StreamResponse:
        return web.Response(status=fault.status or 500, text=fault.error or "Internal Server Error")

    def _middlewares(self) -> list[Any]:
        return [self._authenticate, *super()._middlewares()]

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self._token and request.headers.get("Authorization") != f"Bearer {self._token}":
            return web.Response(status=401, text="Unauthorized: missing or invalid bearer token")
        return await handler(request)

    # -- handlers ---------------------------------------------------------------------

    async def _submit(self, request: web.Request) -> web.Response:
        body = {key: value for key, value in request[ARGS].items() if value is not None}
        problem = _invalid(body)
        if problem:
            return web.Response(status=400, text=_traceback(problem))
        job_id = body.get("submission_id") or f"raysubmit_{len(self.jobs) + 1:016d}"
        if job_id in self.jobs:
            return web.Response(
                status=400,
                text=_traceback(
                    f"ValueError: Job with submission_id {job_id} already exists. Please use a different submission_id."
                ),
            )
        self.jobs[job_id] = RayJob(
            job_id, body["entrypoint"], body.get("metadata"), body.get("runtime_env"), body.get("entrypoint_num_gpus")
        )
        return web.json_response({"job_id": job_id, "submission_id": job_id})

    def _job(self, request: web.Request) -> RayJob | web.Response:
        job_id = request.match_info["id"]
        job = self.jobs.get(job_id)
        return job if job is not None else web.Response(status=404, text=f"Job {job_id} does not exist")

    async def _get(self, request: web.Request) -> web.Response:
        job = self._job(request)
        return job if isinstance(job, web.Response) else web.json_response(job.details())

    async def _logs(self, request: web.Request) -> web.Response:
        job = self._job(request)
        return job if isinstance(job, web.Response) else web.json_response({"logs": job.logs})

    async def _stop(self, request: web.Request) -> web.Response:
        job = self._job(request)
        if isinstance(job, web.Response):
            return job
        running = job.status in ("PENDING", "RUNNING")
        if running:
            self._end(job.submission_id, "STOPPED", "Job was intentionally stopped.", -15)
        return web.json_response({"stopped": running})


def _invalid(body: dict[str, Any]) -> str | None:  # noqa: C901 - Ray's checks, one by one, in Ray's order
    """What `JobSubmitRequest(**body)` would raise, as the last line of its traceback."""
    if body.get("_invalid"):
        return "json.decoder.JSONDecodeError: Expecting value"
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        return f"TypeError: JobSubmitRequest.__init__() got an unexpected keyword argument '{unknown[0]}'"
    if "entrypoint" not in body:
        return "TypeError: JobSubmitRequest.__init__() missing 1 required positional argument: 'entrypoint'"
    if not isinstance(body["entrypoint"], str):
        return f"TypeError: entrypoint must be a string, got {type(body['entrypoint'])}"
    if "submission_id" in body and not isinstance(body["submission_id"], str):
        return f"TypeError: submission_id must be a string if provided, got {type(body['submission_id'])}"
    for key in ("runtime_env", "metadata"):
        if key in body and not isinstance(body[key], dict):
            return f"TypeError: {key} must be a dict, got {type(body[key])}"
    if any(not isinstance(value, str) for value in (body.get("metadata") or {}).values()):
        return "TypeError: metadata values must be strings, got <class 'int'>"
    for key in ("entrypoint_num_cpus", "entrypoint_num_gpus"):
        if key in body and (isinstance(body[key], bool) or not isinstance(body[key], int | float)):
            return f"TypeError: {key} must be a number, got {type(body[key])}"
    return None
