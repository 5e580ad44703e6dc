"""GET /metrics shows the outbox backlog (events committed, not yet on the bus)."""

import socket

import pytest
from django.db import transaction

from apps.messaging.bus import bus_pools_reset, publish_on_commit

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "scrape-token-0123456789"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _gauges(client) -> dict[str, float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    return {
        name: float(value)
        for name, value in (line.split(" ", 1) for line in response.content.decode().splitlines())
        if name.startswith("ae_outbox_")
    }


def test_metrics_expose_the_outbox_backlog(client, settings, tmp_path):
    settings.METRICS_TOKEN = TOKEN
    settings.PROMETHEUS_MULTIPROC_DIR = tmp_path
    assert _gauges(client) == {"ae_outbox_pending_events": 0.0, "ae_outbox_oldest_pending_age_seconds": 0.0}

    settings.MESSAGING_REDIS_URL = f"redis://127.0.0.1:{_closed_port()}/0"  # the bus away at commit
    try:
        with transaction.atomic():
            publish_on_commit("orders.created", {"order": 1})
            publish_on_commit("orders.created", {"order": 2})
    finally:
        bus_pools_reset()
    gauges = _gauges(client)
    assert gauges["ae_outbox_pending_events"] == 2.0
    assert gauges["ae_outbox_oldest_pending_age_seconds"] >= 0.0
