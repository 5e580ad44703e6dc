"""Approximate mode: COUNT_DISTINCT and a p95 exact against hll and t-digest,
from the raw rows and from rollups.

    .venv/bin/python bench/approx.py                    # 10,000,000 rows, ~1 M distinct users, 31 days

Creates a throwaway client and a time-series entity `visit` (`visited_at`
timestamp, `user_id` string, `region` string, `amount` decimal) through the
services and fills its hypertable server-side (`INSERT ... SELECT` over
`generate_series`): rows evenly spread over `--days` days from 2025-01-01,
`user_id` drawn uniformly (a hash of the row number) from `--users` ids, so
about that many distinct ones, 8 regions, `amount` exponential with mean 40
(rounded to cents), so its p95 is about 120.

Two metrics, defined in memory (added to the client's catalog; see
bench/rollups.py for why not `metric_create`): `COUNT_DISTINCT(user_id)` and
`PERCENTILE(amount, 0.95)`, each asked for the whole range as one monthly
bucket (median of `--repeat` runs each, after a warm-up run; result cache
bypassed):

- **exact, raw rows**: `COUNT(DISTINCT ...)` / `percentile_cont`: the truth;
- **approximate, raw rows**: `mode=approximate, route=raw`: `hll_add_agg`
  and `tdigest` over every row;
- **approximate, <grain> rollup**: for each grain of `--grains`, a rollup
  with dimension `region` and the states `hll` (user_id) and `tdigest`
  (amount) is created and refreshed (timed, sized), and the router answers
  from it alone (`hll_union_agg`, t-digest merge), then the rollup is
  dropped before the next grain's.

Prints seconds, values, relative errors against the exact answers and
speedups (targets: hll error <= 2.5%, t-digest p95 error <= 1%), then drops
everything it created. Not a test: it prints numbers (docs/benchmarks.md).
"""

import argparse
import statistics
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from _bootstrap import django_setup

django_setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from psycopg import sql  # noqa: E402

from apps.calculations.models import Rollup  # noqa: E402
from apps.calculations.orchestrator import CalculationOrchestrator  # noqa: E402
from apps.calculations.rollup_spec import TDIGEST_COMPRESSION  # noqa: E402
from apps.calculations.rollups.services import RollupPolicy, rollup_create, rollup_delete, rollup_refresh  # noqa: E402
from apps.calculations.types import AccessContext, Granularity, MetricQuery  # noqa: E402
from apps.core.models import Client  # noqa: E402
from apps.ontology.catalog import Catalog, MetricSpec, catalog_load  # noqa: E402
from apps.ontology.services.entities import AttributeInput, EntityInput, entity_create, entity_delete  # noqa: E402

SCHEMA = settings.ANALYTICS_SCHEMA
START = datetime(2025, 1, 1, tzinfo=UTC)
METRICS = {
    "visitors": ("COUNT_DISTINCT(user_id)", "hll", 0.025),
    "amount_p95": ("PERCENTILE(amount, 0.95)", "t-digest", 0.01),
}


def table_fill(table: str, rows: int, days: int, users: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "INSERT INTO {} (visited_at, user_id, region, amount) "
                "SELECT %(start)s + i * %(step)s, 'u' || ((hashint8(i) & 2147483647) %% %(users)s), 'r' || (i %% 8), "
                "round((-ln(1 - (hashint8(i + %(rows)s) & 2147483647) / 2147483648.0) * 40)::numeric, 2) "
                "FROM generate_series(0::bigint, %(rows)s - 1) AS i"
            ).format(sql.Identifier(SCHEMA, table)),
            {"start": START, "step": timedelta(days=days) / rows, "users": users, "rows": rows},
        )
        inserted = cursor.rowcount
        cursor.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(SCHEMA, table)))
    return inserted


def table_size(table: str) -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(SCHEMA, table)))
        rows = cursor.fetchone()[0]
        cursor.execute("SELECT hypertable_size(%s::regclass)", [f"{SCHEMA}.{table}"])
        size = cursor.fetchone()[0] or 0
    return rows, size


def measure(orchestrator: CalculationOrchestrator, query: MetricQuery, repeat: int) -> tuple[list[float], float, str]:
    """(timed runs, the single value, the route): one warm-up run first."""
    result = orchestrator.calculate(query, use_cache=False, persist=False)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = orchestrator.calculate(query, use_cache=False, persist=False)
        times.append(time.perf_counter() - started)
    (point,) = result.series
    return times, point.value, result.route


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=1_000_000, help="user ids drawn from (about that many distinct)")
    parser.add_argument("--days", type=int, default=31, help="days from 2025-01-01 (at most 31: one monthly bucket)")
    parser.add_argument("--grains", default="hour,day", help="rollup grains to answer from, one at a time")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per path; the median is reported")
    args = parser.parse_args()
    if not 1 <= args.days <= 31:
        parser.error("--days must be 1-31 (the range is one monthly bucket)")
    settings.AE_CALC_STATEMENT_TIMEOUT_MS = 600_000  # exact answers over 10 M rows are the baseline here
    end = START + timedelta(days=args.days)

    client = Client.objects.create(code=f"bench_{uuid.uuid4().hex[:10]}", name="Approximate benchmark (throwaway)")
    entity = None
    try:
        entity = entity_create(
            client_id=client.id,
            data=EntityInput(
                code="visit",
                name="Visit",
                kind="time_series",
                time_attribute="visited_at",
                attributes=[
                    AttributeInput("visited_at", "timestamp", nullable=False),
                    AttributeInput("user_id", "string", nullable=False),
                    AttributeInput("region", "string"),
                    AttributeInput("amount", "decimal"),
                ],
            ),
        )
        print(f"Filling {args.rows:,} rows over {args.days} days...", flush=True)
        started = time.perf_counter()
        rows = table_fill(entity.table_name, args.rows, args.days, args.users)
        print(f"  {rows:,} rows in {time.perf_counter() - started:.1f} s", flush=True)

        loaded = catalog_load(client_id=client.id)
        specs = {
            code: MetricSpec(code, code, formula, "visit", "", "", "exact", "bench")
            for code, (formula, _, _) in METRICS.items()
        }
        catalog = Catalog(loaded.client_id, loaded.entities, loaded.relationships, specs)
        context = AccessContext(client.id)
        results: dict[str, list[tuple]] = {code: [] for code in METRICS}  # (path, times, value, route)

        def month(code: str) -> MetricQuery:
            return MetricQuery(metric=code, start=START, end=end, granularity=Granularity.MONTH, mode="approximate")

        for code in METRICS:
            query = month(code)
            orchestrator = CalculationOrchestrator(context=context, catalog=catalog)
            for label, variant in (
                ("exact, raw rows", replace(query, mode="exact", route="raw")),
                ("approximate, raw rows", replace(query, route="raw")),
            ):
                print(f"Timing {code}: {label}...", flush=True)
                results[code].append((label, *measure(orchestrator, variant, args.repeat)))

        rollups = []
        for grain in [g.strip() for g in args.grains.split(",") if g.strip()]:
            rollup = rollup_create(
                client_id=client.id,
                entity="visit",
                grain=grain,
                dimensions=["region"],
                measures=[
                    {"attribute": "amount", "states": ["tdigest"]},
                    {"attribute": "user_id", "states": ["hll"]},
                ],
                policy=RollupPolicy(end_offset=timedelta(0)),
            )
            print(f"Refreshing the {grain} rollup...", flush=True)
            started = time.perf_counter()
            rollup_refresh(rollup=rollup, now=end)
            rollups.append((grain, time.perf_counter() - started, *table_size(rollup.table_name)))
            for code in METRICS:
                print(f"Timing {code}: approximate, {grain} rollup...", flush=True)
                orchestrator = CalculationOrchestrator(context=context, catalog=catalog)
                measured = measure(orchestrator, month(code), args.repeat)
                if measured[2] != "rollup":
                    raise SystemExit(f"no answer from the {grain} rollup: {orchestrator.explain(month(code))['scans']}")
                results[code].append((f"approximate, {grain} rollup", *measured))
            rollup_delete(rollup=rollup)
        report(args, rows, results, rollups)
    finally:
        for rollup in Rollup.objects.filter(client_id=client.id):
            rollup_delete(rollup=rollup)
        if entity is not None:
            entity_delete(entity=entity, drop_data=True)
        client.delete()


def report(args, rows: int, results: dict[str, list[tuple]], rollups: list[tuple]) -> None:
    print()
    print(
        f"Approximate mode: {rows:,} rows over {args.days} days, user_id from {args.users:,} ids, one monthly bucket,"
    )
    print(f"median of {args.repeat} run(s) after a warm-up, PostgreSQL {connection.pg_version // 10000}")
    print()
    print(f"{'metric':<12}{'path':<28}{'ms':>11}{'value':>16}{'rel. error':>12}{'speedup':>10}   runs (ms)")
    print("-" * 112)
    summary = []
    for code, measured in results.items():
        exact_times, exact = measured[0][1], measured[0][2]
        exact_median = statistics.median(exact_times)
        for label, times, value, _ in measured:
            median = statistics.median(times)
            error = abs(value - exact) / abs(exact) if exact else 0.0
            runs = " ".join(f"{t * 1000:.0f}" for t in times)
            print(
                f"{code:<12}{label:<28}{median * 1000:>11.1f}{value:>16,.2f}{error:>11.3%} "
                f"{exact_median / median:>9.1f}x   {runs}"
            )
            if label != "exact, raw rows":
                summary.append((code, label, error, exact_median / median))
    print("-" * 112)
    for code, label, error, speedup in summary:
        formula, sketch, target = METRICS[code]
        verdict = "ok" if error <= target else "OVER"
        print(
            f"{formula} via {sketch}, {label}: {speedup:.1f}x faster than exact, error {error:.3%} "
            f"(target <= {target:.1%}: {verdict})"
        )
    print()
    label = f"rollup (region; hll, tdigest({TDIGEST_COMPRESSION}))"
    print(f"{label:<40}{'rows':>12}{'size':>12}{'refresh s':>12}{'bytes/row':>12}")
    for grain, seconds, count, size in rollups:
        per_row = size / count if count else 0
        print(f"{grain:<40}{count:>12,}{size / 2**20:>10.1f} M{seconds:>12.1f}{per_row:>12,.0f}")


if __name__ == "__main__":
    main()
