"""Rollups: a monthly KPI by dimension through the router, against the raw
rows and against hand-written SQL on the rollup.

    .venv/bin/python bench/rollups.py                  # 20 series x 365 days x 1 minute = 10,512,000 rows

Creates a throwaway client and a time-series entity `reading`
(`observed_at` timestamp, `series` string, `value` decimal) through the
services, fills its hypertable server-side (`INSERT ... SELECT` over
`generate_series`: one row per series and minute), creates an hour and a
day rollup of it (`rollup_create`: dimension `series`, states sum and count
of `value`) and refreshes them (`rollup_refresh`), timing each refresh and
measuring each table.

The KPI is `AVG(value)` by series, by month, over the whole range, computed
(after a warm-up run of each path, in rounds that run each path once in
turn: `--repeat` rounds of the two raw scans, `--fast-repeat` of the rest;
medians are reported):

- **raw route**: the orchestrator with `route="raw"`, the way `?route=raw`
  asks for it: the compiled statement scans the hypertable;
- **router, per request**: a fresh orchestrator per run, as an API request
  makes one (the routing version read from Redis, the catalog and rollups
  this process keeps under it reused or read, the compiled statement reused
  or compiled, the statement run): the router picks the day rollup;
- **router, compile + run**: one orchestrator reused (catalog and rollups
  read once), so what is left is the compile and the statement; two lines
  under it split that: the compile alone (Python, no database) and the
  compiled statement alone on a plain cursor (no transaction, statement
  timeout or result objects);
- **hand-written SQL on the rollup**: `time_bucket('1 month', bucket)`,
  `sum(m0_sum) / sum(m0_count)` grouped by month and series, on the same
  read-only connection the engine uses: the floor for this answer;
- **hand-written SQL on the raw rows**: `avg(value)` grouped the same way,
  for reference.

The metric is defined with `metric_create`, with automatic rollups off for
the script (`AE_ROLLUPS_AUTO=false`: a Celery worker running meanwhile would
otherwise add rollups of its own to the entity).
The result cache is bypassed (`use_cache=False`) and nothing is written to
`metric_history`. Every path's answer is checked against the raw route's.
Prints the table and the ratios (targets: router >= 50x faster than the raw
route, <= 1.3x the hand-written SQL per request), then drops everything it
created. Not a test: it prints numbers (docs/benchmarks.md).
"""

import argparse
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from _bootstrap import django_setup

# The bench's own rollups only: defining its metric must not queue automatic ones.
django_setup(AE_ROLLUPS_AUTO="false")

from django.conf import settings  # noqa: E402
from django.db import connection, connections  # noqa: E402
from psycopg import sql  # noqa: E402

from apps.calculations.models import Rollup  # noqa: E402
from apps.calculations.orchestrator import CalculationOrchestrator  # noqa: E402
from apps.calculations.rollups.services import RollupPolicy, rollup_create, rollup_delete, rollup_refresh  # noqa: E402
from apps.calculations.types import AccessContext, Granularity, MetricQuery  # noqa: E402
from apps.core.models import Client  # noqa: E402
from apps.ontology.services.entities import AttributeInput, EntityInput, entity_create, entity_delete  # noqa: E402
from apps.ontology.services.metrics import MetricInput, metric_create, metric_delete  # noqa: E402

SCHEMA = settings.ANALYTICS_SCHEMA
START = datetime(2025, 1, 1, tzinfo=UTC)
METRIC = MetricInput(code="reading_mean", name="Mean reading", formula="AVG(value)", entity="reading")
READ_ALIAS = "readonly"


def table_fill(table: str, series: int, days: int) -> int:
    """One row per series and minute over `days` days, values spread
    deterministically over 0.00-99.99 (a different pattern per series)."""
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "INSERT INTO {} (observed_at, series, value) "
                "SELECT %(start)s + m * interval '1 minute', 'series-' || lpad(s::text, 2, '0'), "
                "((m * 37 + s * 101) %% 10000) / 100.0 "
                "FROM generate_series(0, %(minutes)s - 1) AS m, generate_series(0, %(series)s - 1) AS s"
            ).format(sql.Identifier(SCHEMA, table)),
            {"start": START, "minutes": days * 1440, "series": series},
        )
        inserted = cursor.rowcount
        cursor.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(SCHEMA, table)))
    return inserted


def table_size(table: str) -> tuple[int, int]:
    """(rows, bytes including indexes and TOAST) of a hypertable."""
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(SCHEMA, table)))
        rows = cursor.fetchone()[0]
        cursor.execute("SELECT hypertable_size(%s::regclass)", [f"{SCHEMA}.{table}"])
        size = cursor.fetchone()[0] or 0
    return rows, size


def rounds(paths: list[tuple[str, Callable[[], object]]], repeat: int) -> tuple[dict, dict]:
    """A warm-up run of each path, then `repeat` rounds running each path
    once in turn, so load from elsewhere on the machine falls on all of them
    alike. Returns the times and the (warm-up) answer of each path."""
    answers = {key: run() for key, run in paths}
    times: dict[str, list[float]] = {key: [] for key, _ in paths}
    for _ in range(repeat):
        for key, run in paths:
            started = time.perf_counter()
            run()
            times[key].append(time.perf_counter() - started)
    return times, answers


def sql_rows(statement: sql.Composable | str, params: dict) -> list[tuple]:
    with connections[READ_ALIAS].cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


def as_answer(rows) -> dict:
    """{(month, series): value} from result rows or a MetricResult."""
    if hasattr(rows, "series"):
        return {(p.bucket, p.dims["series"]): p.value for p in rows.series}
    return {(bucket.astimezone(UTC), series): float(value) for bucket, series, value in rows}


def agree(answer: dict, truth: dict) -> bool:
    return answer.keys() == truth.keys() and all(
        abs(answer[key] - value) <= 1e-9 * max(1.0, abs(value)) for key, value in truth.items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=20)
    parser.add_argument("--days", type=int, default=365, help="days of 1-minute rows from 2025-01-01")
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds of the raw scans; medians are reported")
    parser.add_argument("--fast-repeat", type=int, default=50, help="timed rounds of the rollup paths")
    args = parser.parse_args()
    settings.AE_CALC_STATEMENT_TIMEOUT_MS = 600_000  # the raw scans are the point here, not the API's limit
    # The read side's sessions start with the calculation timeout (settings/base.py): this one.
    options = connections[READ_ALIAS].settings_dict.setdefault("OPTIONS", {})
    options["options"] = f"-c statement_timeout={settings.AE_CALC_STATEMENT_TIMEOUT_MS}"
    connections[READ_ALIAS].close()
    end = START + timedelta(days=args.days)

    client = Client.objects.create(code=f"bench_{uuid.uuid4().hex[:10]}", name="Rollup benchmark (throwaway)")
    entity = metric = None
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
        print(f"Filling {args.series} series x {args.days} days x 1 minute...", flush=True)
        started = time.perf_counter()
        rows = table_fill(entity.table_name, args.series, args.days)
        print(f"  {rows:,} rows in {time.perf_counter() - started:.1f} s", flush=True)
        raw_size = table_size(entity.table_name)[1]

        rollups = {}
        for grain in ("hour", "day"):
            rollup = rollup_create(
                client_id=client.id,
                entity="reading",
                grain=grain,
                dimensions=["series"],
                measures=[{"attribute": "value", "states": ["sum", "count"]}],
                policy=RollupPolicy(end_offset=timedelta(0)),
            )
            print(f"Refreshing the {grain} rollup...", flush=True)
            started = time.perf_counter()
            rollup_refresh(rollup=rollup, now=end)
            rollups[grain] = (time.perf_counter() - started, *table_size(rollup.table_name), rollup.table_name)
        day_table = rollups["day"][3]

        metric = metric_create(client_id=client.id, data=METRIC)
        context = AccessContext(client.id)
        query = MetricQuery(
            metric=METRIC.code, start=START, end=end, granularity=Granularity.MONTH, group_by=("series",)
        )
        reused = CalculationOrchestrator(context=context)
        compiled = reused.compile(query)
        if compiled.route != "rollup" or compiled.routes[0]["rollup"] != day_table:
            raise SystemExit(f"the router did not pick the day rollup: {compiled.routes}")

        def per_request():
            return CalculationOrchestrator(context=context).calculate(query, use_cache=False, persist=False)

        params = {"start": START, "end": end}
        by_month = sql.SQL("time_bucket('1 month', {}) AS month, {} AS series")
        on_rollup = sql.SQL(
            "SELECT {}, sum(m0_sum) / nullif(sum(m0_count), 0) FROM {} "
            "WHERE bucket >= %(start)s AND bucket < %(end)s GROUP BY 1, 2 ORDER BY 1, 2"
        ).format(by_month.format(sql.Identifier("bucket"), sql.Identifier("dim_0")), sql.Identifier(SCHEMA, day_table))
        on_raw = sql.SQL(
            "SELECT {}, avg(value) FROM {} WHERE observed_at >= %(start)s AND observed_at < %(end)s "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        ).format(
            by_month.format(sql.Identifier("observed_at"), sql.Identifier("series")),
            sql.Identifier(SCHEMA, entity.table_name),
        )
        slow = [
            ("raw", lambda: reused.calculate(replace(query, route="raw"), use_cache=False, persist=False)),
            ("hand_raw", lambda: sql_rows(on_raw, params)),
        ]
        fast = [
            ("router", per_request),
            ("compiled", lambda: reused.calculate(query, use_cache=False, persist=False)),
            ("compile", lambda: reused.compile(query)),
            ("statement", lambda: sql_rows(compiled.sql, compiled.params)),
            ("hand", lambda: sql_rows(on_rollup, params)),
        ]
        print(f"Timing the raw scans ({args.repeat} rounds)...", flush=True)
        timings, answers = rounds(slow, args.repeat)
        print(f"Timing the rollup paths ({args.fast_repeat} rounds)...", flush=True)
        fast_timings, fast_answers = rounds(fast, args.fast_repeat)
        timings.update(fast_timings)
        answers.update(fast_answers)
        truth = as_answer(answers["raw"])
        agreed = {key: agree(as_answer(answer), truth) for key, answer in answers.items() if key != "compile"}
        report(args, rows, raw_size, rollups, timings, agreed)
    finally:
        if metric is not None:
            metric_delete(metric=metric)
        for rollup in Rollup.objects.filter(client_id=client.id):
            rollup_delete(rollup=rollup)
        if entity is not None:
            entity_delete(entity=entity, drop_data=True)
        client.delete()


LABELS = {
    "raw": "raw route (orchestrator, route=raw)",
    "router": "router, per request (day rollup)",
    "compiled": "router, compile + run (day rollup)",
    "compile": "  of which the compile (Python only)",
    "statement": "  the compiled SQL alone (plain cursor)",
    "hand": "hand-written SQL on the day rollup",
    "hand_raw": "hand-written SQL on the raw rows",
}


def report(args, rows, raw_size, rollups, timings, agreed) -> None:
    median = {key: statistics.median(times) for key, times in timings.items()}
    print()
    print(
        f"Rollups: AVG(value) by series by month over {rows:,} rows ({args.series} series x {args.days} days "
        f"x 1 minute),"
    )
    print(
        f"median of {args.repeat} rounds (raw scans) and {args.fast_repeat} rounds (rollup paths) after a warm-up, "
        f"PostgreSQL {connection.pg_version // 10000}"
    )
    print()
    print(f"{'path':<42}{'median ms':>11}{'min ms':>10}{'max ms':>10}{'same answer':>13}")
    print("-" * 86)
    for key, label in LABELS.items():
        times = timings[key]
        same = {True: "yes", False: "NO", None: ""}[agreed.get(key)]
        line = f"{label:<42}{median[key] * 1000:>11.1f}{min(times) * 1000:>10.1f}{max(times) * 1000:>10.1f}{same:>13}"
        print(line.rstrip())
    print("-" * 86)
    print(f"router speedup over the raw route: {median['raw'] / median['router']:,.0f}x (target >= 50x)")
    print(
        f"router / hand-written SQL on the rollup: {median['router'] / median['hand']:.2f} per request, "
        f"{median['compiled'] / median['hand']:.2f} compile + run (target <= 1.3 per request)"
    )
    print(
        f"the router's SQL alone / hand-written SQL: {median['statement'] / median['hand']:.2f}; "
        f"the rest is Python: compile {median['compile'] * 1000:.1f} ms, runner and result "
        f"{(median['compiled'] - median['compile'] - median['statement']) * 1000:.1f} ms, routing metadata "
        f"(version check, catalog and rollup specs) per request {(median['router'] - median['compiled']) * 1000:.1f} ms"
    )
    print(f"hand-written SQL: rollup {median['hand_raw'] / median['hand']:,.0f}x faster than the raw rows")
    print()
    print(f"{'table':<40}{'rows':>12}{'size':>12}{'refresh s':>12}")
    print(f"{'raw hypertable':<40}{rows:>12,}{raw_size / 2**20:>10.1f} M")
    for grain, (seconds, count, size, _) in rollups.items():
        print(f"{grain + ' rollup (series; sum, count)':<40}{count:>12,}{size / 2**20:>10.1f} M{seconds:>12.1f}")


if __name__ == "__main__":
    main()
