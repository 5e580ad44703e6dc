"""POST /api/v1/query/: ad-hoc measures over one entity, compiled by the
metric builder and read through the read-only database alias."""

from contextlib import ExitStack, contextmanager

import pytest
from django.conf import settings
from django.db import connections

from apps.calculations.tests.scenarios import ORDERS, PEOPLE, sales_define, sales_load
from apps.core.tests.assertions import assert_error
from apps.core.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

ANALYTICS = settings.ANALYTICS_SCHEMA
RANGE = {"start": "2026-03-01T00:00:00+00:00", "end": "2026-05-01T00:00:00+00:00"}
QUERY = {
    "entity": "sales_orders",
    "measures": {"revenue": "SUM(amount)", "orders": "COUNT(*)"},
    "filters": {"region": ["EU"]},
    "group_by": ["region"],
    "range": RANGE,
    "granularity": "month",
}


@pytest.fixture
def api(api_client, db):
    api_client.force_authenticate(MembershipFactory(role="analyst", is_default=True).user)
    return api_client


@pytest.fixture
def sales(api):
    sales_define(api)
    sales_load(api)
    return api


def run(api, payload: dict) -> dict:
    response = api.post("/api/v1/query/", payload, format="json")
    assert response.status_code == 200, response.content
    return response.json()


@contextmanager
def queries():
    """(alias, sql, params) of every statement on either alias."""
    seen: list[tuple[str, str, object]] = []

    def wrapper_for(alias: str):
        def wrapper(execute, sql, params, many, context):
            seen.append((alias, sql if isinstance(sql, str) else repr(sql), params))
            return execute(sql, params, many, context)

        return wrapper

    with ExitStack() as stack:
        for alias in ("default", "readonly"):
            stack.enter_context(connections[alias].execute_wrapper(wrapper_for(alias)))
        yield seen


def expected_by_region_and_month(region: str | None = None) -> list[list]:
    """(bucket, region, revenue, orders) from the scenario's own rows."""
    regions = dict(PEOPLE)
    totals: dict[tuple[str, str], list] = {}
    for moment, _order, person, amount in ORDERS:
        if region is not None and regions[person] != region:
            continue
        key = (f"{moment[:7]}-01T00:00:00+00:00", regions[person])
        totals.setdefault(key, [0.0, 0])
        totals[key][0] += float(amount)
        totals[key][1] += 1
    return [[bucket, r, revenue, orders] for (bucket, r), (revenue, orders) in sorted(totals.items())]


def test_measures_by_region_and_month_on_the_read_only_alias(sales):
    with queries() as seen:
        body = run(sales, QUERY)
    assert body["columns"] == ["bucket", "region", "revenue", "orders"]
    assert body["rows"] == [
        ["2026-03-01T00:00:00+00:00", "EU", 600.0, 2],
        ["2026-04-01T00:00:00+00:00", "EU", 200.0, 1],
    ]
    assert body["rows"] == expected_by_region_and_month("EU")
    analytics = [(alias, sql, params) for alias, sql, params in seen if ANALYTICS in sql]
    assert len(analytics) == 1, analytics
    alias, sql, params = analytics[0]
    assert alias == "readonly"
    assert sql.lstrip().upper().startswith("WITH") and "SELECT" in sql.upper()
    # The filter value is bound, not spliced.
    assert "EU" in params.values() and "'EU'" not in sql
    # Nothing on the default alias reads the entity's table.
    assert not [q for q in seen if q[0] == "default" and ANALYTICS in q[1]]


def test_without_filters_every_region_and_the_same_numbers_as_the_metric(sales):
    body = run(sales, {**QUERY, "filters": {}})
    assert body["rows"] == expected_by_region_and_month()
    # The metric endpoint compiles through the same builder: the same revenue.
    metric = sales.get(
        "/api/v1/metrics/revenue",
        {"start": "2026-03-01", "end": "2026-05-01", "granularity": "month", "group_by": "region"},
    ).json()["series"]
    assert [(p["dims"]["region"], p["value"]) for p in metric] == [(r[1], r[2]) for r in body["rows"]]


def test_no_group_by_and_a_coarser_granularity(sales):
    payload = {**QUERY, "group_by": [], "filters": {}, "granularity": "quarter"}
    body = run(sales, {**payload, "range": {"start": "2026-01-01T00:00:00+00:00", "end": "2026-07-01T00:00:00+00:00"}})
    assert body["columns"] == ["bucket", "revenue", "orders"]
    assert body["rows"] == [
        ["2026-01-01T00:00:00+00:00", 2100.0, 5],
        ["2026-04-01T00:00:00+00:00", 200.0, 1],
    ]


def test_a_reference_entity_has_no_buckets(sales):
    body = run(
        sales,
        {
            "entity": "sales_people",
            "measures": {"people": "COUNT_DISTINCT(salesperson_id)"},
            "group_by": ["region"],
            "range": RANGE,
        },
    )
    assert body["columns"] == ["bucket", "region", "people"]
    assert body["rows"] == [[None, "APAC", 1], [None, "EU", 2], [None, "US", 3]]


def test_a_filter_value_with_sql_is_bound_and_matches_nothing(sales):
    with queries() as seen:
        body = run(sales, {**QUERY, "filters": {"region": ["EU' OR '1'='1"]}})
    assert body["rows"] == []
    # The other statement reads the entity's data extent for the empty answer (no filter value in it).
    [(alias, sql, params)] = [q for q in seen if ANALYTICS in q[1] and 'AS "first"' not in q[1]]
    assert alias == "readonly" and "'1'='1" not in sql and "EU' OR '1'='1" in params.values()


# --- bad requests ------------------------------------------------------------------


def test_unknown_entity_is_a_404_naming_it(sales):
    body = assert_error(
        sales.post("/api/v1/query/", {**QUERY, "entity": "no_such_entity"}, format="json"),
        404,
        "unknown_entity",
        mentions=("no_such_entity",),
    )
    assert body["details"] == {"entity": "no_such_entity"}


@pytest.mark.parametrize(
    ("formula", "needle"),
    [
        ("SUM(colour)", "colour"),
        ("pg_sleep(10)", "pg_sleep"),
        ("SUM(amount); DROP TABLE x", ";"),
        ("(SELECT 1)", "SELECT"),
        ("VLOOKUP(amount, 1)", "VLOOKUP"),
        ("SUM(amount", "("),
    ],
)
def test_a_measure_with_a_bad_formula_is_a_400_naming_the_measure(sales, formula, needle):
    measures = {"revenue": "SUM(amount)", "bad_one": formula}
    with queries() as seen:
        response = sales.post("/api/v1/query/", {**QUERY, "measures": measures}, format="json")
    body = assert_error(response, 400, mentions=("bad_one", needle))
    assert body["details"]["measure"] == "bad_one"
    assert not [q for q in seen if q[0] == "readonly" or ANALYTICS in q[1]], seen


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        pytest.param({"measures": {}}, "measures", id="empty-measures"),
        pytest.param({"measures": {"Revenue": "SUM(amount)"}}, "Revenue", id="measure-name-case"),
        pytest.param({"measures": {"a; DROP TABLE x": "SUM(amount)"}}, "a; DROP TABLE x", id="measure-name-sql"),
        pytest.param({"measures": ["SUM(amount)"]}, "measures", id="measures-not-an-object"),
        pytest.param({"range": None}, "range", id="range-null"),
        pytest.param({"range": {"start": RANGE["start"]}}, "end", id="range-without-end"),
        pytest.param({"range": {"start": "yesterday", "end": RANGE["end"]}}, "start", id="range-not-a-date"),
        pytest.param({"granularity": "fortnight"}, "granularity", id="granularity"),
        pytest.param({"group_by": "region"}, "group_by", id="group-by-not-a-list"),
        pytest.param({"group_by": ["a", "b", "c", "d", "e", "f"]}, "group_by", id="group-by-too-many"),
        pytest.param({"filters": {"region": "EU"}}, "filters", id="filter-not-a-list"),
        pytest.param({"entity": ""}, "entity", id="entity-blank"),
    ],
)
def test_malformed_requests_are_400_naming_the_field(sales, change, needle):
    assert_error(sales.post("/api/v1/query/", {**QUERY, **change}, format="json"), 400, mentions=(needle,))


def test_missing_range_is_a_400(sales):
    payload = {k: v for k, v in QUERY.items() if k != "range"}
    body = assert_error(sales.post("/api/v1/query/", payload, format="json"), 400, mentions=("range",))
    assert "range" in body["details"]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-05-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00"),
        ("2026-03-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00"),
    ],
)
def test_end_not_after_start_is_a_400(sales, start, end):
    assert_error(
        sales.post("/api/v1/query/", {**QUERY, "range": {"start": start, "end": end}}, format="json"),
        400,
        "invalid_range",
        mentions=("end must be after start",),
    )


def test_too_many_buckets_is_a_400(sales):
    payload = {
        **QUERY,
        "granularity": "minute",
        "range": {"start": "2020-01-01T00:00:00+00:00", "end": "2026-01-01T00:00:00+00:00"},
    }
    assert_error(sales.post("/api/v1/query/", payload, format="json"), 400, "too_many_buckets", mentions=("limit",))


@pytest.mark.parametrize(
    ("change", "needle", "code"),
    [
        pytest.param({"group_by": ["colour"]}, "colour", "unknown_group_by_attribute", id="unknown-group-by"),
        pytest.param(
            {"group_by": ["region;DROP TABLE x"]},
            "region;DROP TABLE x",
            "unknown_group_by_attribute",
            id="group-by-sql",
        ),
        pytest.param({"filters": {"colour": ["red"]}}, "colour", "unknown_filter_attribute", id="unknown-filter"),
        pytest.param({"filters": {"amount": ["lots"]}}, "lots", "invalid_filter", id="filter-wrong-type"),
        pytest.param({"filters": {"region": []}}, "region", "invalid_filter", id="filter-no-value"),
    ],
)
def test_bad_paths_and_filter_values_are_400_naming_them(sales, change, needle, code):
    with queries() as seen:
        response = sales.post("/api/v1/query/", {**QUERY, **change}, format="json")
    assert_error(response, 400, code, mentions=(needle,))
    assert not [q for q in seen if q[0] == "readonly" or ANALYTICS in q[1]], seen


def test_another_tenants_entity_is_a_404(sales, api_client):
    other = MembershipFactory(role="analyst", is_default=True)
    api_client.force_authenticate(other.user)
    assert_error(
        api_client.post("/api/v1/query/", QUERY, format="json"), 404, "unknown_entity", mentions=("sales_orders",)
    )


def test_a_range_without_offset_is_a_400_as_on_the_metric_endpoint(sales):
    naive = {"start": "2026-03-01T00:00:00", "end": "2026-05-01T00:00:00"}
    assert sales.get("/api/v1/metrics/revenue", naive).status_code == 400
    assert_error(sales.post("/api/v1/query/", {**QUERY, "range": naive}, format="json"), 400, mentions=("offset",))


@pytest.mark.parametrize("name", ["bucket", "region"])
def test_a_measure_named_like_another_column_is_a_400(sales, name):
    measures = {name: "SUM(amount)", "orders": "COUNT(*)"}
    assert_error(sales.post("/api/v1/query/", {**QUERY, "measures": measures}, format="json"), 400, mentions=(name,))


def test_a_repeated_group_by_gives_unique_columns(sales):
    response = sales.post("/api/v1/query/", {**QUERY, "group_by": ["region", "region"]}, format="json")
    if response.status_code == 400:
        assert_error(response, 400, mentions=("region",))
    else:
        columns = run(sales, {**QUERY, "group_by": ["region", "region"]})["columns"]
        assert len(columns) == len(set(columns)), columns
