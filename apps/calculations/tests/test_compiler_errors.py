"""The compiler's refusals (the error a person gets instead of a bad
statement) and the period arithmetic behind AT_START, without a database.
The hand-built catalog is test_compiler.py's."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from apps.calculations.compiler.build import period_before
from apps.calculations.compiler.statement import measures_compile
from apps.calculations.tests.test_compiler import (
    ANYONE,
    CATALOG,
    CLIENT,
    SALES_ORDERS,
    SALES_PEOPLE,
    SOLD_AT,
    SOLD_BY,
    STORES,
    catalog_build,
    compile_metric,
    query,
)
from apps.calculations.types import AccessContext, Granularity, RowFilter
from apps.core.errors import AppError, NotFound
from apps.ontology.catalog import RelationshipSpec

# --- errors ---------------------------------------------------------------------------------


def raised(call: Callable[[], Any]) -> AppError:
    with pytest.raises(AppError) as caught:
        call()
    return caught.value


def test_unknown_group_by_path():
    error = raised(lambda: compile_metric("revenue", group_by=("colour",)))
    assert (error.code, error.status_code) == ("unknown_group_by_attribute", 400)
    assert error.details == {"group_by_attribute": "colour", "entity": "sales_orders"}
    assert "sales_people (many-to-one)" in error.message
    assert raised(lambda: compile_metric("revenue", group_by=("sold_by.colour",))).code == "unknown_group_by_attribute"
    assert raised(lambda: compile_metric("revenue", group_by=("nowhere.region",))).code == "unknown_group_by_attribute"
    assert raised(lambda: compile_metric("revenue", group_by=("sold_by..region",))).code == "unknown_group_by_attribute"


def test_unknown_filter_path():
    error = raised(lambda: compile_metric("revenue", filters=(("colour", ("red",)),)))
    assert error.code == "unknown_filter_attribute"


def test_an_attribute_two_relationships_reach_is_ambiguous_until_named():
    catalog = catalog_build(
        entities=(SALES_PEOPLE, SALES_ORDERS, STORES),
        relationships=(SOLD_BY, SOLD_AT),
    )
    error = raised(lambda: compile_metric("revenue", catalog=catalog, group_by=("region",)))
    assert (error.code, error.status_code) == ("ambiguous_attribute", 400)
    assert error.details == {"path": "region", "candidates": ["sold_at.region", "sold_by.region"]}
    # Naming the relationship (or the target entity) settles it.
    by_store = compile_metric(
        "revenue", catalog=catalog, group_by=("stores.region",), filters=(("sold_by.region", ("EU",)),)
    )
    assert 'LEFT JOIN "analytics_data"."c7_stores" AS "j1"\n    ON "e"."store_id" = "j1"."store_id"' in by_store.sql
    assert (
        'LEFT JOIN "analytics_data"."c7_sales_people" AS "j2"\n    ON "e"."salesperson_id" = "j2"."salesperson_id"'
        in by_store.sql
    )
    assert '"j1"."region" AS "d0"' in by_store.sql and '"j2"."region" = %(p3)s' in by_store.sql


def test_two_relationships_to_the_same_entity_are_ambiguous_by_entity_code():
    approved_by = RelationshipSpec(
        "approved_by", "many_to_one", "sales_orders", "store_id", "sales_people", "salesperson_id"
    )
    catalog = catalog_build(relationships=(SOLD_BY, approved_by))
    error = raised(lambda: compile_metric("revenue", catalog=catalog, group_by=("sales_people.region",)))
    assert error.code == "ambiguous_attribute"
    assert error.details["candidates"] == ["approved_by.region", "sold_by.region"]


@pytest.mark.parametrize(
    ("path", "value", "data_type"),
    [
        ("amount", "lots", "decimal"),
        ("quantity", "1.5", "integer"),
        ("paid", "maybe", "boolean"),
        ("ordered_at", "2026-03-01T00:00:00", "timestamp"),  # no UTC offset
        ("sold_by.left_on", "31/03/2026", "date"),
    ],
)
def test_a_filter_value_of_the_wrong_type(path, value, data_type):
    error = raised(lambda: compile_metric("revenue", filters=((path, (value,)),)))
    assert (error.code, error.status_code) == ("invalid_filter", 400)
    assert error.details == {"attribute": path, "value": value, "data_type": data_type}


def test_a_row_filter_with_a_wrong_value_or_operator():
    bad_value = AccessContext(CLIENT, (RowFilter("amount", "gte", ("ten",)),))
    assert raised(lambda: compile_metric("revenue", context=bad_value)).code == "invalid_filter"
    bad_op = AccessContext(CLIENT, (RowFilter("amount", "between", ("1", "2")),))
    assert raised(lambda: compile_metric("revenue", context=bad_op)).code == "invalid_filter"


@pytest.mark.parametrize(
    ("formula", "token"),
    [
        ("COUNT(*) WHERE left_on >= PERIOD_START()", "PERIOD_START"),
        ("COUNT(*) WHERE left_on < PERIOD_END()", "PERIOD_END"),
        ("AT_START(COUNT(*))", "AT_START"),
        ("AT_END(COUNT(*))", "AT_END"),
        ("IF(LAST(name) = 'x', 1, 0)", "LAST"),  # a metric's value is a number: LAST(name) alone is a type error
        ("IF(FIRST(name) = 'x', 1, 0)", "FIRST"),
    ],
)
def test_period_functions_on_a_reference_entity_are_refused(formula, token):
    catalog = catalog_build(metrics={"bad": (formula, "sales_people")})
    error = raised(lambda: compile_metric("bad", catalog=catalog))
    assert (error.code, error.details["token"]) == ("invalid_formula", token)
    assert "needs a time-series entity" in error.message
    assert "'sales_people' is a reference entity" in error.message


def test_first_reads_the_value_at_the_earliest_time():
    compiled = compile_metric("first_premium")
    assert 'FIRST("e"."premium", "e"."snapshot_date") AS "value"' in compiled.sql


def test_a_metric_without_an_entity_cannot_aggregate():
    catalog = catalog_build(metrics={"loose": ("COUNT(*)", None)})
    error = raised(lambda: compile_metric("loose", catalog=catalog))
    assert (error.code, error.details) == ("invalid_formula", {"metric": "loose"})


def test_a_row_filter_that_cannot_apply_hides_the_entity():
    context = AccessContext(CLIENT, (RowFilter("lob", "in", ("Health",)),))
    error = raised(lambda: compile_metric("revenue", context=context))
    assert (error.code, error.status_code) == ("permission_denied", 403)
    assert error.details == {"attribute": "lob", "entity": "sales_orders"}
    # A derived metric fails as soon as one of the entities it reads cannot take the rule.
    orders_only = AccessContext(CLIENT, (RowFilter("amount", "gte", ("10",)),))
    error = raised(lambda: compile_metric("sales_efficiency", context=orders_only, group_by=("region",)))
    assert (error.code, error.status_code, error.details["entity"]) == ("permission_denied", 403, "sales_people")


def test_an_access_context_for_another_client():
    other = AccessContext(client_id=CLIENT + 1)
    assert raised(lambda: compile_metric("revenue", context=other)).code == "tenant_mismatch"
    adhoc = raised(
        lambda: measures_compile(
            catalog=CATALOG, entity="sales_orders", measures={"n": "COUNT(*)"}, query=query("adhoc"), context=other
        )
    )
    assert adhoc.code == "tenant_mismatch"


def test_unknown_metric():
    error = raised(lambda: compile_metric("profit"))
    assert isinstance(error, NotFound)
    assert (error.code, error.status_code, error.details) == ("unknown_metric", 404, {"metric": "profit"})


def test_a_metric_referring_to_itself_is_circular():
    catalog = catalog_build(metrics={"ping": ("Pong + 1", None), "pong": ("Ping * 2", None)})
    error = raised(lambda: compile_metric("ping", catalog=catalog))
    assert error.code == "circular_reference"
    assert "ping -> pong -> ping" in error.message


def test_a_measure_error_names_the_measure():
    def adhoc(entity_code: str, measures: dict[str, str]):
        return measures_compile(
            catalog=CATALOG, entity=entity_code, measures=measures, query=query("adhoc"), context=ANYONE
        )

    error = raised(lambda: adhoc("sales_orders", {"ok": "COUNT(*)", "Broken": "SUM(premium)"}))
    assert error.code == "unknown_reference" and error.details["measure"] == "Broken"
    assert error.message.startswith("Measure 'Broken': ")
    assert raised(lambda: adhoc("warehouse", {"n": "COUNT(*)"})).code == "unknown_entity"


@pytest.mark.parametrize("path", ["sold_by.region", "sales_people.region"])
def test_a_derived_metric_across_a_relationship_groups_by_an_explicit_path(path):
    compiled = compile_metric("sales_efficiency", group_by=(path,))
    assert compiled.dims == (path,)
    assert '"e"."region" AS "d0"' in compiled.sql  # headcount, on sales_people's own column


# --- period_before --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "granularity", "expected"),
    [
        (datetime(2026, 3, 15, 10, 42, 17, 5, tzinfo=UTC), Granularity.MINUTE, datetime(2026, 3, 15, 10, 41)),
        (datetime(2026, 3, 15, 10, 42, 17, tzinfo=UTC), Granularity.HOUR, datetime(2026, 3, 15, 9)),
        (datetime(2026, 3, 15, 10, 42, tzinfo=UTC), Granularity.DAY, datetime(2026, 3, 14)),
        (datetime(2026, 3, 1, tzinfo=UTC), Granularity.DAY, datetime(2026, 2, 28)),
        (datetime(2026, 3, 18, 10, tzinfo=UTC), Granularity.WEEK, datetime(2026, 3, 9)),  # a Wednesday
        (datetime(2026, 3, 16, tzinfo=UTC), Granularity.WEEK, datetime(2026, 3, 9)),  # a Monday
        (datetime(2026, 3, 15, 10, tzinfo=UTC), Granularity.MONTH, datetime(2026, 2, 1)),
        (datetime(2026, 1, 31, tzinfo=UTC), Granularity.MONTH, datetime(2025, 12, 1)),
        (datetime(2026, 3, 15, tzinfo=UTC), Granularity.QUARTER, datetime(2025, 10, 1)),
        (datetime(2026, 4, 1, tzinfo=UTC), Granularity.QUARTER, datetime(2026, 1, 1)),
        (datetime(2026, 12, 31, 23, 59, tzinfo=UTC), Granularity.QUARTER, datetime(2026, 7, 1)),
        (datetime(2026, 3, 15, tzinfo=UTC), Granularity.YEAR, datetime(2025, 1, 1)),
        # Buckets are UTC: 00:30 in Paris on April 1st is still March 31st.
        (datetime(2026, 4, 1, 0, 30, tzinfo=timezone(timedelta(hours=2))), Granularity.MONTH, datetime(2026, 2, 1)),
    ],
)
def test_period_before(moment, granularity, expected):
    assert period_before(moment, granularity) == expected.replace(tzinfo=UTC)
