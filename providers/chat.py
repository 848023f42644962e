"""Chat completions through any OpenAI-compatible endpoint."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import openai
from openai.types import CompletionUsage

from tuning import telemetry
from tuning.errors import ModelError, ModelGone
from tuning.ports import OnText
from tuning.values import ChatReply

log = logging.getLogger(__name__)

# An evaluation is a batch: it can wait out a rate limit longer than a person waiting in Slack can.
EVAL_MAX_RETRIES = 6
EVAL_TIMEOUT_SECONDS = 120.0


class ChatClient:
    """Calls the model; the SDK retries 429 (after Retry-After), 5xx and timeouts by itself."""

    def __init__(self, client: openai.AsyncOpenAI, *, provider: str = "openai") -> None:
        self._client = client
        self._provider = provider  # gen_ai.provider.name on the call's span

    async def complete(self, model: str, messages: list[dict[str, str]], *, max_tokens: int | None = None) -> ChatReply:
        """`max_tokens` bounds the answer's length (evaluations set it; a chat answer leaves it to the model)."""
        started = time.perf_counter()
        bound = {"max_completion_tokens": max_tokens} if max_tokens is not None else {}
        with telemetry.chat_span(provider=self._provider, model=model, messages=messages) as span:
            try:
                response = await self._client.chat.completions.create(model=model, messages=messages, **bound)  # type: ignore[call-overload]
            except openai.APIError as error:
                raise _model_error(error) from error
            latency_ms = round((time.perf_counter() - started) * 1000)
            text = (response.choices[0].message.content or "").strip() if response.choices else ""
            telemetry.chat_result(
                span,
                response_model=response.model,
                response_id=response.id,
                text=text,
                finish_reasons=[c.finish_reason for c in response.choices if c.finish_reason],
                input_tokens=response.usage.prompt_tokens if response.usage else None,
                output_tokens=response.usage.completion_tokens if response.usage else None,
            )
        if not text:
            raise ModelError("The model returned an empty answer.")
        return _reply(text, model, messages, response.usage, latency_ms)

    async def stream(self, model: str, messages: list[dict[str, str]], on_text: OnText) -> ChatReply:
        """Like complete(), calling `on_text` with each piece of text as the model writes it."""
        started = time.perf_counter()
        with telemetry.chat_span(provider=self._provider, model=model, messages=messages) as span:
            text, usage, seen = await self._read_stream(model, messages, on_text)
            telemetry.chat_result(
                span,
                response_model=seen.model,
                response_id=seen.id,
                finish_reasons=seen.finish_reasons,
                text=text,
                input_tokens=usage.prompt_tokens if usage else None,
                output_tokens=usage.completion_tokens if usage else None,
            )
        if not text:
            raise ModelError("The model returned an empty answer.")
        return _reply(text, model, messages, usage, round((time.perf_counter() - started) * 1000))

    async def _read_stream(
        self, model: str, messages: list[dict[str, str]], on_text: OnText
    ) -> tuple[str, CompletionUsage | None, _StreamFacts]:
        pieces: list[str] = []
        usage = None
        seen = _StreamFacts()
        try:
            chunks = await self._client.chat.completions.create(
                model=model,
                messages=messages,
                stream=True,  # type: ignore[call-overload]
                stream_options={"include_usage": True},
            )
            async for chunk in chunks:
                usage = chunk.usage or usage
                seen.note(chunk)
                delta = chunk.choices[0].delta.content if chunk.choices else None
                if delta:
                    pieces.append(delta)
                    await on_text(delta)
        except openai.APIError as error:
            raise _model_error(error) from error
        return "".join(pieces).strip(), usage, seen


@dataclass
class _StreamFacts:
    """What a stream's chunks said about the response, for its span."""

    model: str | None = None
    id: str | None = None
    finish_reasons: list[str] = field(default_factory=list)

    def note(self, chunk: Any) -> None:
        self.model = self.model or chunk.model
        self.id = self.id or chunk.id
        self.finish_reasons += [c.finish_reason for c in chunk.choices if c.finish_reason]


def _model_error(error: openai.APIError) -> ModelError:
    """ModelGone when the provider no longer serves the model (fallback reads it), ModelError otherwise."""
    gone = _gone(error)
    return ModelGone(_explain(error), gone) if gone is not None else ModelError(_explain(error))


def _reply(
    text: str, model: str, messages: list[dict[str, str]], usage: CompletionUsage | None, latency_ms: int
) -> ChatReply:
    return ChatReply(
        text=text,
        model=model,
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        latency_ms=latency_ms,
        request_messages=messages,
    )


GONE_CODES = frozenset({"model_not_found"})


def _gone(error: openai.APIError) -> str | None:
    """The provider's words when the model does not exist (a retired or unknown model: HTTP 404 or the code
    `model_not_found`, OpenAI API reference, error codes); None for anything transient."""
    if not isinstance(error, openai.APIStatusError):
        return None
    code = str(error.code) if error.code is not None else None
    if code is not None and code.isdigit():  # vLLM's `code` is the HTTP status again: say it once
        code = None
    if error.status_code != 404 and code not in GONE_CODES:
        return None
    body = error.body if isinstance(error.body, dict) else {}
    message = body.get("message") if isinstance(body.get("message"), str) else error.message
    return f"HTTP {error.status_code}" + (f" {code}" if code else "") + f": {message}"


def _explain(error: openai.APIError) -> str:
    if isinstance(error, openai.APITimeoutError):
        return "The model took too long to answer. Please try again in a moment."
    if isinstance(error, openai.RateLimitError):
        return "The model is rate-limited right now. Please try again in a minute."
    if isinstance(error, openai.APIConnectionError):
        return "Could not reach the model's API."
    if isinstance(error, openai.AuthenticationError):
        return "The model's API refused Tuneloop's key; an operator should check OPENAI_API_KEY."
    if isinstance(error, openai.NotFoundError):
        return "The model was not found at its provider."
    if isinstance(error, openai.APIStatusError) and error.status_code >= 500:
        return f"The model's API failed (HTTP {error.status_code}). Please try again later."
    return "The model could not answer this request."


def eval_openai_client(
    *,
    api_key: str,
    base_url: str | None = None,
    max_retries: int = EVAL_MAX_RETRIES,
    timeout: float = EVAL_TIMEOUT_SECONDS,
    **options: Any,
) -> openai.AsyncOpenAI:
    """An SDK client for evaluation calls: it retries 429 after Retry-After, 5xx and timeouts itself."""
    return openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout, **options)
