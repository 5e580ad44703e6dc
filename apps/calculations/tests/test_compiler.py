"""The formula compiler without a database: the SQL it emits for
representative metrics (snapshots), the safety properties every statement
keeps, the errors a person gets instead of a bad statement, and the period
arithmetic behind AT_START.

Snapshots live in `snapshots/<case>.sql`. When a change to the compiler
changes the SQL on purpose, regenerate them and review the diff:

    AE_UPDATE_SNAPSHOTS=1 .venv/bin/pytest apps/calculations/tests/test_compiler.py

With AE_UPDATE_SNAPSHOTS=1 the snapshot tests write the files instead of
comparing (and pass); the bound parameters are asserted inline either way.

The catalog is built by hand (the lifecycles of tests/scenarios.py), so no
test here touches the database."""

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from apps.calculations.compiler.extent import extent_compile
from apps.calculations.compiler.statement import measures_compile, metric_compile
from apps.calculations.types import AccessContext, Granularity, MetricQuery, RowFilter
from apps.core.errors import AppError
from apps.ontology.catalog import AttributeSpec, Catalog, EntitySpec, MetricSpec, RelationshipSpec

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE_SNAPSHOTS = os.environ.get("AE_UPDATE_SNAPSHOTS") == "1"
SCHEMA = "analytics_data"
CLIENT = 7
MAR = datetime(2026, 3, 1, tzinfo=UTC)
APR = datetime(2026, 4, 1, tzinfo=UTC)
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


# --- the catalog ----------------------------------------------------------------------------


def entity(code: str, kind: str, time_attribute: str, attributes: dict[str, str]) -> EntitySpec:
    return EntitySpec(
        code=code,
        kind=kind,
        time_attribute=time_attribute,
        schema=SCHEMA,
        table=f"c{CLIENT}_{code}",
        attributes={a: AttributeSpec(a, data_type) for a, data_type in attributes.items()},
    )


POLICY_SNAPSHOT = entity(
    "policy_snapshot",
    "time_series",
    "snapshot_date",
    {
        "snapshot_date": "date",
        "policy_id": "string",
        "status": "string",
        "start_date": "date",
        "lob": "string",
        "premium": "decimal",
    },
)
SALES_PEOPLE = entity(
    "sales_people",
    "reference",
    "",
    {"salesperson_id": "string", "name": "string", "region": "string", "left_on": "date"},
)
SALES_ORDERS = entity(
    "sales_orders",
    "time_series",
    "ordered_at",
    {
        "ordered_at": "timestamp",
        "order_id": "string",
        "salesperson_id": "string",
        "store_id": "string",
        "amount": "decimal",
        "paid": "boolean",
        "quantity": "integer",
    },
)
STORES = entity("stores", "reference", "", {"store_id": "string", "region": "string"})
SOLD_BY = RelationshipSpec("sold_by", "many_to_one", "sales_orders", "salesperson_id", "sales_people", "salesperson_id")
SOLD_AT = RelationshipSpec("sold_at", "many_to_one", "sales_orders", "store_id", "stores", "store_id")

METRICS = {
    # Lifecycle 1 (tests/scenarios.py)
    "start_count": ("AT_START(COUNT_DISTINCT(policy_id) WHERE status = 'Active')", "policy_snapshot"),
    "end_count": ("AT_END(COUNT_DISTINCT(policy_id) WHERE status = 'Active')", "policy_snapshot"),
    "new_count": (
        "AT_END(COUNT_DISTINCT(policy_id) WHERE status = 'Active' AND start_date >= PERIOD_START())",
        "policy_snapshot",
    ),
    "retention_rate": ("(EndCount - NewCount) / StartCount", None),
    # Lifecycle 2
    "revenue": ("SUM(amount)", "sales_orders"),
    "headcount": ("COUNT_DISTINCT(salesperson_id)", "sales_people"),
    "sales_efficiency": ("Revenue / Headcount", None),
    # One per aggregate and scalar
    "active_premium": ("SUM(premium) WHERE status = 'Active'", "policy_snapshot"),
    "order_count": ("COUNT(*)", "sales_orders"),
    "average_order": ("AVG(amount)", "sales_orders"),
    "p95_order": ("PERCENTILE(amount, 0.95) WHERE amount > 0", "sales_orders"),
    "last_premium": ("LAST(premium)", "policy_snapshot"),
    "first_premium": ("FIRST(premium)", "policy_snapshot"),
    "premium_mix": (
        "ROUND(COALESCE(SUM(IF(status = 'Active', premium, 0)), 0) / COUNT(*), 2)"
        " + SUM(CASE WHEN premium > 1000 THEN 1 WHEN lob IS NOT NULL THEN 2 ELSE 0 END)",
        "policy_snapshot",
    ),
    "tricky_status": ("COUNT(*) WHERE status = 'x''; DROP TABLE t; --'", "policy_snapshot"),
}


def catalog_build(
    *,
    metrics: dict[str, tuple[str, str | None]] | None = None,
    entities: tuple[EntitySpec, ...] = (POLICY_SNAPSHOT, SALES_PEOPLE, SALES_ORDERS),
    relationships: tuple[RelationshipSpec, ...] = (SOLD_BY,),
) -> Catalog:
    specs = {
        code: MetricSpec(code, code.replace("_", " ").title(), formula, entity_code, "", "", "exact", "v1")
        for code, (formula, entity_code) in {**METRICS, **(metrics or {})}.items()
    }
    return Catalog(CLIENT, {e.code: e for e in entities}, list(relationships), specs)


CATALOG = catalog_build()
ANYONE = AccessContext(client_id=CLIENT)


def query(metric: str, **kwargs: Any) -> MetricQuery:
    return MetricQuery(metric, kwargs.pop("start", MAR), kwargs.pop("end", APR), **kwargs)


def compile_metric(metric: str, *, context: AccessContext = ANYONE, catalog: Catalog = CATALOG, **kwargs: Any):
    return metric_compile(catalog=catalog, query=query(metric, **kwargs), context=context)


# --- snapshots ------------------------------------------------------------------------------


def assert_snapshot(name: str, sql: str) -> None:
    path = SNAPSHOTS / f"{name}.sql"
    if UPDATE_SNAPSHOTS:
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(sql + "\n")
        return
    assert path.exists(), f"No snapshot {path.name}: run with AE_UPDATE_SNAPSHOTS=1 and review the file."
    # On a difference: if the change is intended, regenerate with AE_UPDATE_SNAPSHOTS=1 and review the diff.
    assert sql + "\n" == path.read_text()


DAY_RANGE = {"start_date": date(2026, 3, 1), "end_date": date(2026, 4, 1)}
TS_RANGE = {"start": MAR, "end": APR}


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], Any]  # -> CompiledQuery | CompiledTable
    params: dict[str, Any]
    entities: tuple[str, ...]


CASES = [
    Case(
        "sum_where",
        lambda: compile_metric("active_premium"),
        {"width": "1 day", **DAY_RANGE, "p3": "Active"},
        ("policy_snapshot",),
    ),
    Case("count_star", lambda: compile_metric("order_count"), {"width": "1 day", **TS_RANGE}, ("sales_orders",)),
    Case(
        "avg_by_salesperson",
        lambda: compile_metric("average_order", group_by=("salesperson_id",)),
        {"width": "1 day", **TS_RANGE},
        ("sales_orders",),
    ),
    Case(
        "percentile",
        lambda: compile_metric("p95_order"),
        {"width": "1 day", **TS_RANGE, "p3": Decimal("0.95"), "p4": Decimal("0")},
        ("sales_orders",),
    ),
    Case(
        "last_by_lob",
        lambda: compile_metric("last_premium", group_by=("lob",)),
        {"width": "1 day", **DAY_RANGE},
        ("policy_snapshot",),
    ),
    Case(
        "scalars",
        lambda: compile_metric("premium_mix"),
        {
            "width": "1 day",
            **DAY_RANGE,
            # IF(status = 'Active', premium, 0), COALESCE(.., 0), ROUND(.., 2)
            "p3": "Active",
            "p4": Decimal("0"),
            "p5": Decimal("0"),
            "p6": Decimal("2"),
            # CASE WHEN premium > 1000 THEN 1 WHEN .. THEN 2 ELSE 0
            "p7": Decimal("1000"),
            "p8": Decimal("1"),
            "p9": Decimal("2"),
            "p10": Decimal("0"),
        },
        ("policy_snapshot",),
    ),
    Case(
        "at_end",
        lambda: compile_metric("end_count"),
        {"width": "1 day", "lookback_start_date": date(2026, 2, 28), **DAY_RANGE, "p3": "Active"},
        ("policy_snapshot",),
    ),
    Case(
        "retention_by_lob",
        lambda: compile_metric("retention_rate", group_by=("lob",)),
        {
            "width": "1 day",
            "lookback_start_date": date(2026, 2, 28),
            **DAY_RANGE,
            "p3": "Active",  # end_count
            "p5": "Active",  # new_count (p4 went to lookback_start_date)
            "p6": "Active",  # start_count
        },
        ("policy_snapshot",),
    ),
    Case(
        "revenue_per_head_by_region",
        lambda: compile_metric("sales_efficiency", group_by=("region",), granularity=Granularity.MONTH),
        {"width": "1 month", **TS_RANGE},
        ("sales_orders", "sales_people"),
    ),
    Case(
        "filters_and_row_filters",
        lambda: compile_metric(
            "revenue",
            group_by=("sold_by.region",),
            filters=(("region", ("EU", "US")), ("paid", ("true",))),
            context=AccessContext(
                CLIENT,
                (
                    RowFilter("region", "in", ("EU",)),
                    RowFilter("amount", "gte", ("10",)),
                    RowFilter("sold_by.left_on", "is_null"),
                ),
            ),
        ),
        {
            "width": "1 day",
            **TS_RANGE,
            "p3": "EU",  # filter region in (EU, US)
            "p4": "US",
            "p5": True,  # filter paid = true
            "p6": "EU",  # row filter region in (EU)
            "p7": Decimal("10"),  # row filter amount >= 10
        },
        ("sales_orders", "sales_people"),
    ),
    Case(
        # A date time column compares with dates; the end rounds up to the next day.
        "opening_by_quarter_on_dates",
        lambda: compile_metric(
            "start_count",
            granularity=Granularity.QUARTER,
            start=datetime(2026, 1, 1, tzinfo=UTC),
            end=datetime(2026, 6, 30, 12, tzinfo=UTC),
            context=AccessContext(CLIENT, (RowFilter("lob", "in", ("Health",)),)),
        ),
        {
            "width": "3 months",
            "lookback_start_date": date(2025, 10, 1),
            "end_date": date(2026, 7, 1),
            "p3": "Health",  # the opening scan's row filter
            "p4": "Active",
            "p5": "Health",  # the bounds' row filter
        },
        ("policy_snapshot",),
    ),
    Case(
        # A timestamp time column compares with the request's own instants.
        "revenue_by_period",
        lambda: compile_metric("revenue", granularity=Granularity.MONTH, end=datetime(2026, 6, 30, 12, tzinfo=UTC)),
        {"width": "1 month", "start": MAR, "end": datetime(2026, 6, 30, 12, tzinfo=UTC)},
        ("sales_orders",),
    ),
    Case(
        "measures_by_region",
        lambda: measures_compile(
            catalog=CATALOG,
            entity="sales_orders",
            measures={"Revenue": "SUM(amount)", "Big orders": "COUNT(order_id) WHERE amount > 1000"},
            query=query("adhoc", group_by=("region",), granularity=Granularity.MONTH),
            context=ANYONE,
        ),
        {"width": "1 month", **TS_RANGE, "p3": Decimal("1000")},
        ("sales_orders", "sales_people"),
    ),
]
CASE_IDS = [c.name for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_compiled_sql_matches_its_snapshot(case):
    compiled = case.build()
    assert_snapshot(case.name, compiled.sql)
    assert compiled.params == case.params
    assert compiled.entities == case.entities


def test_snapshot_files_all_belong_to_a_case():
    if UPDATE_SNAPSHOTS:
        pytest.skip("snapshots are being rewritten")
    assert {p.stem for p in SNAPSHOTS.glob("*.sql")} == set(CASE_IDS)


def test_granularity_changes_only_the_bucket_width():
    month = compile_metric("revenue", granularity=Granularity.MONTH)
    quarter = compile_metric("revenue", granularity=Granularity.QUARTER)
    week = compile_metric("revenue", granularity=Granularity.WEEK)
    assert month.sql == quarter.sql == week.sql
    assert (month.params["width"], quarter.params["width"], week.params["width"]) == ("1 month", "3 months", "1 week")


def test_what_the_result_carries():
    ratio = compile_metric("sales_efficiency", group_by=("region",))
    assert (ratio.metric.code, ratio.dims, ratio.entities, ratio.has_time) == (
        "sales_efficiency",
        ("region",),
        ("sales_orders", "sales_people"),
        True,
    )
    # Only a reference entity answers: no periods, the bucket is NULL.
    people = compile_metric("headcount", group_by=("region",))
    assert (people.entities, people.has_time) == (("sales_people",), False)
    assert 'CAST(NULL AS TIMESTAMPTZ) AS "bucket"' in people.sql
    assert "%(start" not in people.sql and set(people.params) == {"width"}

    table = CASES[-1].build()
    assert table.columns == ("bucket", "region", "Revenue", "Big orders")


def test_a_one_to_many_relationship_joins_like_its_many_to_one_mirror():
    mirror = RelationshipSpec(
        "sells", "one_to_many", "sales_people", "salesperson_id", "sales_orders", "salesperson_id"
    )
    declared_backwards = catalog_build(relationships=(mirror,))
    forwards = compile_metric("revenue", group_by=("region",))
    backwards = compile_metric("revenue", group_by=("region",), catalog=declared_backwards)
    assert backwards.sql == forwards.sql
    assert 'ON "e"."salesperson_id" = "j1"."salesperson_id"' in forwards.sql


# --- safety properties --------------------------------------------------------------------------


def parsed(sql: str) -> exp.Expression:
    statements = sqlglot.parse(sql, read="postgres")
    assert len(statements) == 1, "the compiler emitted more than one statement"
    (statement,) = statements
    assert isinstance(statement, exp.Select)
    return statement


def assert_safe(compiled, catalog: Catalog = CATALOG) -> None:
    """One SELECT reading only the catalog's tables in the analytics schema
    and its own CTEs; every identifier quoted; no literal but GROUP BY
    ordinals and NULLIF's zero; every placeholder bound and every bound value
    used."""
    statement = parsed(compiled.sql)
    ctes = {cte.alias for cte in statement.find_all(exp.CTE)}
    tables = {e.table for e in catalog.entities.values()}
    for table in statement.find_all(exp.Table):
        if table.db:
            assert (table.db, table.name) in {(SCHEMA, t) for t in tables}, table.sql()
        else:
            assert table.name in ctes, table.sql()
    for identifier in statement.find_all(exp.Identifier):
        if not isinstance(identifier.parent, exp.Placeholder):
            assert identifier.quoted, f"unquoted identifier {identifier.name!r}"
    for literal in statement.find_all(exp.Literal):
        assert not literal.is_string, f"string literal {literal.sql()} in the SQL"
        assert isinstance(literal.parent, exp.Group | exp.Nullif), f"literal {literal.sql()} in {literal.parent.sql()}"
    assert set(PLACEHOLDER.findall(compiled.sql)) == set(compiled.params)
    # psycopg reads every other % as a placeholder.
    assert "%" not in PLACEHOLDER.sub("", compiled.sql)
    assert "--" not in compiled.sql and "/*" not in compiled.sql and ";" not in compiled.sql


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_every_statement_is_one_select_with_bound_values_and_quoted_names(case):
    assert_safe(case.build())


def test_a_string_literal_with_quotes_and_sql_is_bound_not_spliced():
    # The tokenizer reads '' inside a string as one quote: the value is the whole text.
    compiled = compile_metric("tricky_status")
    assert "x'; DROP TABLE t; --" in compiled.params.values()
    assert "DROP" not in compiled.sql and "'" not in compiled.sql
    assert '"e"."status" = %(p3)s' in compiled.sql
    assert_safe(compiled)


HOSTILE = [
    "x'; DROP TABLE t; --",
    "'); DELETE FROM analytics_data.c7_sales_orders; --",
    'EU" OR 1=1 --',
    "/* */ UNION SELECT * FROM pg_user",
    "100% off",
    "$$; SELECT 1; $$",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_request_and_row_filter_values_are_bound(value):
    context = AccessContext(CLIENT, (RowFilter("name", "ne", (value,)),))
    compiled = compile_metric(
        "sales_efficiency", group_by=("region",), filters=(("region", (value,)),), context=context
    )
    assert value not in compiled.sql
    assert list(compiled.params.values()).count(value) == 4  # filter and rule, on orders and on people
    assert_safe(compiled)


def test_hostile_measure_strings_are_bound():
    compiled = measures_compile(
        catalog=CATALOG,
        entity="sales_orders",
        measures={"x'); DROP TABLE t; --": "COUNT(*) WHERE order_id LIKE '%''; --'"},
        query=query("adhoc"),
        context=ANYONE,
    )
    assert "%'; --" in compiled.params.values()
    assert "DROP" not in compiled.sql  # the measure's name is a column label, not SQL
    assert_safe(compiled)


def test_odd_attribute_and_table_names_are_quoted():
    odd = EntitySpec(
        "order",
        "time_series",
        "time",
        SCHEMA,
        'c7_Order "x"',
        {a: AttributeSpec(a, t) for a, t in {"time": "timestamp", "user": "string", "select": "string"}.items()},
    )
    catalog = catalog_build(entities=(odd,), relationships=(), metrics={"odd": ("COUNT(*)", "order")})
    compiled = compile_metric("odd", catalog=catalog, group_by=("user",), filters=(("select", ("a",)),))
    assert 'FROM "analytics_data"."c7_Order ""x""" AS "e"' in compiled.sql
    assert '"e"."user" AS "d0"' in compiled.sql
    assert '"e"."select" = %(p3)s' in compiled.sql
    assert_safe(compiled, catalog)


@pytest.mark.parametrize(
    "formula",
    [
        "COUNT(*); DROP TABLE t",
        "COUNT(*) -- comment",
        "COUNT(*) /* comment */",
        'SUM("premium")',
        "SUM(premium) WHERE status = $$Active$$",
        "SUM(premium)::text",
        "SUM(premium) WHERE status = E'\\x27'",
        "pg_sleep(10)",
    ],
)
def test_formulas_outside_the_language_are_refused(formula):
    catalog = catalog_build(metrics={"bad": (formula, "policy_snapshot")})
    with pytest.raises(AppError) as caught:
        compile_metric("bad", catalog=catalog)
    assert caught.value.code == "invalid_formula"


def test_an_injected_group_by_path_is_an_unknown_attribute():
    with pytest.raises(AppError) as caught:
        compile_metric("revenue", group_by=('amount"; DROP TABLE t; --',))
    assert caught.value.code == "unknown_group_by_attribute"


def test_the_data_extent_reads_the_time_column_under_row_filters_only():
    """An empty answer's extent (compiler/extent.py): first and last time of the
    entity, under the caller's row filters (through joins too), never the range."""
    plain, params = extent_compile(catalog=CATALOG, entity="policy_snapshot", context=ANYONE)
    assert params == {}
    assert " ".join(plain.split()) == (
        'SELECT MIN("e"."snapshot_date") AS "first", MAX("e"."snapshot_date") AS "last" '
        'FROM "analytics_data"."c7_policy_snapshot" AS "e"'
    )
    ruled = AccessContext(CLIENT, (RowFilter("region", "in", ("EU",)),))
    sql, params = extent_compile(catalog=CATALOG, entity="sales_orders", context=ruled)
    assert " ".join(sql.split()) == (
        'SELECT MIN("e"."ordered_at") AS "first", MAX("e"."ordered_at") AS "last" '
        'FROM "analytics_data"."c7_sales_orders" AS "e" '
        'LEFT JOIN "analytics_data"."c7_sales_people" AS "j1" ON "e"."salesperson_id" = "j1"."salesperson_id" '
        'WHERE "j1"."region" = %(p0)s'
    )
    assert list(params.values()) == ["EU"]
    assert extent_compile(catalog=CATALOG, entity="sales_people", context=ANYONE) is None  # a reference entity
