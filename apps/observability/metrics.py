"""Prometheus exposition for GET /metrics, merged across processes.

Every process that loads settings exports PROMETHEUS_MULTIPROC_DIR, so
prometheus_client writes each metric sample to a per-process file there
(counters and histograms from the Celery worker and its children, the consumer
runner, the web server). Here the files are merged: a counter reads as the sum
over processes. Gauges need a `multiprocess_mode` (e.g. "livesum") when they
are declared. The `process_*` and `python_info` series describe only the web
process answering the scrape: prometheus_client cannot collect them for other
processes in multiprocess mode."""

import logging

from django.conf import settings
from django.db import DatabaseError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from apps.messaging.selectors import outbox_status

__all__ = ["CONTENT_TYPE_LATEST", "metrics_render"]

logger = logging.getLogger(__name__)


class OutboxCollector:
    """The outbox backlog, read from the database at each scrape (a gauge
    no single process owns): events committed but not yet on the bus."""

    def collect(self):
        try:
            status = outbox_status()
        except DatabaseError as exc:  # the database check of /health says so; keep the rest of the scrape
            logger.warning("outbox metrics unavailable: %s", exc)
            return
        yield GaugeMetricFamily(
            "ae_outbox_pending_events", "Events committed but not yet relayed to the bus.", value=status.pending
        )
        yield GaugeMetricFamily(
            "ae_outbox_oldest_pending_age_seconds",
            "How long the oldest event not yet relayed has waited (0 when none).",
            value=status.oldest_pending_age_seconds or 0.0,
        )


def metrics_render() -> bytes:
    """The text exposition of every process's metrics plus this process's
    resource usage. A fresh registry per scrape: the merge rereads the files."""
    registry = CollectorRegistry(auto_describe=True)
    MultiProcessCollector(registry, path=str(settings.PROMETHEUS_MULTIPROC_DIR))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    registry.register(OutboxCollector())
    return generate_latest(registry)
