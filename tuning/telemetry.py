"""Traces of answers, evaluations and training jobs, and feedback tied to them, in OpenTelemetry's terms.

The spans follow the GenAI semantic conventions at SEMCONV_VERSION (still "development" upstream, hence
pinned). Only the OpenTelemetry *API* is used here. Until `bot/telemetry.py` hands over its providers (it
builds them only when OTEL_EXPORTER_OTLP_ENDPOINT is set) every call below goes to the API's no-op tracer and
logger, and `enabled()` is False, so the answer path reads nothing extra from the database. The providers
are Tuneloop's own, not installed as the process-wide globals, so they can be replaced and shut down.

Team text (questions, answers, a 👎's words, a correction) is put on spans and events only when the
operator opted in with OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opentelemetry import _logs, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

SEMCONV_VERSION = "1.44.0"
SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"
AGENT = "tuneloop"
FEEDBACK_EVENT = "gen_ai.evaluation.result"

_NO_TRACER = trace.NoOpTracer()
_NO_LOGGER = _logs.NoOpLogger("tuneloop")
_tracer: trace.Tracer = _NO_TRACER
_events: _logs.Logger = _NO_LOGGER
_state = {"enabled": False, "content": False}


def enable(
    tracer_provider: trace.TracerProvider, logger_provider: _logs.LoggerProvider, *, capture_content: bool
) -> None:
    """Called by bot/telemetry.py with the providers it built around its exporters."""
    global _tracer, _events
    _tracer = tracer_provider.get_tracer("tuneloop", schema_url=SCHEMA_URL)
    _events = logger_provider.get_logger("tuneloop", schema_url=SCHEMA_URL)
    _state.update(enabled=True, content=capture_content)


def disable() -> None:
    global _tracer, _events
    _tracer, _events = _NO_TRACER, _NO_LOGGER
    _state.update(enabled=False, content=False)


def enabled() -> bool:
    return _state["enabled"]


def captures_content() -> bool:
    return _state["enabled"] and _state["content"]


@dataclass(frozen=True)
class TraceRef:
    """Where an answer's trace is: stored with the answer, so a vote days later, on any replica, joins it."""

    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits

    def context(self) -> Any:
        parent = SpanContext(
            int(self.trace_id, 16), int(self.span_id, 16), is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
        )
        return trace.set_span_in_context(NonRecordingSpan(parent))


def current_ref() -> TraceRef | None:
    """The current span's place, when a real (exported) span is current."""
    context = trace.get_current_span().get_span_context()
    if not enabled() or not context.is_valid:
        return None
    return TraceRef(f"{context.trace_id:032x}", f"{context.span_id:016x}")


@contextmanager
def answer_span(*, channel: str, thread_ts: str, model: str) -> Iterator[None]:
    """The whole answer to one Slack question: retrieval (if any) and the model call are its children."""
    attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": AGENT,
        "gen_ai.request.model": model,
        "gen_ai.conversation.id": f"{channel}:{thread_ts}",
        "slack.channel.id": channel,
    }
    with _tracer.start_as_current_span(f"invoke_agent {AGENT}", kind=SpanKind.INTERNAL, attributes=attributes):
        yield


@contextmanager
def retrieval_span(*, source: str) -> Iterator[Any]:
    """Looking up examples to give the model (team memory); the caller sets what it found."""
    attributes = {"gen_ai.operation.name": "retrieval", "gen_ai.data_source.id": source}
    with _tracer.start_as_current_span(f"retrieval {source}", kind=SpanKind.INTERNAL, attributes=attributes) as span:
        yield span


def retrieval_result(span: Any, example_ids: Sequence[int]) -> None:
    if span.is_recording():
        span.set_attributes(
            {"tuneloop.memory.hits": len(example_ids), "tuneloop.memory.example_ids": list(example_ids)}
        )


@contextmanager
def chat_span(*, provider: str, model: str, messages: Sequence[dict[str, Any]]) -> Iterator[Any]:
    """One call to a chat model (`chat {model}`, kind CLIENT); the caller adds the response with `chat_result`."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
    }
    if captures_content():
        attributes["gen_ai.input.messages"] = json.dumps(_as_semconv_messages(messages))
    with _tracer.start_as_current_span(f"chat {model}", kind=SpanKind.CLIENT, attributes=attributes) as span:
        yield span


def chat_result(
    span: Any,
    *,
    response_model: str | None,
    response_id: str | None,
    finish_reasons: Sequence[str],
    input_tokens: int | None,
    output_tokens: int | None,
    text: str,
) -> None:
    if not span.is_recording():
        return
    values = {
        "gen_ai.response.model": response_model,
        "gen_ai.response.id": response_id,
        "gen_ai.response.finish_reasons": list(finish_reasons) or None,
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
    }
    if captures_content():
        values["gen_ai.output.messages"] = json.dumps(
            [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": text}],
                    "finish_reason": (list(finish_reasons) or ["stop"])[0],
                }
            ]
        )
    span.set_attributes({key: value for key, value in values.items() if value is not None})


@contextmanager
def evaluation_item_span(*, item_id: str, candidate: str, baseline: str | None) -> Iterator[None]:
    """One held-out item: the candidate's (and baseline's) chat calls and the judge's are its children."""
    attributes = {
        "gen_ai.operation.name": "invoke_workflow",
        "tuneloop.evaluation.item": item_id,
        "tuneloop.evaluation.candidate": candidate,
        **({"tuneloop.evaluation.baseline": baseline} if baseline else {}),
    }
    with _tracer.start_as_current_span("evaluate item", attributes=attributes):
        yield


def training_job_span(
    *,
    job_id: str,
    trainer: str,
    base_model: str,
    method: str,
    state: str,
    created_at: str,
    finished_at: str | None,
    fine_tuned_model: str | None,
    trained_tokens: int | None,
    error: str | None,
) -> None:
    """A finished job's whole life as one span, from its creation: exported once, when it ends (a job outlives
    restarts, so no span is held open while it runs)."""
    if not enabled():
        return
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "fine_tuning",
        "gen_ai.provider.name": trainer,
        "gen_ai.request.model": base_model,
        "tuneloop.job.id": job_id,
        "tuneloop.job.method": method,
        "tuneloop.job.state": state,
    }
    if fine_tuned_model:
        attributes["gen_ai.response.model"] = fine_tuned_model
    if trained_tokens is not None:
        attributes["gen_ai.usage.input_tokens"] = trained_tokens
    span = _tracer.start_span(
        f"fine_tuning {base_model}",
        start_time=_nanos(created_at),
        attributes=attributes,
        context=trace.set_span_in_context(trace.INVALID_SPAN),
    )
    if error:
        span.set_status(trace.Status(trace.StatusCode.ERROR, error))
    span.end(end_time=_nanos(finished_at) if finished_at else None)


@dataclass(frozen=True)
class Feedback:
    """A person's judgement of one answer, as a `gen_ai.evaluation.result`."""

    name: str  # "thumbs", "reason", "correction"
    score: float | None
    label: str | None
    explanation: str | None = None  # team text: exported only with content capture on


def record_feedback(ref: TraceRef, feedback: Feedback, *, model: str | None) -> None:
    """The event (a log record, what the conventions define) and a short span carrying the same attributes in the
    answer's trace, for the tools that ingest traces only (Langfuse)."""
    if not enabled():
        return
    attributes: dict[str, Any] = {"gen_ai.evaluation.name": feedback.name, "gen_ai.operation.name": "evaluation"}
    if feedback.score is not None:
        attributes["gen_ai.evaluation.score.value"] = feedback.score
    if feedback.label is not None:
        attributes["gen_ai.evaluation.score.label"] = feedback.label
    if feedback.explanation and captures_content():
        attributes["gen_ai.evaluation.explanation"] = feedback.explanation
    if model:
        attributes["gen_ai.response.model"] = model
    context = ref.context()
    with _tracer.start_as_current_span(f"{FEEDBACK_EVENT} {feedback.name}", context=context, attributes=attributes):
        _events.emit(event_name=FEEDBACK_EVENT, attributes=attributes, context=context)


def _nanos(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1e9)


def _as_semconv_messages(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"role": m.get("role"), "parts": [{"type": "text", "content": m.get("content")}]} for m in messages]
