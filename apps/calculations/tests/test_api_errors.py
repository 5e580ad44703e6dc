"""Bad input to the calculation engine (issue 4, "Bad input"): each answer is
a 4xx in the API's error shape naming the culprit, nothing reaches the
database unparsed, and a rejected formula runs no statement."""

from contextlib import ExitStack, contextmanager
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connections
from rest_framework.test import APIClient

from apps.calculations.tests.scenarios import (
    POLICY_SNAPSHOT,
    SALES_ORDERS,
    created,
    retention_define,
    sales_define,
    sales_load,
)
from apps.core.tests.assertions import assert_error
from apps.core.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

MONTHS = {"start": "2026-03-01", "end": "2026-05-01", "granularity": "month"}
ANALYTICS = settings.ANALYTICS_SCHEMA
EXTENT_SELECT = 'AS "first"'  # the statement reading an empty answer's data extent (apps/calculations/extent.py)


@pytest.fixture
def api(api_client, analyst):
    api_client.force_authenticate(analyst.user)
    return api_client


@pytest.fixture
def sales(api):
    sales_define(api)
    sales_load(api)
    return api


@pytest.fixture
def policy(api):
    """The policy snapshot entity alone (no metrics, no rows)."""
    created(api.post("/api/v1/ontology/entities/", POLICY_SNAPSHOT, format="json"))
    return api


def sql_text(sql) -> str:
    return sql if isinstance(sql, str) else repr(sql)


@contextmanager
def queries():
    """Every statement run on either alias while the block runs: (alias, sql, params)."""
    seen: list[tuple[str, str, object]] = []

    def wrapper_for(alias: str):
        def wrapper(execute, sql, params, many, context):
            seen.append((alias, sql_text(sql), params))
            return execute(sql, params, many, context)

        return wrapper

    with ExitStack() as stack:
        for alias in ("default", "readonly"):
            stack.enter_context(connections[alias].execute_wrapper(wrapper_for(alias)))
        yield seen


def tables() -> set[str]:
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('public', %s)",
            [ANALYTICS],
        )
        return {row[0] for row in cursor.fetchall()}


def series(response) -> list[tuple]:
    assert response.status_code == 200, response.content
    return [(p["bucket"], p["dims"], p["value"]) for p in response.json()["series"]]


# --- the metric request ------------------------------------------------------------


def test_unknown_metric_is_a_404_naming_it(api):
    body = assert_error(
        api.get("/api/v1/metrics/no_such_metric", MONTHS), 404, "unknown_metric", mentions=("no_such_metric",)
    )
    assert body["details"] == {"metric": "no_such_metric"}


def test_a_metric_code_with_sql_in_the_url_is_a_404_not_a_query(sales):
    code = "revenue;DROP TABLE x"
    before = tables()
    with queries() as seen:
        response = sales.get(f"/api/v1/metrics/{quote(code)}", MONTHS)
    assert_error(response, 404, "unknown_metric", mentions=(code,))
    assert not [q for q in seen if ANALYTICS in q[1] or "DROP" in q[1].upper()]
    assert tables() == before


BAD_PARAMETERS = [
    # (query string, expected error code, words the message must contain)
    pytest.param({"groupby": "region"}, "unknown_parameter", ["groupby"], id="typo-groupby"),
    pytest.param({"filter": "EU"}, "unknown_parameter", ["filter"], id="filter-without-attribute"),
    pytest.param({"granularity": "fortnight"}, "invalid_granularity", ["fortnight"], id="granularity"),
    pytest.param({"granularity": "MONTH"}, "invalid_granularity", ["MONTH"], id="granularity-case"),
    pytest.param(
        {"start": "2026-03-01T00:00:00", "end": "2026-04-01T00:00:00+00:00"},
        "invalid_range",
        ["start", "offset"],
        id="start-without-offset",
    ),
    pytest.param(
        {"start": "2026-03-01T00:00:00+00:00", "end": "2026-04-01T00:00:00"},
        "invalid_range",
        ["end", "offset"],
        id="end-without-offset",
    ),
    pytest.param({"start": "yesterday"}, "invalid_range", ["start", "yesterday"], id="start-not-a-date"),
    pytest.param({"start": "2026-02-30"}, "invalid_range", ["start", "2026-02-30"], id="start-impossible-day"),
    pytest.param({"start": "2026-03-01T25:00:00+00:00"}, "invalid_range", ["start"], id="start-impossible-hour"),
    pytest.param({"start": "2026-03-01T00:00:00+25:00"}, "invalid_range", ["start"], id="start-impossible-offset"),
    pytest.param({"start": "2026-03-01", "end": "2026-03-01"}, "invalid_range", ["end", "start"], id="end-eq-start"),
    pytest.param(
        {"start": "2026-04-01", "end": "2026-03-01"}, "invalid_range", ["end", "start"], id="end-before-start"
    ),
    pytest.param(
        {"start": "2020-01-01", "end": "2026-01-01", "granularity": "minute"},
        "too_many_buckets",
        ["minute", "limit"],
        id="minutes-over-years",
    ),
    pytest.param({"group_by": "colour"}, "unknown_group_by_attribute", ["colour"], id="unknown-group-by"),
    pytest.param(
        {"group_by": "lob;DROP TABLE x"}, "unknown_group_by_attribute", ["lob;DROP TABLE x"], id="group-by-sql"
    ),
    pytest.param(
        {"group_by": 'region") FROM x; --'}, "unknown_group_by_attribute", ['region") FROM x; --'], id="group-by-quote"
    ),
    pytest.param(
        {"group_by": "sold_by.colour"}, "unknown_group_by_attribute", ["sold_by.colour"], id="group-by-unknown-path"
    ),
    pytest.param({"group_by": "a,b,c,d,e,f"}, "invalid_group_by", ["5"], id="group-by-too-many"),
    pytest.param({"filter[colour]": "red"}, "unknown_filter_attribute", ["colour"], id="unknown-filter"),
    pytest.param(
        {"filter[region;DROP TABLE x]": "EU"},
        "unknown_filter_attribute",
        ["region;DROP TABLE x"],
        id="filter-attribute-sql",
    ),
    pytest.param({"filter[amount]": "lots"}, "invalid_filter", ["amount", "lots"], id="filter-decimal-type"),
    pytest.param(
        {"filter[ordered_at]": "yesterday"}, "invalid_filter", ["ordered_at", "yesterday"], id="filter-timestamp-type"
    ),
    pytest.param({"filter[region]": ""}, "invalid_filter", ["filter[region]"], id="filter-empty"),
    pytest.param({"mode": "bogus"}, "invalid_mode", ["bogus"], id="mode"),
]


@pytest.mark.parametrize(("params", "code", "needles"), BAD_PARAMETERS)
def test_a_bad_parameter_is_a_400_naming_it_and_runs_no_analytics_query(sales, params, code, needles):
    with queries() as seen:
        response = sales.get("/api/v1/metrics/revenue", {**MONTHS, **params})
    assert_error(response, 400, code, mentions=needles)
    assert not [q for q in seen if q[0] == "readonly" or ANALYTICS in q[1]], seen


def test_a_lowered_bucket_cap_is_enforced(sales, settings):
    settings.AE_CALC_MAX_BUCKETS = 10
    body = assert_error(
        sales.get("/api/v1/metrics/revenue", {"start": "2026-03-01", "end": "2026-04-01", "granularity": "day"}),
        400,
        "too_many_buckets",
        mentions=("limit of 10",),
    )
    assert body["details"]["limit"] == 10
    assert body["details"]["buckets"] > 10
    # Within the cap the same range answers.
    assert series(
        sales.get("/api/v1/metrics/revenue", {"start": "2026-03-01", "end": "2026-04-01", "granularity": "week"})
    )


def test_a_filter_value_of_the_wrong_type_names_the_attribute(policy):
    payload = {"code": "policies", "name": "Policies", "formula": "COUNT(policy_id)", "entity": "policy_snapshot"}
    created(policy.post("/api/v1/ontology/metrics/", payload, format="json"))
    body = assert_error(
        policy.get("/api/v1/metrics/policies", {"filter[start_date]": "yesterday"}),
        400,
        "invalid_filter",
        mentions=("start_date", "yesterday"),
    )
    assert body["details"]["attribute"] == "start_date"


@pytest.mark.parametrize(
    ("attribute", "clean", "value"),
    [
        ("region", "EU", "EU' OR '1'='1"),
        ("order_id", "o1", "o1' OR '1'='1"),
        ("region", "EU", "EU'); DROP TABLE x; --"),
        ("order_id", "o1", 'o1" OR "1"="1'),
    ],
)
def test_a_filter_value_with_quotes_and_sql_is_bound_not_injected(sales, attribute, clean, value):
    # The clean value matches rows; with SQL appended it matches none (not every row).
    assert series(sales.get("/api/v1/metrics/revenue", {**MONTHS, f"filter[{attribute}]": clean}))
    before = tables()
    with queries() as seen:
        response = sales.get("/api/v1/metrics/revenue", {**MONTHS, f"filter[{attribute}]": value})
    assert series(response) == []
    analytics = [q for q in seen if ANALYTICS in q[1]]
    assert analytics and {q[0] for q in analytics} == {"readonly"}
    for _, sql, params in analytics:
        assert value not in sql and "'1'='1" not in sql and "DROP" not in sql.upper()
        # The empty answer's data extent (first/last time) reads no request filter: nothing to bind.
        assert value in params.values() or EXTENT_SELECT in sql
    assert tables() == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("get", "/api/v1/metrics/revenue", id="metric"),
        pytest.param("get", "/api/v1/metrics/revenue/history", id="history"),
        pytest.param("post", "/api/v1/query/", id="query"),
        pytest.param("post", "/api/v1/ontology/metrics/", id="define-metric"),
    ],
)
def test_unauthenticated_requests_are_401(db, method, path):
    response = getattr(APIClient(), method)(path, MONTHS if method == "get" else {}, format="json")
    assert_error(response, 401, "not_authenticated")


@pytest.fixture
def other(db):
    """A second tenant with a metric of its own."""
    membership = MembershipFactory(role="analyst", is_default=True)
    client = APIClient()
    client.force_authenticate(membership.user)
    created(client.post("/api/v1/ontology/entities/", SALES_ORDERS, format="json"))
    payload = {"code": "secret_revenue", "name": "Secret", "formula": "SUM(amount)", "entity": "sales_orders"}
    created(client.post("/api/v1/ontology/metrics/", payload, format="json"))
    assert client.get("/api/v1/metrics/secret_revenue", MONTHS).status_code == 200
    return membership


def test_another_tenants_metric_is_a_404(api, other):
    assert_error(api.get("/api/v1/metrics/secret_revenue", MONTHS), 404, "unknown_metric", mentions=("secret_revenue",))
    assert_error(api.get("/api/v1/metrics/secret_revenue/history"), 404, mentions=("secret_revenue",))
    assert_error(api.get("/api/v1/ontology/metrics/secret_revenue/"), 404)
    # Naming the other tenant does not help.
    assert_error(api.get("/api/v1/metrics/secret_revenue", {**MONTHS, "client": other.client.code}), 403)
    assert_error(api.get("/api/v1/metrics/secret_revenue", MONTHS, HTTP_X_CLIENT=other.client.code), 403)


# --- a formula from outside ------------------------------------------------------


INJECTIONS = [
    # (formula, words the message must contain)
    pytest.param("COUNT(policy_id); DROP TABLE x", [";"], id="semicolon-drop"),
    pytest.param("COUNT(policy_id) -- c", ["comment"], id="line-comment"),
    pytest.param("/* c */ COUNT(policy_id)", ["comment"], id="block-comment"),
    pytest.param('COUNT("policy""id")', ["policy"], id="quoted-identifier"),
    pytest.param("(SELECT 1)", ["SELECT"], id="sub-select"),
    pytest.param("COUNT(policy_id) / (SELECT COUNT(*) FROM pg_tables)", ["SELECT"], id="nested-sub-select"),
    pytest.param("pg_sleep(10)", ["pg_sleep"], id="pg-sleep"),
    pytest.param("SUM(premium) + pg_sleep(10)", ["pg_sleep"], id="pg-sleep-in-arithmetic"),
    pytest.param("VLOOKUP(a, b)", ["VLOOKUP"], id="excel-vlookup"),
    pytest.param("Sheet2!A1", ["!"], id="cross-sheet"),
    pytest.param("SUM(premium) WHERE status = 'a' UNION SELECT 1", ["UNION"], id="union"),
    pytest.param("SUM(premium) WHERE status = 'a'; DELETE FROM x", [";"], id="semicolon-delete"),
    pytest.param("SUM(analytics_data.x.premium)", ["."], id="schema-qualified"),
    pytest.param("COUNT(policy_id", ["("], id="unbalanced"),
]


@pytest.mark.parametrize(("formula", "needles"), INJECTIONS)
def test_an_injected_formula_is_rejected_at_once_and_never_reaches_the_database(policy, formula, needles):
    before = tables()
    payload = {"code": "evil", "name": "Evil", "formula": formula, "entity": "policy_snapshot"}
    with queries() as seen:
        response = policy.post("/api/v1/ontology/metrics/", payload, format="json")
    body = assert_error(response, 400, mentions=needles)
    assert body["code"] in ("invalid_formula", "unknown_attribute", "unknown_reference", "unknown_name"), body
    # The statement log of both aliases is the evidence that pg_sleep(10) and
    # the rest never ran (no PG_SLEEP below), not how long the request took.
    assert not [q for q in seen if q[0] == "readonly" or ANALYTICS in q[1]], seen
    for _, sql, _params in seen:
        assert formula not in sql
        for word in ("DROP", "DELETE", "PG_SLEEP", "UNION", "VLOOKUP"):
            assert word not in sql.upper(), sql
    assert tables() == before
    assert_error(policy.get("/api/v1/ontology/metrics/evil/"), 404)
    assert_error(policy.get("/api/v1/metrics/evil"), 404, mentions=("evil",))


def test_an_injected_formula_does_not_replace_a_stored_one(policy):
    payload = {"code": "policies", "name": "Policies", "formula": "COUNT(policy_id)", "entity": "policy_snapshot"}
    created(policy.post("/api/v1/ontology/metrics/", payload, format="json"))
    bad = {**payload, "formula": "COUNT(policy_id); DROP TABLE x"}
    assert_error(
        policy.put("/api/v1/ontology/metrics/policies/", bad, format="json"), 400, "invalid_formula", mentions=(";",)
    )
    assert_error(
        policy.patch("/api/v1/ontology/metrics/policies/", {"formula": "pg_sleep(10)"}, format="json"),
        400,
        "invalid_formula",
        mentions=("pg_sleep",),
    )
    assert policy.get("/api/v1/ontology/metrics/policies/").json()["formula"] == "COUNT(policy_id)"


def test_a_string_literal_with_sql_in_a_formula_is_a_bound_value(policy):
    """Quotes and SQL inside a string literal are data: the metric is stored
    and the literal reaches the database as a parameter."""
    formula = "COUNT(policy_id) WHERE status = 'a''; DROP TABLE x; --'"
    payload = {"code": "odd_status", "name": "Odd", "formula": formula, "entity": "policy_snapshot"}
    created(policy.post("/api/v1/ontology/metrics/", payload, format="json"))
    before = tables()
    with queries() as seen:
        response = policy.get("/api/v1/metrics/odd_status", {"start": "2026-03-01", "end": "2026-03-03"})
    assert series(response) == []
    analytics = [q for q in seen if ANALYTICS in q[1]]
    assert analytics and {q[0] for q in analytics} == {"readonly"}
    for _, sql, params in analytics:
        assert "DROP" not in sql.upper()
        assert "a'; DROP TABLE x; --" in params.values() or EXTENT_SELECT in sql
    assert tables() == before


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("code", "x; DROP TABLE y", "x; DROP TABLE y"),
        ("code", "Revenue", "Revenue"),
        ("entity", "policy_snapshot; DROP TABLE x", "policy_snapshot; DROP TABLE x"),
        ("mode", "bogus", "bogus"),
    ],
)
def test_other_bad_metric_fields_are_400_naming_them(policy, field, value, needle):
    before = tables()
    payload = {"code": "policies", "name": "Policies", "formula": "COUNT(policy_id)", "entity": "policy_snapshot"}
    assert_error(
        policy.post("/api/v1/ontology/metrics/", {**payload, field: value}, format="json"), 400, mentions=(needle,)
    )
    assert tables() == before


def test_unknown_names_in_a_formula_are_400_naming_them(policy):
    payload = {"code": "m", "name": "M", "entity": "policy_snapshot"}
    assert_error(
        policy.post("/api/v1/ontology/metrics/", {**payload, "formula": "SUM(colour)"}, format="json"),
        400,
        mentions=("colour",),
    )
    assert_error(
        policy.post("/api/v1/ontology/metrics/", {**payload, "formula": "NoSuchMetric / 2"}, format="json"),
        400,
        mentions=("NoSuchMetric",),
    )


# --- extreme but well-formed ranges: never a 500 ------------------------------------


@pytest.mark.parametrize(
    ("metric", "params"),
    [
        pytest.param(
            "end_count",
            {"start": "9999-12-30", "end": "9999-12-31T12:00:00+00:00"},
            id="date-end-9999",
        ),
        pytest.param(
            "start_count",
            {"start": "0001-01-01", "end": "0001-02-01", "granularity": "year"},
            id="lookback-year-1",
        ),
        pytest.param(
            "end_count",
            {"start": "0001-01-01T00:00:00+01:00", "end": "0001-01-03"},
            id="date-start-before-year-1",
        ),
        pytest.param("revenue", {"start": "0001-01-01", "end": "0001-01-03"}, id="timestamp-year-1"),
        pytest.param("revenue", {"start": "9999-12-30", "end": "9999-12-31"}, id="timestamp-year-9999"),
    ],
)
def test_ranges_at_the_ends_of_the_calendar_are_not_a_500(api, metric, params):
    """Well-formed moments near the ends of the calendar answer (or are a 4xx), never a 500."""
    retention_define(api)
    sales_define(api)
    response = api.get(f"/api/v1/metrics/{metric}", params)
    assert response.status_code < 500, response.content
    if response.status_code != 200:
        assert_error(response, response.status_code)
