"""A fake Together AI API under /v1: files, fine-tunes, dedicated endpoints, hardware and chat.

    async with FakeTogether() as together:
        trainer = TogetherTrainer("tg-test", together.base_url)

Built from Together's OpenAPI document (github.com/togethercomputer/openapi `openapi.yaml`,
commit 6ed1b93 as stored, read 2026-12-02; `GET /fine-tunes/{id}/metrics` re-read at commit 090263a,
2026-04-28, on 2026-12-05) and the together-py SDK generated from it; see
`together_state.py` (fine-tuning) and `together_endpoints.py` (endpoints, hardware).

Chat completions answer for the **name** of a STARTED dedicated endpoint, or for a model
marked serverless (`serve_serverless(model)`). Anything else — a tuned model's output name,
a stopped endpoint — gets what Together answers: 400, code `model_not_available`, "Unable to
access non-serverless model …". Errors use `{"error": {"message", "type", "param", "code"}}`.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .openai_api import Completion, FilePart, request_args
from .server import ARGS, FakeServer, Fault, FaultPlan, Handler, retry_after_headers
from .together_endpoints import Endpoint, Endpoints
from .together_state import (
    ACCOUNT,
    FINE_TUNABLE,
    FineTunes,
    Job,
    JobScript,
    Outcome,
    StoredFile,
    TogetherFailure,
)

Json = dict[str, Any]
Reply = str | Callable[[Json], str | Awaitable[str]]
__all__ = ["ACCOUNT", "FakeTogether", "FilePart"]


class FakeTogether(FakeServer):
    def __init__(self, *, api_key: str | None = None, models: dict[str, frozenset[str]] | None = None) -> None:
        """`api_key`: when set, any other bearer token gets a 401."""
        super().__init__()
        self.api_key = api_key
        self.files: dict[str, StoredFile] = {}
        self.fine_tunes = FineTunes(self.files, dict(models or FINE_TUNABLE))
        self.endpoints = Endpoints(self._base_of)
        self.serverless: set[str] = set()
        self._reply: Reply = _echo
        self._lost = FaultPlan()

    @property
    def base_url(self) -> str:
        return self.url("/v1")

    # -- scripting ----------------------------------------------------------------

    def script_job(self, total_steps: int = 10, outcome: Outcome = "completed", error: str | None = None) -> None:
        """Script the next created job (scripts queue up, one per job, in order)."""
        self.fine_tunes.scripts.append(JobScript(total_steps, outcome, error))

    def advance(self, job_id: str | None = None, steps: int = 1) -> None:
        """One stage on for `job_id` (None: every active job); `steps` training steps when running."""
        self.fine_tunes.advance(job_id, steps)

    def run_to_end(self, job_id: str) -> Json:
        return self.fine_tunes.run_to_end(job_id).to_dict()

    def refuse_fine_tuning(self, status: int = 402, message: str = "Insufficient balance to start a job.") -> None:
        self.fine_tunes.refusal = TogetherFailure(status, message, code="insufficient_balance")

    def price_unavailable(self, reason: str = "model not priced") -> None:
        self.fine_tunes.price_unavailable = reason

    def lose_response(self, method: str, *, status: int = 502, times: int = 1) -> None:
        """The next `times` calls to `method` are served, but the client gets `status` instead."""
        self._lost.add(method, Fault(status=status), times)

    def serve_serverless(self, model: str) -> None:
        """Answer chat for `model` by its own name, as Together does for its serverless models."""
        self.serverless.add(model)

    def advance_endpoint(self, endpoint_id: str | None = None) -> None:
        """One state on: PENDING -> STARTING -> STARTED, STOPPING -> STOPPED (None: every endpoint)."""
        self.endpoints.advance(endpoint_id)

    def idle_stop(self, endpoint_id: str) -> None:
        self.endpoints.idle_stop(endpoint_id)

    def endpoint(self, endpoint_id: str) -> Endpoint:
        return self.endpoints.get(endpoint_id)

    def reply_with(self, reply: Reply) -> None:
        self._reply = reply

    # -- inspection ------------------------------------------------------------------

    def job(self, job_id: str) -> Json:
        return self.fine_tunes.get(job_id).to_dict()

    def jobs(self) -> list[Job]:
        return list(self.fine_tunes.jobs.values())

    def events(self, job_id: str) -> list[Json]:
        return list(self.fine_tunes.get(job_id).events)

    # -- FakeServer hooks ----------------------------------------------------------------

    def _add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/v1/files/upload", self._upload)
        r.add_get("/v1/files", self._list_files)
        r.add_get("/v1/files/{file_id}", self._retrieve_file)
        r.add_post("/v1/fine-tunes/estimate-price", self._estimate_price)
        r.add_post("/v1/fine-tunes", self._create_job)
        r.add_get("/v1/fine-tunes", self._list_jobs)
        r.add_get("/v1/fine-tunes/{job_id}", self._retrieve_job)
        r.add_get("/v1/fine-tunes/{job_id}/events", self._list_events)
        r.add_post("/v1/fine-tunes/{job_id}/cancel", self._cancel_job)
        r.add_get("/v1/fine-tunes/{job_id}/metrics", self._list_metrics)
        r.add_get("/v1/hardware", self._list_hardware)
        r.add_post("/v1/endpoints", self._create_endpoint)
        r.add_get("/v1/endpoints", self._list_endpoints)
        r.add_get("/v1/endpoints/{endpoint_id}", self._retrieve_endpoint)
        r.add_patch("/v1/endpoints/{endpoint_id}", self._update_endpoint)
        r.add_delete("/v1/endpoints/{endpoint_id}", self._delete_endpoint)
        r.add_post("/v1/chat/completions", self._chat_completions)
        r.add_get("/v1/models", self._list_models)

    def _middlewares(self) -> list[Any]:
        return [_together_errors, *super()._middlewares(), self._require_api_key, self._lose_responses]

    def _method_of(self, request: web.Request) -> str:
        return f"{request.method} {request.path}"

    async def _parse_args(self, request: web.Request) -> Json:
        return await request_args(request, TogetherFailure(400, "Request body is not valid JSON"))

    def _fault_response(self, fault: Fault) -> web.StreamResponse:
        status = fault.status or 400
        error: dict[str, str | None]
        if status == 429:
            error = {"message": "Rate limit exceeded, please retry later", "type": "rate_limit", "code": "rate_limit"}
        elif status >= 500:
            error = {"message": "Internal server error", "type": "server_error", "code": fault.error}
        else:
            error = {
                "message": f"Injected error ({fault.error or status})",
                "type": "invalid_request_error",
                "code": fault.error,
            }
        return web.json_response({"error": {**error, "param": None}}, status=status, headers=retry_after_headers(fault))

    @web.middleware
    async def _require_api_key(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        key = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not key or (self.api_key is not None and key != self.api_key):
            # Echoes the key on purpose: a client that passes provider messages on must redact them.
            raise TogetherFailure(
                401, f"Invalid API key provided: {key}", type="invalid_api_key", code="invalid_api_key"
            )
        return await handler(request)

    @web.middleware
    async def _lose_responses(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        fault = self._lost.take(f"{request.method} {request.path}")
        return self._fault_response(fault) if fault is not None else response

    # -- files -------------------------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.Response:
        args = request[ARGS]
        upload = args.get("file")
        missing = [name for name in ("file", "file_name", "purpose") if not args.get(name)]
        if missing or not isinstance(upload, FilePart):
            raise TogetherFailure(400, f"Missing form fields: {', '.join(missing) or 'file'}", param="file")
        file_type = args.get("file_type") or "jsonl"
        if file_type not in ("jsonl", "parquet", "csv"):
            raise TogetherFailure(400, f"Unsupported file_type {file_type}", param="file_type")
        stored = StoredFile(f"file-{_uuid()}", args["file_name"], args["purpose"], file_type, upload.content)
        self.files[stored.id] = stored
        return web.json_response(stored.to_dict())

    async def _list_files(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [f.to_dict() for f in self.files.values()]})

    async def _retrieve_file(self, request: web.Request) -> web.Response:
        stored = self.files.get(request.match_info["file_id"])
        if stored is None:
            raise TogetherFailure(404, f"File {request.match_info['file_id']} not found", code="file_not_found")
        return web.json_response(stored.to_dict())

    # -- fine-tunes ----------------------------------------------------------------------

    async def _create_job(self, request: web.Request) -> web.Response:
        return web.json_response(self.fine_tunes.create(request[ARGS]).to_dict(truncated=True))

    async def _list_jobs(self, request: web.Request) -> web.Response:
        return web.json_response({"data": self.fine_tunes.list_jobs()})

    async def _retrieve_job(self, request: web.Request) -> web.Response:
        return web.json_response(self.fine_tunes.get(request.match_info["job_id"]).to_dict())

    async def _list_events(self, request: web.Request) -> web.Response:
        return web.json_response({"data": self.events(request.match_info["job_id"])})

    async def _cancel_job(self, request: web.Request) -> web.Response:
        return web.json_response(self.fine_tunes.cancel(request.match_info["job_id"]).to_dict(truncated=True))

    async def _estimate_price(self, request: web.Request) -> web.Response:
        return web.json_response(self.fine_tunes.estimate_price(request[ARGS]))

    async def _list_metrics(self, request: web.Request) -> web.Response:
        job = self.fine_tunes.get(request.match_info["job_id"])
        if request.query:
            # The document declares the filters in a JSON body, and no query parameter at all.
            name = next(iter(request.query))
            raise TogetherFailure(400, f"unknown query parameter: {name}", param=name)
        args = request[ARGS]
        rows = job.metrics_between(_int_arg(args, "global_step_from"), _int_arg(args, "global_step_to"))
        return web.json_response({"metrics": rows})

    # -- dedicated endpoints ------------------------------------------------------------------

    async def _list_hardware(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": self.endpoints.hardware(request[ARGS].get("model"))})

    async def _create_endpoint(self, request: web.Request) -> web.Response:
        return web.json_response(self.endpoints.create(request[ARGS]).to_dict())

    async def _list_endpoints(self, request: web.Request) -> web.Response:
        data = [e.to_dict() for e in self.endpoints.endpoints.values()]
        return web.json_response({"object": "list", "data": data})

    async def _retrieve_endpoint(self, request: web.Request) -> web.Response:
        return web.json_response(self.endpoints.get(request.match_info["endpoint_id"]).to_dict())

    async def _update_endpoint(self, request: web.Request) -> web.Response:
        endpoint = self.endpoints.update(request.match_info["endpoint_id"], request[ARGS])
        return web.json_response(endpoint.to_dict())

    async def _delete_endpoint(self, request: web.Request) -> web.Response:
        self.endpoints.delete(request.match_info["endpoint_id"])
        return web.Response(status=204)

    def _base_of(self, model: str) -> str | None:
        if model in self.fine_tunes.models or model in self.serverless:
            return model
        done = [j for j in self.fine_tunes.jobs.values() if j.status == "completed" and j.output_name == model]
        return done[0].model if done else None

    # -- inference -------------------------------------------------------------------------

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        body = request[ARGS]
        model = body.get("model")
        if not model:
            raise TogetherFailure(400, "model is required", param="model")
        if model not in self.serverless and not self.endpoints.serving(model):
            raise TogetherFailure(
                400,
                f"Unable to access non-serverless model {model}. Please visit https://api.together.ai/models/"
                f"{model} to create and start a new dedicated endpoint for the model.",
                param=None,
                code="model_not_available",
            )
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            raise TogetherFailure(400, "messages must be a non-empty array", param="messages")
        completion = Completion(body, await self._reply_text(body), "stop")
        if body.get("stream"):
            return await completion.stream(request, asyncio.sleep, 0.0)
        return web.json_response(completion.to_dict())

    async def _list_models(self, request: web.Request) -> web.Response:
        names = sorted(self.serverless | {e.name for e in self.endpoints.endpoints.values()})
        data = [{"id": name, "object": "model", "created": 0, "owned_by": ACCOUNT} for name in names]
        return web.json_response({"object": "list", "data": data})

    async def _reply_text(self, body: Json) -> str:
        if isinstance(self._reply, str):
            return self._reply
        text = self._reply(body)
        return await text if inspect.isawaitable(text) else text


def _echo(request: Json) -> str:
    users = [m for m in request["messages"] if isinstance(m, dict) and m.get("role") == "user"]
    content = users[-1].get("content") if users else ""
    return "Echo: " + (content if isinstance(content, str) else "")


def _int_arg(args: Json, name: str) -> int | None:
    value = args.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise TogetherFailure(400, f"{name} must be an integer", param=name) from None


def _uuid() -> str:
    return str(uuid.uuid4())


@web.middleware
async def _together_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except TogetherFailure as failure:
        return web.json_response(failure.body(), status=failure.status)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as missing:
        error = {
            "message": f"Not found: {request.method} {request.path}",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
        return web.json_response({"error": error}, status=missing.status)
