"""bench/sources.py at a small size, so the script cannot rot: it makes its
own source database, client, entity, connection and job on the test
database's server, runs the job and the bare COPY pipe, checks the memory at
N and 5 x N rows, prints its table and drops all of it. No timing is
asserted: it is a benchmark."""

import re

import pytest
from django.db import connection

from apps.core.models import Client
from tests.test_bench_rollups import bench_run

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])


def leftovers() -> tuple[list[str], list[str], list[str]]:
    """Throwaway clients, tables of the bench's entity, source databases."""
    clients = list(Client.objects.filter(code__startswith="bench_").values_list("code", flat=True))
    with connection.cursor() as cursor:
        cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_name LIKE '%%feed_reading%%'")
        tables = [name for (name,) in cursor.fetchall()]
        cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE 'bench_src_%%'")
        databases = [name for (name,) in cursor.fetchall()]
    return clients, tables, databases


def test_the_sources_benchmark_runs_and_prints_its_table():
    before = leftovers()
    out = bench_run("bench/sources.py", "--rows", "2000", "--repeat", "1", "--batch-size", "500", "--memory-check")

    assert "Sources: 2,000 rows x 4 columns" in out, out
    assert re.search(r"^bare COPY TO STDOUT \| COPY FROM STDIN \(binary\)\s+[\d,]+\s+[\d.]+\s", out, re.M), out
    assert re.search(r"^ingestion job \(extract \+ map \+ validate \+ COPY\)\s+[\d,]+\s+[\d.]+\s", out, re.M), out
    assert re.search(r"^ratio ingestion job / bare COPY pipe: [\d.]+$", out, re.M), out
    checks = re.findall(r"^\s+(2,000|10,000)\s+[\d.]+\s+[\d.]+\s+(?:[\d.-]+|n/a)$", out, re.M)
    assert checks == ["2,000", "10,000"], out
    assert re.search(r"^peak memory at 10,000 / at 2,000 rows: [\d.]+$", out, re.M), out
    assert leftovers() == before  # the source database, client, entity, job and tables are gone
