"""A fake OpenAI API under /v1: chat completions, embeddings, models, files and fine-tuning jobs.

Embeddings follow OpenAI's API reference for POST /v1/embeddings (platform.openai.com/docs/api-reference/
embeddings/create, as openai-python 3.x's EmbeddingCreateParams and CreateEmbeddingResponse type it; checked
2026-12-05): `input` a string or an array of at most 2048 non-empty strings (token arrays too), `encoding_format`
float or base64 (little-endian float32), `dimensions` only for text-embedding-3 models; the answer is
`{"object": "list", "data": [{"object": "embedding", "index", "embedding"}], "model", "usage"}`. The vectors are
a deterministic hash of the words (texts sharing words are close), not a language model's.

    async with FakeOpenAI() as oai:
        client = AsyncOpenAI(base_url=oai.base_url, api_key="sk-test",
                             _strict_response_validation=True)

Answers follow the shapes openai-python validates; errors use OpenAI's
`{"error": {"message", "type", "param", "code"}}` body.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
import re
import struct
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

from .openai_state import (
    BASE_MODELS,
    FineTuning,
    JobScript,
    Model,
    OpenAIFailure,
    Outcome,
    StoredFile,
    count_tokens,
    new_id,
    now,
    page,
)
from .server import ARGS, FakeServer, Fault, Handler, retry_after_headers

Json = dict[str, Any]
Reply = str | Callable[[Json], str | Awaitable[str]]


@dataclass
class FilePart:
    """An uploaded multipart file, as it appears in a recorded call's args."""

    filename: str
    content: bytes


class FakeOpenAI(FakeServer):
    """OpenAI at `base_url`, any bearer key unless `api_key` is given. Scripted replies; jobs move only
    via `advance()`.

    `latency` delays every chat completion (concurrently); `token_seconds` spaces a streamed answer's
    chunks (one token each) to a fixed rate; `max_concurrent_chat` is the peak
    of in-flight chat requests; `advance_on_retrieve` moves a job one stage per retrieve.
    """

    def __init__(self, *, models: Iterable[str] = BASE_MODELS, api_key: str | None = None) -> None:
        """`api_key`: when set, any other bearer key gets OpenAI's 401 `invalid_api_key`."""
        super().__init__()
        self.api_key = api_key
        self.files: dict[str, StoredFile] = {}
        self.models: dict[str, Model] = {name: Model(name) for name in models}
        self.fine_tuning = FineTuning(self.files, self.models)
        self.latency = 0.0
        self.token_seconds = 0.0  # a streamed answer's pause before each token: a fixed token rate
        self.max_concurrent_chat = 0
        self.advance_on_retrieve = False
        self._in_flight_chat = 0
        self._reply: Reply = _echo
        self.embedded: list[str] = []  # every text embedded, in order

    @property
    def base_url(self) -> str:
        return self.url("/v1")

    # -- scripting -------------------------------------------------------

    def reply_with(self, reply: Reply) -> None:
        """Fixed text, or a (sync or async) callable from the request JSON to the text."""
        self._reply = reply

    def add_model(self, model_id: str, owned_by: str = "system") -> None:
        self.models[model_id] = Model(model_id, owned_by)

    def retire_model(self, model_id: str) -> None:
        """Shut a model down: from now on chat completions and GET /v1/models/{id} answer 404 with the error
        code `model_not_found`, as OpenAI does for a model that no longer exists (API reference, errors)."""
        self.models.pop(model_id, None)

    def announce_shutdown(self, model_id: str, day: str) -> None:
        """List a shutdown date (YYYY-MM-DD) on the model object, as the models endpoint does once announced."""
        self.models[model_id].shutdown_date = day

    def script_job(
        self, total_steps: int = 10, outcome: Outcome = "succeeded", error: dict[str, Any] | str | None = None
    ) -> None:
        """Script the next created job (scripts queue up, one per job, in order)."""
        if isinstance(error, str):
            error = {"message": error}
        self.fine_tuning.script_next(JobScript(total_steps, outcome, error))

    def advance(self, job_id: str | None = None, steps: int = 1) -> None:
        """One stage on for `job_id` (None: every active job); `steps` training steps when running."""
        self.fine_tuning.advance(job_id, steps)

    def run_to_end(self, job_id: str) -> Json:
        return self.fine_tuning.run_to_end(job_id).to_dict()

    def refuse_fine_tuning(
        self,
        status: int = 403,
        code: str = "fine_tuning_unavailable",
        message: str = "This organization cannot create new fine-tuning jobs.",
    ) -> None:
        self.fine_tuning.refusal = OpenAIFailure(status, message, code=code)

    def allow_fine_tuning(self) -> None:
        self.fine_tuning.refusal = None

    @property
    def min_examples(self) -> int:
        return self.fine_tuning.min_examples

    @min_examples.setter
    def min_examples(self, value: int) -> None:
        self.fine_tuning.min_examples = value

    # -- inspection ------------------------------------------------------

    def job(self, job_id: str) -> Json:
        return self.fine_tuning.get(job_id).to_dict()

    def events(self, job_id: str) -> list[Json]:
        """A job's events, oldest first."""
        self.fine_tuning.get(job_id)
        return list(self.fine_tuning.events[job_id])

    # -- FakeServer hooks --------------------------------------------------

    def _add_routes(self, app: web.Application) -> None:
        app.on_response_prepare.append(_add_request_id)
        r = app.router
        r.add_post("/v1/chat/completions", self._chat_completions)
        r.add_post("/v1/embeddings", self._embeddings)
        r.add_get("/v1/models", self._list_models)
        r.add_get("/v1/models/{model}", self._retrieve_model)
        r.add_post("/v1/files", self._create_file)
        r.add_get("/v1/files", self._list_files)
        r.add_get("/v1/files/{file_id}", self._retrieve_file)
        r.add_delete("/v1/files/{file_id}", self._delete_file)
        r.add_get("/v1/files/{file_id}/content", self._file_content)
        r.add_post("/v1/fine_tuning/jobs", self._create_job)
        r.add_get("/v1/fine_tuning/jobs", self._list_jobs)
        r.add_get("/v1/fine_tuning/jobs/{job_id}", self._retrieve_job)
        r.add_post("/v1/fine_tuning/jobs/{job_id}/cancel", self._cancel_job)
        r.add_get("/v1/fine_tuning/jobs/{job_id}/events", self._list_events)
        r.add_get("/v1/fine_tuning/jobs/{job_id}/checkpoints", self._list_checkpoints)

    def _middlewares(self) -> list[Any]:
        return [_openai_errors, *super()._middlewares(), self._require_api_key]

    def _method_of(self, request: web.Request) -> str:
        return f"{request.method} {request.path}"

    @web.middleware
    async def _require_api_key(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        key = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not key:
            raise OpenAIFailure(
                401,
                "You didn't provide an API key. You need to provide your API key in "
                "an Authorization header using Bearer auth.",
            )
        if self.api_key is not None and key != self.api_key:
            # OpenAI's wording (platform docs, "Error codes": 401 Invalid Authentication / Incorrect API key).
            raise OpenAIFailure(
                401,
                f"Incorrect API key provided: {key[:3]}***{key[-4:]}. You can find your API "
                "key at https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )
        return await handler(request)

    async def _parse_args(self, request: web.Request) -> Json:
        return await request_args(request, OpenAIFailure(400, "We could not parse the JSON body of your request."))

    def _fault_response(self, fault: Fault) -> web.StreamResponse:
        status = fault.status or 400
        message, kind, code = _fault_error(status, fault.error)
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        return web.json_response(body, status=status, headers=retry_after_headers(fault))

    # -- chat completions ----------------------------------------------------

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        body = request[ARGS]
        self._check_chat_request(body)
        self._in_flight_chat += 1
        self.max_concurrent_chat = max(self.max_concurrent_chat, self._in_flight_chat)
        try:
            await self.sleep(self.latency)
            text, finish_reason = _truncate(await self._reply_text(body), _max_tokens(body))
            completion = Completion(body, text, finish_reason)
            if body.get("stream"):
                return await completion.stream(request, self.sleep, self.token_seconds)
            return web.json_response(completion.to_dict())
        finally:
            self._in_flight_chat -= 1

    def _check_chat_request(self, body: Json) -> None:
        if not body.get("model"):
            raise OpenAIFailure(400, "you must provide a model parameter", param="model")
        if body["model"] not in self.models:
            raise OpenAIFailure(
                404,
                f"The model `{body['model']}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            raise OpenAIFailure(400, "'messages' must be a non-empty array.", param="messages", code="invalid_value")

    # -- embeddings ----------------------------------------------------------

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = request[ARGS]
        model = body.get("model")
        if not model:
            raise OpenAIFailure(400, "you must provide a model parameter", param="model")
        if model not in EMBEDDING_DIMENSIONS:
            raise OpenAIFailure(
                404, f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found"
            )
        texts = _embedding_inputs(body.get("input"))
        dimensions = body.get("dimensions")
        if dimensions is not None and (
            not model.startswith("text-embedding-3")
            or not isinstance(dimensions, int)
            or not 1 <= dimensions <= EMBEDDING_DIMENSIONS[model]
        ):
            raise OpenAIFailure(
                400, f"This model does not support specifying dimensions={dimensions}.", param="dimensions"
            )
        size = dimensions or EMBEDDING_DIMENSIONS[model]
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            raise OpenAIFailure(
                400, f"'{encoding}' is not one of ['float', 'base64'] - 'encoding_format'", param="encoding_format"
            )
        self.embedded += texts
        data = [
            {"object": "embedding", "index": i, "embedding": _encode(hashed_vector(text, size), encoding)}
            for i, text in enumerate(texts)
        ]
        tokens = sum(count_tokens(text) for text in texts)
        return web.json_response(
            {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        )

    async def _reply_text(self, body: Json) -> str:
        if isinstance(self._reply, str):
            return self._reply
        text = self._reply(body)
        return await text if inspect.isawaitable(text) else text

    # -- models --------------------------------------------------------------

    async def _list_models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [m.to_dict() for m in self.models.values()]})

    async def _retrieve_model(self, request: web.Request) -> web.Response:
        model = self.models.get(request.match_info["model"])
        if model is None:
            raise OpenAIFailure(
                404,
                f"The model '{request.match_info['model']}' does not exist",
                param="model",
                code="model_not_found",
            )
        return web.json_response(model.to_dict())

    # -- files -----------------------------------------------------------------

    async def _create_file(self, request: web.Request) -> web.Response:
        args = request[ARGS]
        upload, purpose = args.get("file"), args.get("purpose")
        if not isinstance(upload, FilePart) or not purpose:
            raise OpenAIFailure(400, "A file and a purpose are required.", param="file")
        stored = StoredFile(new_id("file"), upload.filename, purpose, upload.content)
        self.files[stored.id] = stored
        return web.json_response(stored.to_dict())

    async def _list_files(self, request: web.Request) -> web.Response:
        args = request[ARGS]
        files = [f.to_dict() for f in self.files.values() if not args.get("purpose") or f.purpose == args["purpose"]]
        if args.get("order", "desc") == "desc":
            files.reverse()
        return _list_response(files, args, default_limit=10_000)

    async def _retrieve_file(self, request: web.Request) -> web.Response:
        return web.json_response(self._file(request).to_dict())

    async def _delete_file(self, request: web.Request) -> web.Response:
        stored = self.files.pop(self._file(request).id)
        return web.json_response({"id": stored.id, "object": "file", "deleted": True})

    async def _file_content(self, request: web.Request) -> web.Response:
        return web.Response(body=self._file(request).content, content_type="application/octet-stream")

    def _file(self, request: web.Request) -> StoredFile:
        file_id = request.match_info["file_id"]
        if file_id not in self.files:
            raise OpenAIFailure(404, f"No such File object: {file_id}", param="id")
        return self.files[file_id]

    # -- fine-tuning -------------------------------------------------------------

    async def _create_job(self, request: web.Request) -> web.Response:
        return web.json_response(self.fine_tuning.create(request[ARGS]).to_dict())

    async def _list_jobs(self, request: web.Request) -> web.Response:
        args = request[ARGS]
        metadata = {
            k[len("metadata[") : -1]: v for k, v in args.items() if k.startswith("metadata[") and k.endswith("]")
        }
        jobs = self.fine_tuning.list_jobs(metadata, only_without_metadata=args.get("metadata") == "null")
        return _list_response(jobs, args, default_limit=20)

    async def _retrieve_job(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        if self.advance_on_retrieve:
            self.fine_tuning.advance(job_id)
        return web.json_response(self.fine_tuning.get(job_id).to_dict())

    async def _cancel_job(self, request: web.Request) -> web.Response:
        return web.json_response(self.fine_tuning.cancel(request.match_info["job_id"]).to_dict())

    async def _list_events(self, request: web.Request) -> web.Response:
        events = self.events(request.match_info["job_id"])[::-1]
        return _list_response(events, request[ARGS], default_limit=20)

    async def _list_checkpoints(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        self.fine_tuning.get(job_id)
        checkpoints = self.fine_tuning.checkpoints[job_id][::-1]
        return _list_response(checkpoints, request[ARGS], default_limit=10)


# -- completions ----------------------------------------------------------------


class Completion:
    """One scripted answer, as a `chat.completion` object or a stream of chunks."""

    def __init__(self, request: Json, text: str, finish_reason: str) -> None:
        self.request = request
        self.text = text
        self.finish_reason = finish_reason
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = now()

    def usage(self) -> Json:
        prompt = 3 + sum(count_tokens(_content_text(m.get("content"))) + 3 for m in self.request["messages"])
        completion = count_tokens(self.text)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def to_dict(self) -> Json:
        message: Json = {"role": "assistant", "content": self.text, "refusal": None, "annotations": []}
        choice = {"index": 0, "message": message, "finish_reason": self.finish_reason, "logprobs": None}
        return {
            **self._header("chat.completion"),
            "choices": [choice],
            "usage": self.usage(),
            "service_tier": "default",
        }

    async def stream(
        self, request: web.Request, sleep: Callable[[float], Awaitable[None]], token_seconds: float
    ) -> web.StreamResponse:
        """Server-sent events, `data: {chunk}` then `data: [DONE]`, as openai-python's Stream reads them."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        try:
            await response.prepare(request)
            for chunk in self.chunks():
                if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                    await sleep(token_seconds)
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except ConnectionResetError:  # the client gave up (a timeout): nobody is listening any more
            pass
        return response

    def chunks(self) -> list[Json]:
        words = self.text.split(" ")
        pieces = [word if i == 0 else f" {word}" for i, word in enumerate(words)]
        deltas = [{"role": "assistant", "content": "", "refusal": None}]
        deltas += [{"content": piece} for piece in pieces if piece]
        chunks = [self._chunk(delta, None) for delta in deltas] + [self._chunk({}, self.finish_reason)]
        if (self.request.get("stream_options") or {}).get("include_usage"):
            chunks = [chunk | {"usage": None} for chunk in chunks]
            chunks.append({**self._header("chat.completion.chunk"), "choices": [], "usage": self.usage()})
        return chunks

    def _chunk(self, delta: Json, finish_reason: str | None) -> Json:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        return {**self._header("chat.completion.chunk"), "choices": [choice]}

    def _header(self, object: str) -> Json:
        return {
            "id": self.id,
            "object": object,
            "created": self.created,
            "model": self.request["model"],
            "system_fingerprint": "fp_fake",
        }


def _fault_error(status: int, code: str | None) -> tuple[str, str, str | None]:
    """Message, type and code OpenAI uses for an injected status."""
    if status == 429:
        return "Rate limit reached for requests", "requests", code or "rate_limit_exceeded"
    if status >= 500:
        return (
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            code,
        )
    return f"Injected error ({code or status})", "invalid_request_error", code


EMBEDDING_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
MAX_EMBEDDING_INPUTS = 2048


def _embedding_inputs(value: Any) -> list[str]:
    """The texts to embed; token arrays are embedded as their numbers' text."""
    if isinstance(value, str):
        value = [value]
    elif isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        value = [" ".join(map(str, value))]
    if not isinstance(value, list) or not value:
        raise OpenAIFailure(400, "'input' must be a string or a non-empty array.", param="input")
    if len(value) > MAX_EMBEDDING_INPUTS:
        raise OpenAIFailure(400, f"'input' must have at most {MAX_EMBEDDING_INPUTS} items.", param="input")
    texts = [" ".join(map(str, v)) if isinstance(v, list) else v for v in value]
    if any(not isinstance(t, str) or not t for t in texts):
        raise OpenAIFailure(400, "'input' cannot contain an empty string.", param="input")
    return texts


def hashed_vector(text: str, size: int) -> list[float]:
    """Each lower-cased word adds ±1 in a bucket chosen by its hash: texts sharing words point the same way."""
    vector = [0.0] * size
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.sha256(word.encode()).digest()
        vector[int.from_bytes(digest[:4], "little") % size] += 1.0 if digest[4] % 2 else -1.0
    norm = sum(v * v for v in vector) ** 0.5 or 1.0
    return [v / norm for v in vector]


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "float":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _echo(request: Json) -> str:
    users = [m for m in request["messages"] if m.get("role") == "user"]
    return "Echo: " + (_content_text(users[-1].get("content")) if users else "")


def _content_text(content: Any) -> str:
    """Text of a message's content: a string, or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _max_tokens(body: Json) -> int | None:
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    return int(limit) if limit else None


def _truncate(text: str, max_tokens: int | None) -> tuple[str, str]:
    words = text.split()
    if max_tokens is None or len(words) <= max_tokens:
        return text, "stop"
    return " ".join(words[:max_tokens]), "length"


# -- HTTP plumbing ----------------------------------------------------------------


def _list_response(items: list[Json], args: Json, default_limit: int) -> web.Response:
    data, has_more = page(items, args.get("after"), int(args.get("limit") or default_limit))
    body: Json = {"object": "list", "data": data, "has_more": has_more}
    if data:
        body |= {"first_id": data[0]["id"], "last_id": data[-1]["id"]}
    return web.json_response(body)


async def request_args(request: web.Request, bad_json: Exception) -> Json:
    """Query, JSON body or multipart fields (files as FilePart), as the OpenAI-style APIs accept them."""
    args: Json = dict(request.query)
    if request.content_type == "multipart/form-data":
        return args | await _multipart_fields(request)
    if request.can_read_body:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            raise bad_json from None
        args |= body if isinstance(body, dict) else {}
    return args


async def _multipart_fields(request: web.Request) -> Json:
    fields: Json = {}
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        if part.filename is not None:
            fields[part.name] = FilePart(part.filename, bytes(await part.read()))
        else:
            fields[part.name] = await part.text()
    return fields


@web.middleware
async def _openai_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except OpenAIFailure as failure:
        return web.json_response(failure.body(), status=failure.status)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as missing:
        error = {
            "message": f"Invalid URL ({request.method} {request.path})",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
        return web.json_response({"error": error}, status=missing.status)


async def _add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("x-request-id", f"req_{uuid.uuid4().hex}")
