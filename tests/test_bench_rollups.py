"""bench/rollups.py and bench/approx.py at a small size, so the scripts cannot
rot: each runs end to end against the test database (its own client, data,
rollups and metrics), prints its table and drops what it made. No timing is
asserted: they are benchmarks."""

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

from apps.core.models import Client

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])


def bench_run(*arguments: str) -> str:
    parts = urlsplit(settings.DATABASE_URL)
    database_url = urlunsplit((parts.scheme, parts.netloc, "/" + settings.DATABASES["default"]["NAME"], "", ""))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "analytics_engine.settings.test",
        "DATABASE_URL": database_url,
        "TEST_REDIS_URL": settings.REDIS_URL,
    }
    run = subprocess.run([sys.executable, *arguments], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run.stdout


def leftovers() -> tuple[list[str], list[str]]:
    """The benchmarks' throwaway clients, and tables of their entities' names."""
    clients = list(Client.objects.filter(code__startswith="bench_").values_list("code", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "AND (table_name LIKE '%%reading%%' OR table_name LIKE '%%visit%%')",
            [settings.ANALYTICS_SCHEMA],
        )
        tables = [name for (name,) in cursor.fetchall()]
    return clients, tables


def test_the_rollup_benchmark_runs_and_prints_its_table():
    before = leftovers()
    out = bench_run("bench/rollups.py", "--series", "3", "--days", "40", "--repeat", "2", "--fast-repeat", "3")

    assert "over 172,800 rows (3 series x 40 days x 1 minute)" in out
    paths = {label.strip(): same for label, same in re.findall(r"^(.+?)(?:\s+[\d.]+){3}\s+(yes|NO)$", out, re.M)}
    assert paths == {
        "raw route (orchestrator, route=raw)": "yes",
        "router, per request (day rollup)": "yes",
        "router, compile + run (day rollup)": "yes",
        "the compiled SQL alone (plain cursor)": "yes",
        "hand-written SQL on the day rollup": "yes",
        "hand-written SQL on the raw rows": "yes",
    }, out  # every path gave the raw route's answer
    assert re.search(r"^  of which the compile \(Python only\)(\s+[\d.]+){3}$", out, re.M), out
    assert re.search(r"^router speedup over the raw route: [\d,]+x", out, re.M), out
    assert re.search(r"^router / hand-written SQL on the rollup: [\d.]+ per request, [\d.]+ compile \+ run", out, re.M)
    assert re.search(r"^day rollup \(series; sum, count\)\s+120\s", out, re.M), out  # 3 series x 40 days
    assert leftovers() == before  # the throwaway client, entity and rollups are gone


def test_the_approximate_benchmark_runs_and_prints_its_table():
    before = leftovers()
    out = bench_run("bench/approx.py", "--rows", "40000", "--users", "3000", "--days", "2", "--repeat", "2")

    assert "Approximate mode: 40,000 rows over 2 days" in out
    rows = re.findall(r"^(visitors|amount_p95)\s+(exact|approximate), (raw rows|hour rollup|day rollup)\s", out, re.M)
    assert len(rows) == 8 and len(set(rows)) == 8, out  # 2 metrics x (exact, approximate raw, 2 rollups)
    assert len(re.findall(r"^(COUNT_DISTINCT|PERCENTILE)\(.*: [\d.]+x faster than exact, error", out, re.M)) == 6
    assert re.search(r"^hour\s+\d[\d,]*\s+[\d.]+ M\s+[\d.]+", out, re.M), out
    assert leftovers() == before  # the throwaway client, entity and rollups are gone
