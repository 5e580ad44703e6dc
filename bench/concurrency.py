"""Single flight under load: identical concurrent cold requests through the
API against as many distinct ones, measured in the same run.

    .venv/bin/python bench/concurrency.py --rows 2000000 --requests 100

Creates a throwaway client, an analyst of it, a time-series entity `reading`
(observed_at timestamp, series string, value decimal) holding N rows over
four weeks, and a metric `reading_total` = SUM(value); starts --servers web
processes (daphne, as `make run` does) on free ports; warms each up with
one request; then fires, round-robin over the servers, all at once:

- identical: --requests cold GET /api/v1/metrics/reading_total with the same
  range, one cache key: the target is ONE database execution;
- distinct: as many cold requests whose `end` differs by a minute each, past
  the last row: the same rows read and the same answer, a cache key each.

Requests ask for `route=raw`, so every computation reads the raw rows even
if a worker has built rollups meanwhile.

Database executions are counted by the database itself: rows read from the
entity's chunks (pg_stat_all_tables: seq_tup_read + idx_tup_fetch), divided
by the rows one computation reads (measured on the warm-up requests). Each
row a statement reads is counted once, however many parallel workers share
the scan. pg_stat_statements would name the statement, but it needs
shared_preload_libraries, which the local services do not set; the
transaction counts of pg_stat_database also count every authentication and
catalog query of every request.

Each request holds up to two database connections (the default and the
read-only alias); the script refuses to start a burst the server's
max_connections cannot take beside its other sessions.

Then, on the same servers, ontology metadata: --metadata-requests GETs of
the client's use-case list (--metadata-definitions use cases, each linked
to the entity and the metric), --metadata-threads at a time, three ways:
cold (each a query string of its own: computed, then cached), cached (one
URL: replayed from Redis) and revalidated (one URL with its current
`If-None-Match`: 304, no body). Prints requests/s of each and the ratios.

Prints executions, wall time and latencies per case and the ratios, and
every distinct failed answer with its count ("3 x (distinct) HTTP 503:
..."), then stops the servers and drops everything it created (also on
failure). `--logs DIR` keeps the servers' logs, where the tracebacks of
failed requests are. Not a test: it prints numbers (docs/benchmarks.md).
"""

import argparse
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _bootstrap import die_with_parent, django_setup

django_setup()

import httpx  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, connections  # noqa: E402
from psycopg import sql  # noqa: E402
from rest_framework_simplejwt.tokens import AccessToken  # noqa: E402

from apps.calculations import cache  # noqa: E402
from apps.core.models import Client, Membership  # noqa: E402
from apps.ontology.models import AnalyticsUseCaseDefinition  # noqa: E402
from apps.ontology.services.data_load import entity_rows_load, max_load_rows  # noqa: E402
from apps.ontology.services.definitions import DefinitionInput, definition_create, definition_delete  # noqa: E402
from apps.ontology.services.entities import AttributeInput, EntityInput, entity_create, entity_delete  # noqa: E402
from apps.ontology.services.metrics import MetricInput, metric_create, metric_delete  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DAPHNE = Path(sys.executable).parent / "daphne"
METRIC = "reading_total"
START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 28
END = START + timedelta(days=DAYS)
CONNECTIONS_PER_REQUEST = 2  # the default alias and the read-only one
SPARE_CONNECTIONS = 10  # for the other sessions on the server


# --- data ------------------------------------------------------------------------


def rows_load(entity, count: int, series: int) -> None:
    """`count` rows over [START, END), `series` series, in loads of at most
    AE_MAX_LOAD_ROWS (one call per batch, as the API would take them)."""
    step = timedelta(seconds=DAYS * 86400 * series / max(count, 1))
    batch = min(max_load_rows(), 250_000)
    for first in range(0, count, batch):
        rows = [
            {
                "observed_at": (START + step * (i // series)).isoformat(),
                "series": f"sensor-{i % series:04d}",
                "value": (i % 9973) / 100,
            }
            for i in range(first, min(first + batch, count))
        ]
        result = entity_rows_load(entity=entity, rows=rows, source="bench")
        if result.inserted != len(rows):
            raise SystemExit(f"entity_rows_load inserted {result.inserted} of {len(rows)}: {result.rejected[:3]}")


def rows_read(table: str) -> int:
    """Rows statements have read from the hypertable's chunks so far."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT coalesce(sum(coalesce(s.seq_tup_read, 0) + coalesce(s.idx_tup_fetch, 0)), 0)
            FROM timescaledb_information.chunks c
            JOIN pg_stat_all_tables s ON s.schemaname = c.chunk_schema AND s.relname = c.chunk_name
            WHERE c.hypertable_schema = %s AND c.hypertable_name = %s
            """,
            [settings.ANALYTICS_SCHEMA, table],
        )
        return int(cursor.fetchone()[0])


def rows_read_settled(table: str, *, quiet: float = 1.5, limit: float = 60) -> int:
    """rows_read once it stops moving: backends report their statistics when
    they exit (the servers close their connections after each request) or,
    when idle, within a second or so."""
    deadline = time.monotonic() + limit
    last, since = rows_read(table), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = rows_read(table)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now
    return last


def connections_free() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('max_connections')::int"
            " - current_setting('superuser_reserved_connections')::int - count(*) FROM pg_stat_activity"
        )
        return int(cursor.fetchone()[0])


# --- servers and requests ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def servers_start(count: int, folder: Path, logs: Path) -> list[tuple[subprocess.Popen, str]]:
    """`count` daphne processes on free ports; their output goes to
    `logs`/web-<n>.log (tracebacks of failed requests land there)."""
    env = {
        **os.environ,
        "CONN_MAX_AGE": "0",  # connections close after each request, so their statistics arrive at once
        "DEBUG": "false",
        "API_RATE_CLIENT": "100000/minute",  # one user sends every request
        "API_RATE_USER": "100000/minute",
        "PROMETHEUS_MULTIPROC_DIR": str(folder / "prometheus"),
    }
    (folder / "prometheus").mkdir()
    servers = []
    for n in range(count):
        port = free_port()
        with (logs / f"web-{n}.log").open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 (a fixed command line)
                [str(DAPHNE), "-b", "127.0.0.1", "-p", str(port), "analytics_engine.asgi:application"],
                cwd=ROOT,
                env=env,
                preexec_fn=die_with_parent,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        servers.append((process, f"http://127.0.0.1:{port}"))
    deadline = time.monotonic() + 60
    for n, (process, url) in enumerate(servers):
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"web server {n} did not start:\n{(logs / f'web-{n}.log').read_text()[-3000:]}")
            try:
                httpx.get(f"{url}/health", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.2)
    return servers


def servers_stop(servers: list[tuple[subprocess.Popen, str]]) -> None:
    for process, _ in servers:
        process.terminate()
    for process, _ in servers:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def params(end: datetime) -> dict:
    return {"start": START.isoformat(), "end": end.isoformat(), "granularity": "day", "route": "raw"}


def burst(urls: list[str], ends: list[datetime], token: str) -> dict:
    """One request per `ends` item, all released at once, round-robin over
    the servers. Wall time runs from the release to the last response."""
    count = len(ends)
    barrier = threading.Barrier(count + 1)
    outcomes: list = [None] * count
    headers = {"Authorization": f"Bearer {token}"}

    def one(i: int) -> None:
        with httpx.Client(base_url=urls[i % len(urls)], headers=headers, timeout=600) as client:
            barrier.wait()
            started = time.perf_counter()
            try:
                response = client.get(f"/api/v1/metrics/{METRIC}", params=params(ends[i]))
                outcomes[i] = (time.perf_counter() - started, response.status_code, response)
            except httpx.HTTPError as exc:
                outcomes[i] = (time.perf_counter() - started, 0, exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    barrier.wait()
    released = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - released
    latencies = sorted(o[0] for o in outcomes)
    failed = [o for o in outcomes if o[1] != 200]
    series = {repr(o[2].json()["series"]) for o in outcomes if o[1] == 200}
    return {
        "requests": count,
        "wall": wall,
        "p50": statistics.median(latencies),
        "p95": latencies[min(count - 1, round(0.95 * (count - 1)))],
        "max": latencies[-1],
        "errors": len(failed),
        "first_error": failed[0][2] if failed else None,
        "failures": Counter(error_text(o[2]) for o in failed),
        "statuses": Counter(o[1] for o in outcomes),
        "answers": series,
    }


def measured(table: str, run) -> tuple[dict, int]:
    before = rows_read_settled(table)
    outcome = run()
    return outcome, rows_read_settled(table) - before


# --- metadata answers: ETag and cache (docs/api.md, "Caching of metadata") ----------

METADATA_PATH = "/api/v1/ontology/use-cases/"


def use_cases_create(client_id: int, count: int) -> None:
    for n in range(count):
        definition_create(
            model=AnalyticsUseCaseDefinition,
            client_id=client_id,
            data=DefinitionInput(
                code=f"use_case_{n:04d}",
                name=f"Use case {n}",
                description="Which readings ran high, by series and day. " * 3,
                links={"entities": ["reading"], "metrics": [METRIC]},
            ),
        )


def metadata_rate(urls: list[str], token: str, paths: list[str], threads: int, etag: str = "") -> dict:
    """GETs of `paths`, `threads` at a time (each thread keeps its own
    connections), round-robin over the servers: requests/s, statuses, X-Cache."""
    headers = {"Authorization": f"Bearer {token}", **({"If-None-Match": etag} if etag else {})}
    outcomes: list = []
    lock = threading.Lock()
    pending = iter(range(len(paths)))

    def worker() -> None:
        clients = [httpx.Client(base_url=url, headers=headers, timeout=60) for url in urls]
        try:
            while True:
                with lock:
                    i = next(pending, None)
                if i is None:
                    return
                response = clients[i % len(clients)].get(paths[i])
                with lock:
                    outcomes.append((response.status_code, response.headers.get("X-Cache", "-")))
        finally:
            for client in clients:
                client.close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    wall = time.perf_counter() - started
    return {"rate": len(paths) / wall, "answers": Counter(outcomes)}


def metadata_report(urls: list[str], token: str, args) -> None:
    count, threads = args.metadata_requests, args.metadata_threads
    cold = metadata_rate(urls, token, [f"{METADATA_PATH}?bench={uuid.uuid4().hex}" for _ in range(count)], threads)
    # Cached from here on: once per server, as the key holds the host (the
    # answer's links do); the ETag (of the body) for the 304 case.
    auth = {"Authorization": f"Bearer {token}"}
    etags = [httpx.get(url + METADATA_PATH, headers=auth).headers["ETag"] for url in urls]
    etag = etags[0]
    cached = metadata_rate(urls, token, [METADATA_PATH] * count, threads)
    revalidated = metadata_rate(urls, token, [METADATA_PATH] * count, threads, etag=etag)
    print()
    print(
        f"Metadata: GET {METADATA_PATH} ({args.metadata_definitions} use cases, page of 50), "
        f"{count} requests per case, {threads} at a time"
    )
    print(f"{'case':<28}{'requests/s':>11}   answers (status, X-Cache)")
    cases = (("cold (cache miss)", cold), ("cached (X-Cache hit)", cached), ("revalidated (304)", revalidated))
    for label, case in cases:
        answers = ", ".join(f"{n} x {status} {x_cache}" for (status, x_cache), n in sorted(case["answers"].items()))
        print(f"{label:<28}{case['rate']:>11.1f}   {answers}")
    print(
        f"metadata requests/s, cached / cold: {cached['rate'] / cold['rate']:.2f}, "
        f"revalidated / cold: {revalidated['rate'] / cold['rate']:.2f}"
    )


# --- the run ---------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--series", type=int, default=100, help="distinct series ids")
    parser.add_argument("--requests", type=int, default=100, help="concurrent requests per case")
    parser.add_argument("--servers", type=int, default=2, help="web server processes")
    parser.add_argument("--metadata-requests", type=int, default=300, help="metadata GETs per case; 0 skips them")
    parser.add_argument("--metadata-definitions", type=int, default=50, help="use cases in the metadata list")
    parser.add_argument("--metadata-threads", type=int, default=4, help="metadata GETs at a time")
    parser.add_argument(
        "--logs",
        type=Path,
        help="keep the web servers' logs (tracebacks of failed requests) in this folder; default: dropped",
    )
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request

    needed = CONNECTIONS_PER_REQUEST * (args.requests + args.servers) + SPARE_CONNECTIONS
    free = connections_free()
    if free < needed:
        raise SystemExit(
            f"{args.requests} concurrent requests may hold {needed - SPARE_CONNECTIONS} database connections; "
            f"the server has {free} free (max_connections less the sessions open now). Use fewer --requests "
            "or raise max_connections."
        )

    code = f"bench_{uuid.uuid4().hex[:10]}"
    client = Client.objects.create(code=code, name="Concurrency benchmark (throwaway)")
    user = get_user_model().objects.create_user(username=code, password=uuid.uuid4().hex)
    Membership.objects.create(user=user, client=client, role=Membership.Role.ANALYST, is_default=True)
    entity = metric = None
    servers: list = []
    try:
        entity = entity_create(
            client_id=client.id,
            data=EntityInput(
                code="reading",
                name="Reading",
                kind="time_series",
                time_attribute="observed_at",
                attributes=[
                    AttributeInput("observed_at", "timestamp", nullable=False),
                    AttributeInput("series", "string", nullable=False),
                    AttributeInput("value", "decimal"),
                ],
            ),
        )
        print(f"Loading {args.rows:,} rows...", flush=True)
        rows_load(entity, args.rows, args.series)
        with connection.cursor() as cursor:  # planner statistics now, not from autovacuum during a burst
            cursor.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(settings.ANALYTICS_SCHEMA, entity.table_name)))
        metric = metric_create(
            client_id=client.id,
            data=MetricInput(code=METRIC, name="Reading total", formula="SUM(value)", entity="reading"),
        )
        if args.metadata_requests:
            use_cases_create(client.id, args.metadata_definitions)
        connections.close_all()

        with tempfile.TemporaryDirectory(prefix="ae-bench-concurrency-") as folder:
            logs = args.logs or Path(folder)
            logs.mkdir(parents=True, exist_ok=True)
            print(f"Starting {args.servers} web server(s)...", flush=True)
            servers = servers_start(args.servers, Path(folder), logs)
            urls = [url for _, url in servers]
            token = str(AccessToken.for_user(user))
            minute = timedelta(minutes=1)

            # Warm-up: one cold request per server (imports, first connections),
            # each a cache key of its own: they also tell what one computation reads.
            warm_ends = [END + minute * (args.requests + 1 + n) for n in range(args.servers)]
            warm, warm_read = measured(entity.table_name, lambda: burst_serial(urls, warm_ends, token))
            per_execution = warm_read / args.servers
            if warm["errors"] or not per_execution:
                raise SystemExit(f"the warm-up failed: {warm['first_error']!r}, {warm_read} rows read")

            print(f"{args.requests} identical requests...", flush=True)
            same, same_read = measured(entity.table_name, lambda: burst(urls, [END] * args.requests, token))
            print(f"{args.requests} distinct requests...", flush=True)
            ends = [END + minute * (i + 1) for i in range(args.requests)]
            distinct, distinct_read = measured(entity.table_name, lambda: burst(urls, ends, token))
            for name, case in (("identical", same), ("distinct", distinct)):
                for text, count in case["failures"].most_common():
                    print(f"{count} x ({name}) {text}")
            answers = same["answers"] | distinct["answers"] | warm["answers"]
            report(
                args,
                warm=warm,
                per_execution=per_execution,
                same=same,
                same_executions=same_read / per_execution,
                distinct=distinct,
                distinct_executions=distinct_read / per_execution,
                agree=len(answers) == 1,
            )
            if args.metadata_requests:
                metadata_report(urls, token, args)
            servers_stop(servers)
            servers = []
    finally:
        servers_stop(servers)
        redis = cache.cache_connection()
        for pattern in (f"{cache.PREFIX}:{part}{client.id}:*" for part in ("", "gen:", "idx:")):
            keys = list(redis.scan_iter(match=pattern, count=1000))
            if keys:
                redis.delete(*keys)
        for use_case in AnalyticsUseCaseDefinition.objects.filter(client=client):
            definition_delete(obj=use_case)
        if metric is not None:
            metric_delete(metric=metric)
        if entity is not None:
            entity_delete(entity=entity, drop_data=True)
        client.delete()
        user.delete()


def burst_serial(urls: list[str], ends: list[datetime], token: str) -> dict:
    """One request after another (the warm-up)."""
    outcomes = [burst([urls[n % len(urls)]], [end], token) for n, end in enumerate(ends)]
    return {
        "requests": len(ends),
        "wall": sum(o["wall"] for o in outcomes),
        "errors": sum(o["errors"] for o in outcomes),
        "first_error": next((o["first_error"] for o in outcomes if o["errors"]), None),
        "answers": set().union(*(o["answers"] for o in outcomes)),
    }


def error_text(error) -> str:
    if isinstance(error, httpx.Response):
        return f"HTTP {error.status_code}: {error.text[:500]}"
    return repr(error)


def report(args, *, warm, per_execution, same, same_executions, distinct, distinct_executions, agree) -> None:
    print()
    print(
        f"Single flight: {args.requests} concurrent cold GET /api/v1/metrics/{METRIC} (SUM by day over "
        f"{args.rows:,} rows),"
    )
    print(
        f"{args.servers} web server process(es), PostgreSQL {connection.pg_version // 10000}, "
        f"Python {sys.version.split()[0]}"
    )
    print(
        f"one computation reads {per_execution:,.0f} rows; a cold request alone took "
        f"{warm['wall'] / warm['requests']:.2f} s (warm-up mean)"
    )
    print()
    print(f"{'case':<28}{'requests':>9}{'errors':>8}{'db executions':>15}{'wall s':>9}{'p50 s':>8}{'p95 s':>8}")
    print("-" * 85)
    for label, case, executions in (
        ("identical (1 cache key)", same, same_executions),
        (f"distinct ({args.requests} cache keys)", distinct, distinct_executions),
    ):
        print(
            f"{label:<28}{case['requests']:>9}{case['errors']:>8}{executions:>15.2f}"
            f"{case['wall']:>9.2f}{case['p50']:>8.2f}{case['p95']:>8.2f}"
        )
    print("-" * 85)
    print(f"db executions, identical: {same_executions:.2f} (target 1)")
    print(
        f"ratio identical / distinct: db executions {same_executions / max(distinct_executions, 1e-9):.2f}, "
        f"wall time {same['wall'] / distinct['wall']:.2f}"
    )
    print(f"every request got the same series: {'yes' if agree else 'NO'}")


if __name__ == "__main__":
    main()
