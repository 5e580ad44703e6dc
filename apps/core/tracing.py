"""OpenTelemetry tracer provider for this process.

`tracing_configure()` runs once per process from CoreConfig.ready(), which
Django calls once in every process that sets it up: the web server, each
Celery worker (before it forks its children: the SDK's BatchSpanProcessor
restarts its export thread in a forked child), beat, and the consumer runner.
Code then asks for tracers the usual way, `trace.get_tracer(__name__)`.

The provider is always the SDK's, so spans get real trace and span ids even
when nothing exports them (`OTEL_EXPORTER=none`, the default); `console`
prints them, `otlp` ships them when opentelemetry-exporter-otlp is installed
(configured by the standard OTEL_EXPORTER_OTLP_* variables)."""

import logging
import os
import socket
import sys

from django.conf import settings
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

logger = logging.getLogger(__name__)

EXPORTERS = ("none", "console", "otlp")


def process_role(argv: list[str] | None = None) -> str:
    """What this process is, for the service name: web, worker, beat, consumers,
    or the management command it runs."""
    argv = argv if argv is not None else sys.argv
    program = os.path.basename(argv[0]) if argv else ""
    args = argv[1:]
    if program in ("daphne", "uvicorn", "gunicorn") or "runserver" in args:
        return "web"
    if program == "celery" or program.endswith("celery"):
        return "beat" if "beat" in args else "worker"
    if "run_consumers" in args:
        return "consumers"
    if program in ("pytest", "py.test"):
        return "test"
    if program == "manage.py" and args:
        return args[0]
    return "process"


def _exporter(name: str) -> SpanExporter | None:
    if name == "none":
        return None
    if name == "console":
        return ConsoleSpanExporter()
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        logger.warning("OTEL_EXPORTER=otlp but opentelemetry-exporter-otlp is not installed; spans are not exported")
        return None
    return OTLPSpanExporter()


def tracing_configure(
    *,
    exporter: str | None = None,
    service_name: str | None = None,
    span_exporter: SpanExporter | None = None,
    set_global: bool = True,
) -> TracerProvider:
    """Build this process's TracerProvider (resource: service name per process
    role, host, pid) with the exporter from settings.OTEL_EXPORTER, or
    `span_exporter` when given; installs it as the global provider unless
    `set_global` is false. OpenTelemetry accepts one global provider per
    process: a second install is ignored with a warning."""
    name = (exporter or settings.OTEL_EXPORTER).lower()
    if name not in EXPORTERS:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"OTEL_EXPORTER must be one of {', '.join(EXPORTERS)}, not {name!r}")
    role = process_role()
    resource = Resource.create(
        {
            "service.name": service_name or f"{settings.OTEL_SERVICE_NAME}-{role}",
            "service.namespace": settings.OTEL_SERVICE_NAME,
            "service.instance.id": f"{socket.gethostname()}:{os.getpid()}",
            "process.pid": os.getpid(),
        }
    )
    provider = TracerProvider(resource=resource)
    chosen = span_exporter or _exporter(name)
    if chosen is not None:
        provider.add_span_processor(BatchSpanProcessor(chosen))
    if set_global:
        trace.set_tracer_provider(provider)
    return provider
