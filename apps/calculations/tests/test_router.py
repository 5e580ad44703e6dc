"""The router's choices, without a database: which storage answers each
fact scan (raw, rollup, rollup+raw) and why, and the SQL of rollup scans."""

from datetime import UTC, datetime

import pytest

from apps.calculations.compiler.statement import metric_compile
from apps.calculations.rollup_spec import RollupSpec
from apps.calculations.tests.test_compiler import ANYONE, CLIENT, SCHEMA, catalog_build
from apps.calculations.types import Granularity, MetricQuery, RowFilter

MAR = datetime(2026, 3, 1, tzinfo=UTC)
APR = datetime(2026, 4, 1, tzinfo=UTC)
MAY = datetime(2026, 5, 1, tzinfo=UTC)

CATALOG = catalog_build(
    metrics={
        "orders": ("COUNT(*)", "sales_orders"),
        "paid_revenue": ("SUM(amount) WHERE paid = TRUE", "sales_orders"),
        "buyers": ("COUNT_DISTINCT(order_id)", "sales_orders"),
        "biggest": ("MAX(amount)", "sales_orders"),
        "per_order": ("Revenue / Orders", None),
        "odd": ("SUM(amount * 2)", "sales_orders"),
        "recent": ("COUNT(*) WHERE ordered_at >= PERIOD_START()", "sales_orders"),
    }
)


def rollup(grain: str, watermark: datetime | None = APR, *, stale=(), dims=None, states=None) -> RollupSpec:
    return RollupSpec(
        id={"minute": 1, "hour": 2, "day": 3}[grain],
        client_id=CLIENT,
        entity="sales_orders",
        schema=SCHEMA,
        table=f"r{CLIENT}_sales_orders_{grain}",
        grain=grain,
        dims=dims if dims is not None else {"salesperson_id": "dim_0", "paid": "dim_1"},
        states=states
        if states is not None
        else {
            ("amount", "sum"): "m0_sum",
            ("amount", "count"): "m0_count",
            ("amount", "max"): "m0_max",
            ("order_id", "hll"): "m1_hll",
            ("amount", "tdigest"): "m0_tdigest",
        },
        watermark=watermark,
        stale=stale,
    )


def compiled(metric: str, rollups: list[RollupSpec], **query):
    base = {"start": MAR, "end": APR, "granularity": Granularity.MONTH}
    context = query.pop("context", ANYONE)
    return metric_compile(
        catalog=CATALOG,
        query=MetricQuery(metric=metric, **{**base, **query}),
        context=context,
        rollups=lambda entity: rollups if entity == "sales_orders" else [],
    )


def scan(result) -> dict:
    (only,) = result.routes
    return only


def test_a_covered_range_reads_the_coarsest_rollup():
    result = compiled("revenue", [rollup("minute"), rollup("hour"), rollup("day")])
    assert result.route == "rollup"
    assert scan(result)["rollup"] == f"r{CLIENT}_sales_orders_day"
    assert 'SUM("e"."m0_sum")' in result.sql and f'"{SCHEMA}"."r{CLIENT}_sales_orders_day"' in result.sql
    assert '"analytics_data"."c7_sales_orders"' not in result.sql


def test_a_range_past_the_watermark_adds_the_raw_tail():
    result = compiled("revenue", [rollup("day", watermark=datetime(2026, 3, 20, tzinfo=UTC))])
    assert result.route == "rollup+raw"
    assert "UNION ALL" in result.sql and '"analytics_data"."c7_sales_orders" AS "r"' in result.sql
    assert "watermark 2026-03-20" in scan(result)["reason"]


@pytest.mark.parametrize(
    ("metric", "rollups", "query", "reason"),
    [
        ("revenue", [], {}, "no rollup of sales_orders exists yet"),
        ("revenue", [rollup("day")], {"route": "raw"}, "asked for the raw rows"),
        ("buyers", [rollup("day")], {}, "exact COUNT_DISTINCT needs the raw rows"),
        ("odd", [rollup("day")], {}, "of an expression"),
        ("recent", [rollup("day")], {}, "period's bounds"),
        ("revenue", [rollup("day")], {"granularity": Granularity.HOUR}, "coarser than hour"),
        ("revenue", [rollup("day")], {"start": datetime(2026, 3, 1, 6, tzinfo=UTC)}, "whole days"),
        ("revenue", [rollup("day", watermark=None)], {}, "not materialized"),
        ("revenue", [rollup("day", watermark=MAR)], {}, "not materialized past the range start"),
        ("revenue", [rollup("day", stale=((datetime(2026, 3, 5, tzinfo=UTC),) * 2,))], {}, "late rows"),
        ("revenue", [rollup("day")], {"group_by": ("order_id",)}, "no dimension for 'order_id'"),
        ("revenue", [rollup("day", states={})], {}, "lacks the partial states amount:sum"),
        ("paid_revenue", [rollup("day", dims={"salesperson_id": "dim_0"})], {}, "no dimension paid"),
    ],
)
def test_the_raw_rows_answer_when_no_rollup_can_and_the_reason_says_why(metric, rollups, query, reason):
    result = compiled(metric, rollups, **query)
    assert result.route == "raw"
    assert reason in scan(result)["reason"]
    assert '"analytics_data"."c7_sales_orders"' in result.sql


def test_approximate_mode_merges_sketches_from_the_rollup():
    result = compiled("buyers", [rollup("day")], mode="approximate")
    assert result.route == "rollup" and result.mode == "approximate"
    assert 'HLL_CARDINALITY(HLL_UNION_AGG("e"."m1_hll"))' in result.sql


def test_approximate_mode_on_raw_rows_uses_the_sketch_functions():
    result = compiled("buyers", [], mode="approximate")
    assert result.route == "raw"
    assert "HLL_ADD_AGG(HLL_HASH_ANY(" in result.sql.upper()


def test_group_by_through_a_relationship_joins_from_the_rollups_dimension():
    result = compiled("revenue", [rollup("day")], group_by=("region",))
    assert result.route == "rollup"
    assert 'LEFT JOIN "analytics_data"."c7_sales_people" AS "j1"' in result.sql
    assert 'ON "e"."dim_0" = "j1"."salesperson_id"' in result.sql


def test_filters_and_row_rules_on_dimensions_stay_on_the_rollup():
    from apps.calculations.types import AccessContext

    context = AccessContext(CLIENT, (RowFilter("paid", "eq", ("true",)),))
    result = compiled("paid_revenue", [rollup("day")], filters=(("salesperson_id", ("s1",)),), context=context)
    assert result.route == "rollup"
    assert '"e"."dim_1" = %(' in result.sql and '"e"."dim_0" = %(' in result.sql


def test_a_derived_metric_reports_each_scan_and_a_mixed_route():
    result = compiled("per_order", [rollup("day", watermark=datetime(2026, 3, 20, tzinfo=UTC))])
    assert [r["metric"] for r in result.routes] == ["orders", "revenue"]
    assert {r["route"] for r in result.routes} == {"rollup+raw"}
    assert result.route == "rollup+raw"
