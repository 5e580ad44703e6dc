"""bench/live.py at a tiny size, so the script cannot rot: it starts its own
worker, consumers and daphne on the test database and the test Redis, loads
a few rows, pushes a few events, fans one out to a few sockets, prints its
table and ratios, and drops what it made. No timing is asserted: it is a
benchmark."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from apps.core.models import Client
from apps.core.tests import servers

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])


def leftovers() -> tuple[list[str], list[str]]:
    """The benchmarks' throwaway clients, and tables named after the bench's entity."""
    clients = list(Client.objects.filter(code__startswith="bench_").values_list("code", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_name LIKE %s",
            [settings.ANALYTICS_SCHEMA, "%reading%"],
        )
        tables = [name for (name,) in cursor.fetchall()]
    return clients, tables


def test_the_live_benchmark_runs_and_prints_its_ratios():
    before = leftovers()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "analytics_engine.settings.test"}
    run = subprocess.run(
        [sys.executable, "bench/live.py", "--updates", "4", "--warmup", "1", "--clients", "3",
         "--database-url", servers.database_url_of_tests(), "--redis-url", settings.REDIS_URL],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=170,
    )  # fmt: skip
    out = run.stdout
    assert run.returncode == 0, out[-3000:] + run.stderr[-3000:]

    assert "Live KPIs: 4 updates of metric reading_total" in out, out
    paths = dict(re.findall(r"^(load committed -> WebSocket|bare group_send -> WebSocket).*?\s+(\d+)(?:\s+[\d.]+){3}$",
                            out, re.M))  # fmt: skip
    assert paths == {"load committed -> WebSocket": "4", "bare group_send -> WebSocket": "4"}, out
    assert re.search(r"^ratio full path / push alone: p50 [\d.]+x, p95 [\d.]+x$", out, re.M), out
    # Every socket of the fan-out got the update, by both paths.
    assert len(re.findall(r"-> every socket\s+received 3/3, first [\d.]+ ms, last [\d.]+ ms$", out, re.M)) == 2, out
    assert re.search(r"^ratio time to the last, full path / push alone: [\d.]+x$", out, re.M), out
    assert leftovers() == before  # the throwaway client, entity and metric are gone
