import logging

import pytest
from django.core.exceptions import ImproperlyConfigured
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from apps.core.tracing import process_role, tracing_configure


def test_every_process_gets_an_sdk_provider_at_startup(settings):
    # CoreConfig.ready() ran tracing_configure() for this (pytest) process.
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    assert provider.resource.attributes["service.name"] == f"{settings.OTEL_SERVICE_NAME}-test"
    with trace.get_tracer(__name__).start_as_current_span("probe") as span:
        assert span.get_span_context().trace_id != 0  # real ids even with nothing exported


def test_spans_reach_the_configured_exporter_with_the_process_resource(settings):
    exporter = InMemorySpanExporter()
    provider = tracing_configure(span_exporter=exporter, service_name="analytics-engine-worker", set_global=False)
    tracer = provider.get_tracer("apps.archival")
    with tracer.start_as_current_span("archive.chunk") as parent:
        parent.set_attribute("correlation_id", "corr-1")
        with tracer.start_as_current_span("archive.write"):
            pass
    provider.force_flush()

    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"archive.chunk", "archive.write"}
    assert spans["archive.write"].parent.span_id == spans["archive.chunk"].context.span_id
    assert spans["archive.chunk"].attributes["correlation_id"] == "corr-1"
    assert spans["archive.chunk"].resource.attributes["service.name"] == "analytics-engine-worker"
    assert spans["archive.chunk"].resource.attributes["service.namespace"] == settings.OTEL_SERVICE_NAME
    provider.shutdown()


def test_exporter_choice_comes_from_settings(settings, caplog):
    settings.OTEL_EXPORTER = "console"
    assert len(tracing_configure(set_global=False)._active_span_processor._span_processors) == 1
    settings.OTEL_EXPORTER = "none"
    assert len(tracing_configure(set_global=False)._active_span_processor._span_processors) == 0
    settings.OTEL_EXPORTER = "otlp"  # the OTLP exporter package is not installed here
    with caplog.at_level(logging.WARNING, logger="apps.core.tracing"):
        assert len(tracing_configure(set_global=False)._active_span_processor._span_processors) == 0
    assert "opentelemetry-exporter-otlp is not installed" in caplog.text
    settings.OTEL_EXPORTER = "jaeger"
    with pytest.raises(ImproperlyConfigured, match="OTEL_EXPORTER must be one of"):
        tracing_configure(set_global=False)


@pytest.mark.parametrize(
    ("argv", "role"),
    [
        (["/app/.venv/bin/daphne", "-b", "127.0.0.1", "analytics_engine.asgi:application"], "web"),
        (["manage.py", "runserver"], "web"),
        (["/app/.venv/bin/celery", "-A", "celery_app", "worker"], "worker"),
        (["/app/.venv/bin/celery", "-A", "celery_app", "beat"], "beat"),
        (["manage.py", "run_consumers"], "consumers"),
        (["manage.py", "migrate"], "migrate"),
    ],
)
def test_the_service_name_says_which_process_it_is(argv, role):
    assert process_role(argv) == role
