"""Prometheus exposition for GET /metrics, merged across processes.

Every process that loads settings exports PROMETHEUS_MULTIPROC_DIR, so
prometheus_client writes each metric sample to a per-process file there
(counters and histograms from the Celery worker and its children, the consumer
runner, the web server). Here the files are merged: a counter reads as the sum
over processes. Gauges need a `multiprocess_mode` (e.g. "livesum") when they
are declared. The `process_*` and `python_info` series describe only the web
process answering the scrape: prometheus_client cannot collect them for other
processes in multiprocess mode."""

from django.conf import settings
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

__all__ = ["CONTENT_TYPE_LATEST", "metrics_render"]


def metrics_render() -> bytes:
    """The text exposition of every process's metrics plus this process's
    resource usage. A fresh registry per scrape: the merge rereads the files."""
    registry = CollectorRegistry(auto_describe=True)
    MultiProcessCollector(registry, path=str(settings.PROMETHEUS_MULTIPROC_DIR))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return generate_latest(registry)
