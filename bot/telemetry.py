"""OpenTelemetry export, configured by the standard OTEL_* variables and created only when asked for.

With OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) set, spans and feedback events go
over OTLP/HTTP (protobuf) to that endpoint; OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES and
OTEL_EXPORTER_OTLP_HEADERS are read by the SDK itself. Unset, nothing is created: no provider, no exporter,
no thread, and nothing is sent to the default OTLP port.

The logs signal, which carries `gen_ai.evaluation.result` events, is still experimental in OpenTelemetry
Python and lives in `opentelemetry._logs` / `opentelemetry.sdk._logs`, the modules its documentation tells
users to import; the versions are pinned in the lock.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

from tuning import telemetry

log = logging.getLogger(__name__)

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
CONTENT_VARIABLE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


@dataclass
class Telemetry:
    """What was installed, so that shutdown can flush it."""

    tracer_provider: object
    logger_provider: object

    def shutdown(self) -> None:
        telemetry.disable()
        for provider in (self.tracer_provider, self.logger_provider):
            provider.shutdown()  # type: ignore[attr-defined]


def wanted(environ: Mapping[str, str] = os.environ) -> bool:
    return (
        any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)
        and environ.get("OTEL_SDK_DISABLED", "").lower() != "true"
    )


def configure(environ: Mapping[str, str] = os.environ) -> Telemetry | None:
    """Install the SDK with OTLP/HTTP exporters when an endpoint is set; None (and nothing created) otherwise."""
    if not wanted(environ):
        return None
    # Imported here: a bot without an endpoint never loads the SDK.
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME") or "tuneloop"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
    capture = environ.get(CONTENT_VARIABLE, "").strip().lower() == "true"
    telemetry.enable(tracer_provider, logger_provider, capture_content=capture)
    log.info(
        "exporting traces over OTLP/HTTP (GenAI conventions %s; message content %s)",
        telemetry.SEMCONV_VERSION,
        "included" if capture else "left out",
    )
    return Telemetry(tracer_provider, logger_provider)
