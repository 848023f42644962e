"""A small OpenAI-compatible server over transformers + PEFT speaking the part of vLLM's API Tuneloop uses.

Routes and shapes follow vLLM's OpenAI-compatible server, read on 2026-12-02 from vllm-project/vllm
`vllm/entrypoints/openai/serving_models.py` (load / unload messages and status codes) and its
`protocol.py` (`ErrorResponse{error: ErrorInfo{message, type, param, code: int}}`, chat completion
and chunk objects):

- `GET /v1/models`: the base model and every loaded adapter (`parent` = the base).
- `POST /v1/chat/completions`: `model` is the base or an adapter's `lora_name`; `stream: true` answers
  with server-sent events ending in `data: [DONE]`.
- `POST /v1/load_lora_adapter` `{lora_name, lora_path}` and `POST /v1/unload_lora_adapter` `{lora_name}`:
  plain-text success, 400 `InvalidUserInput` for a missing field or a name already loaded, 404
  `NotFoundError` for an unknown adapter.

For CPU machines and tests; production serving is vLLM with `--enable-lora` (see README).
Run it as `tuneloop serve-model --model PATH_OR_ID` or `python -m selfhost.serve`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from aiohttp import web

from selfhost.host import AdapterError, ModelHost, Sampling

HOST_KEY = web.AppKey("host", ModelHost)
LOCK_KEY = web.AppKey("lock", asyncio.Lock)
_DONE = object()


def error_response(message: str, kind: str, status: HTTPStatus, param: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": param, "code": status.value}}
    return web.json_response(body, status=status.value)


def bad_request(message: str, param: str | None = None) -> web.Response:
    return error_response(message, "BadRequestError", HTTPStatus.BAD_REQUEST, param)


def build_app(host: ModelHost) -> web.Application:
    app = web.Application()
    app[HOST_KEY] = host
    app[LOCK_KEY] = asyncio.Lock()
    app.router.add_get("/v1/models", list_models)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/load_lora_adapter", load_lora_adapter)
    app.router.add_post("/v1/unload_lora_adapter", unload_lora_adapter)
    app.router.add_get("/health", health)
    return app


async def health(request: web.Request) -> web.Response:
    return web.Response(text="")


async def list_models(request: web.Request) -> web.Response:
    host = request.app[HOST_KEY]
    created = int(time.time())
    cards = [
        {
            "id": host.base_name,
            "object": "model",
            "created": created,
            "owned_by": "tuneloop",
            "root": host.base_name,
            "parent": None,
        }
    ]
    cards += [
        {
            "id": name,
            "object": "model",
            "created": created,
            "owned_by": "tuneloop",
            "root": path,
            "parent": host.base_name,
        }
        for name, path in host.adapters.items()
    ]
    return web.json_response({"object": "list", "data": cards})


async def _json_body(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = await request.json()
    except ValueError:
        return bad_request("The request body is not valid JSON.")
    if not isinstance(body, dict):
        return bad_request("The request body must be a JSON object.")
    return body


async def load_lora_adapter(request: web.Request) -> web.Response:
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    name, path = body.get("lora_name"), body.get("lora_path")
    if not isinstance(name, str) or not name or not isinstance(path, str) or not path:
        return error_response(
            "Both 'lora_name' and 'lora_path' must be provided.", "InvalidUserInput", HTTPStatus.BAD_REQUEST
        )
    host = request.app[HOST_KEY]
    if name in host.adapters or name == host.base_name:
        return error_response(
            f"The lora adapter '{name}' has already been loaded.", "InvalidUserInput", HTTPStatus.BAD_REQUEST
        )
    async with request.app[LOCK_KEY]:
        try:
            await asyncio.to_thread(host.load_adapter, name, path)
        except AdapterError as error:
            return _adapter_error(error)
    return web.Response(text=f"Success: LoRA adapter '{name}' added successfully.")


async def unload_lora_adapter(request: web.Request) -> web.Response:
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    name = body.get("lora_name")
    if not isinstance(name, str) or not name:
        return error_response(
            "either 'lora_name' and 'lora_int_id' needs to be provided.", "InvalidUserInput", HTTPStatus.BAD_REQUEST
        )
    async with request.app[LOCK_KEY]:
        try:
            await asyncio.to_thread(request.app[HOST_KEY].unload_adapter, name)
        except AdapterError as error:
            return _adapter_error(error)
    return web.Response(text=f"Success: LoRA adapter '{name}' removed successfully.")


def _adapter_error(error: AdapterError) -> web.Response:
    if error.not_found:
        return error_response(str(error), "NotFoundError", HTTPStatus.NOT_FOUND)
    return bad_request(str(error))


def parse_chat(body: dict[str, Any], host: ModelHost) -> tuple[str | None, list[dict[str, str]], Sampling] | str:
    """(adapter or None for the base, messages, sampling), or a plain-words reason the request is refused."""
    model, messages = body.get("model"), body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "`messages` must be a non-empty list."
    for message in messages:
        if (
            not isinstance(message, dict)
            or not isinstance(message.get("role"), str)
            or not isinstance(message.get("content"), str)
        ):
            return "Every message needs a `role` and text `content`."
    if body.get("n", 1) != 1:
        return "Only n=1 is supported."
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or 256
    temperature, top_p = body.get("temperature", 1.0), body.get("top_p", 1.0)
    if not isinstance(max_tokens, int) or max_tokens < 1:
        return "`max_tokens` must be a positive integer."
    if not isinstance(temperature, int | float) or not 0 <= temperature <= 2:
        return "`temperature` must be between 0 and 2."
    if not isinstance(top_p, int | float) or not 0 < top_p <= 1:
        return "`top_p` must be greater than 0 and at most 1."
    adapter = None if model == host.base_name else model
    cleaned = [{"role": message["role"], "content": message["content"]} for message in messages]
    return adapter, cleaned, Sampling(max_tokens, float(temperature), float(top_p), body.get("seed"))


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    host = request.app[HOST_KEY]
    model = body.get("model")
    if model != host.base_name and model not in host.adapters:
        return error_response(f"The model `{model}` does not exist.", "NotFoundError", HTTPStatus.NOT_FOUND, "model")
    parsed = parse_chat(body, host)
    if isinstance(parsed, str):
        return bad_request(parsed)
    adapter, messages, sampling = parsed
    if body.get("stream"):
        return await _stream(request, host, str(model), parsed, body)
    async with request.app[LOCK_KEY]:
        answer = await asyncio.to_thread(host.answer, adapter, messages, sampling)
    return web.json_response(
        {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.text},
                    "logprobs": None,
                    "finish_reason": answer.finish_reason,
                }
            ],
            "usage": _usage(answer.prompt_tokens, answer.completion_tokens),
        }
    )


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def _stream(
    request: web.Request, host: ModelHost, model: str, parsed: Any, body: dict[str, Any]
) -> web.StreamResponse:
    adapter, messages, sampling = parsed
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    chunk_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    async def send(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> None:
        chunk = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [] if usage else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if usage:
            chunk["usage"] = usage
        await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

    counts: dict[str, Any] = {}
    async with request.app[LOCK_KEY]:
        pieces: Iterator[str] = host.stream(adapter, messages, sampling, counts)
        await send({"role": "assistant", "content": ""})
        try:
            while (piece := await asyncio.to_thread(next, pieces, _DONE)) is not _DONE:
                if piece:
                    await send({"content": piece})
        except Exception as error:  # noqa: BLE001 - the status line is sent: say it in the stream, as vLLM does
            failure = {
                "error": {
                    "message": f"Generation failed: {error}",
                    "type": "InternalServerError",
                    "param": None,
                    "code": 500,
                }
            }
            await response.write(f"data: {json.dumps(failure)}\n\ndata: [DONE]\n\n".encode())
            await response.write_eof()
            return response
    await send({}, counts["finish"])
    if (body.get("stream_options") or {}).get("include_usage"):
        await send({}, usage=_usage(counts["prompt"], counts["completion"]))
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tuneloop serve-model", description="Serve a base model and LoRA adapters with vLLM's API subset."
    )
    parser.add_argument("--model", required=True, help="base model: a model id or a local folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from selfhost.modeling import ModelError, pick_device

    try:
        host = ModelHost(args.model, pick_device())
    except ModelError as error:
        print(f"serve-model: {error}", file=sys.stderr)
        return 2
    print(f"Serving {args.model} on http://{args.host}:{args.port}/v1", file=sys.stderr, flush=True)
    web.run_app(build_app(host), host=args.host, port=args.port, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
