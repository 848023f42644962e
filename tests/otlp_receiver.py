"""A loopback OTLP/HTTP receiver: decodes the protobuf the OpenTelemetry SDK's exporters send.

Built from the OTLP specification (opentelemetry-proto, "OTLP/HTTP": POST /v1/traces and /v1/logs with
`Content-Type: application/x-protobuf`, answered 200 with the Export*ServiceResponse message), using the
`opentelemetry-proto` package's own message classes, so what is decoded is exactly what a collector reads.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

PROTOBUF = "application/x-protobuf"


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, Any]


@dataclass(frozen=True)
class LogRecord:
    event_name: str
    trace_id: str
    span_id: str
    attributes: dict[str, Any]


@dataclass
class Receiver:
    port: int = 0
    spans: list[Span] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    requests: int = 0

    def named(self, prefix: str) -> list[Span]:
        return [span for span in self.spans if span.name.startswith(prefix)]


@asynccontextmanager
async def otlp_receiver(port: int = 0) -> AsyncIterator[Receiver]:
    received = Receiver()
    app = web.Application()

    async def traces(request: web.Request) -> web.Response:
        return await _traces(request, received)

    async def logs(request: web.Request) -> web.Response:
        return await _logs(request, received)

    app.router.add_post("/v1/traces", traces)
    app.router.add_post("/v1/logs", logs)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    received.port = site._server.sockets[0].getsockname()[1] if port == 0 else port  # type: ignore[union-attr]
    try:
        yield received
    finally:
        await runner.cleanup()


async def _body(request: web.Request, received: Receiver) -> bytes:
    received.requests += 1
    if request.content_type != PROTOBUF:
        raise web.HTTPUnsupportedMediaType(text=f"OTLP/HTTP here takes {PROTOBUF}")
    body = await request.read()
    return gzip.decompress(body) if request.headers.get("Content-Encoding") == "gzip" else body


async def _traces(request: web.Request, received: Receiver) -> web.Response:
    message = ExportTraceServiceRequest.FromString(await _body(request, received))
    for resource_spans in message.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            received.spans += [
                Span(
                    name=s.name,
                    trace_id=s.trace_id.hex(),
                    span_id=s.span_id.hex(),
                    parent_span_id=s.parent_span_id.hex(),
                    kind=s.kind,
                    attributes=_attributes(s.attributes),
                )
                for s in scope_spans.spans
            ]
    return web.Response(body=ExportTraceServiceResponse().SerializeToString(), content_type=PROTOBUF)


async def _logs(request: web.Request, received: Receiver) -> web.Response:
    message = ExportLogsServiceRequest.FromString(await _body(request, received))
    for resource_logs in message.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            received.logs += [
                LogRecord(
                    event_name=r.event_name,
                    trace_id=r.trace_id.hex(),
                    span_id=r.span_id.hex(),
                    attributes=_attributes(r.attributes),
                )
                for r in scope_logs.log_records
            ]
    return web.Response(body=ExportLogsServiceResponse().SerializeToString(), content_type=PROTOBUF)


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None
