"""The engine's promises beyond single answers: push-down, caching (hit,
TTL per domain, invalidation by loads), tenant isolation including the
cache, domain handlers, batches, and compile checks at definition time."""

from dataclasses import replace

import pytest
from django.db import connections

from apps.calculations import cache
from apps.calculations.orchestrator import CalculationOrchestrator, DomainHandler, _handlers, domain_handler
from apps.calculations.tests.scenarios import (
    retention_define,
    retention_rows,
    rows_load,
    sales_define,
    sales_load,
    snapshot,
)
from apps.calculations.types import AccessContext, Granularity, MetricQuery
from apps.core.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

DAY = {"start": "2026-03-31", "end": "2026-04-01"}
MONTH = {"start": "2026-03-01", "end": "2026-05-01", "granularity": "month", "group_by": "region"}


def analyst_api(api_client_factory):
    membership = MembershipFactory(role="analyst", is_default=True)
    api = api_client_factory()
    api.force_authenticate(membership.user)
    return api, membership.client


@pytest.fixture
def api_pair():
    from rest_framework.test import APIClient

    return analyst_api(APIClient), analyst_api(APIClient)


@pytest.fixture
def api(api_pair):
    return api_pair[0][0]


def values(response) -> list:
    assert response.status_code == 200, response.content
    return [p["value"] for p in response.json()["series"]]


def test_aggregation_runs_in_postgres_and_only_summary_rows_come_back(api):
    retention_define(api)
    rows_load(api, "policy_snapshot", retention_rows(scale=3))  # 6,150 fact rows
    executed = []

    def record(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        executed.append((sql, context["cursor"].rowcount))
        return result

    with connections["readonly"].execute_wrapper(record):
        assert values(api.get("/api/v1/metrics/retention_rate", {**DAY, "group_by": "lob"})) == [0.9, 0.9]
    statements = [(sql, rows) for sql, rows in executed if "analytics_data" in sql]
    assert len(statements) == 1  # one statement for four metrics
    sql, rows_fetched = statements[0]
    assert rows_fetched == 2  # one row per (day, lob), not 6,150 facts
    assert "COUNT(DISTINCT" in sql and "GROUP BY" in sql and "FILTER(WHERE" in sql
    assert "'Active'" not in sql  # the literal is bound


def test_a_repeated_request_is_answered_from_the_cache(api):
    retention_define(api)
    rows_load(api, "policy_snapshot", retention_rows())
    first = api.get("/api/v1/metrics/retention_rate", DAY).json()
    executed = []
    with connections["readonly"].execute_wrapper(lambda ex, sql, *a: executed.append(sql) or ex(sql, *a)):
        second = api.get("/api/v1/metrics/retention_rate", DAY).json()
    assert first["cached"] is False and second["cached"] is True
    assert second["series"] == first["series"] and second["computed_at"] == first["computed_at"]
    assert not [sql for sql in executed if "analytics_data" in sql]
    # Other parameters are another entry.
    assert api.get("/api/v1/metrics/retention_rate", {**DAY, "group_by": "lob"}).json()["cached"] is False


def test_cache_ttl_follows_the_metrics_domain(api, settings):
    settings.AE_CALC_CACHE_TTL_BY_DOMAIN = {"finance": 300, "supply_chain": 3600}
    sales_define(api)  # revenue: finance; headcount: sales (default TTL)
    sales_load(api)
    api.get("/api/v1/metrics/revenue", MONTH)
    api.get("/api/v1/metrics/headcount", MONTH)
    connection = cache.cache_connection()
    ttls = {}
    for key in connection.scan_iter("ae:calc:*"):
        parts = key.decode().split(":")
        if len(parts) == 5 and parts[2].isdigit():
            ttls[parts[3]] = connection.ttl(key)
    assert 290 <= ttls["revenue"] <= 300
    assert 86_390 <= ttls["headcount"] <= 86_400


def test_loading_data_in_the_range_invalidates_and_the_next_answer_is_fresh(api):
    retention_define(api)
    rows_load(api, "policy_snapshot", retention_rows())
    assert values(api.get("/api/v1/metrics/end_count", DAY)) == [950]
    other_range = {"start": "2026-01-01", "end": "2026-01-02"}
    api.get("/api/v1/metrics/end_count", other_range)
    assert api.get("/api/v1/metrics/end_count", other_range).json()["cached"] is True

    rows_load(api, "policy_snapshot", [snapshot("2026-03-31", "LATE1", "Active", "Health")])

    fresh = api.get("/api/v1/metrics/end_count", DAY).json()
    assert fresh["cached"] is False and [p["value"] for p in fresh["series"]] == [951]
    # A cached range the load did not touch stays cached.
    assert api.get("/api/v1/metrics/end_count", other_range).json()["cached"] is True


def test_a_load_into_a_joined_entity_invalidates_metrics_reading_through_it(api):
    sales_define(api)
    sales_load(api)
    assert values(api.get("/api/v1/metrics/revenue", {**MONTH, "filter[region]": "EU"})) == [600.0, 200.0]
    rows_load(api, "sales_people", [{"salesperson_id": "s3", "name": "S3", "region": "EU"}])
    # s3 now appears in both regions (a duplicate key in the reference table): the answer changes, not stale.
    after = api.get("/api/v1/metrics/revenue", {**MONTH, "filter[region]": "EU"}).json()
    assert after["cached"] is False


def test_another_tenant_never_sees_this_tenants_data_even_through_the_cache(api_pair):
    (api_a, _), (api_b, _) = api_pair
    for api in (api_a, api_b):
        retention_define(api)
    rows_load(api_a, "policy_snapshot", retention_rows())
    rows_load(api_b, "policy_snapshot", retention_rows(scale=2))

    a = api_a.get("/api/v1/metrics/end_count", DAY).json()
    b = api_b.get("/api/v1/metrics/end_count", DAY).json()
    assert [p["value"] for p in a["series"]] == [950]
    assert [p["value"] for p in b["series"]] == [1900]
    assert b["cached"] is False  # same code, same parameters: still not A's entry
    assert api_b.get("/api/v1/metrics/end_count", DAY).json()["series"] == b["series"]
    # A client's user asking for another client by header is refused.
    other = api_a.get("/api/v1/metrics/end_count", DAY, HTTP_X_CLIENT=api_pair[1][1].code)
    assert other.status_code in (403, 404)


def test_a_domain_handler_overrides_the_generic_one(api):
    sales_define(api)
    sales_load(api)

    @domain_handler("finance")
    class Thousands(DomainHandler):
        def compute(self, *, compiled, query):
            result = super().compute(compiled=compiled, query=query)
            series = tuple(replace(p, value=p.value / 1000) for p in result.series)
            return replace(result, unit="k" + result.unit, series=series)

    try:
        response = api.get("/api/v1/metrics/revenue", MONTH).json()
        assert response["unit"] == "kEUR"
        assert [p["value"] for p in response["series"]] == [0.6, 1.5, 0.2]
        # Other domains keep the generic handler.
        assert values(api.get("/api/v1/metrics/headcount", MONTH)) == [1, 2, 3]
    finally:
        _handlers.pop("finance", None)


def test_calculate_batch_runs_metrics_in_parallel_and_reports_each(api_pair):
    (api, client), _ = api_pair
    sales_define(api)
    sales_load(api)
    retention_define(api)
    rows_load(api, "policy_snapshot", retention_rows())
    from datetime import UTC, datetime

    march = {"start": datetime(2026, 3, 1, tzinfo=UTC), "end": datetime(2026, 4, 1, tzinfo=UTC)}
    queries = [
        MetricQuery(metric="revenue", granularity=Granularity.MONTH, **march),
        MetricQuery(metric="retention_rate", start=datetime(2026, 3, 31, tzinfo=UTC), end=march["end"]),
        MetricQuery(metric="no_such_metric", **march),
        MetricQuery(metric="sales_efficiency", granularity=Granularity.MONTH, group_by=("region",), **march),
    ]
    orchestrator = CalculationOrchestrator(context=AccessContext(client_id=client.pk))
    items = orchestrator.calculate_batch(queries, parallelism=2)
    assert [i.query.metric for i in items] == ["revenue", "retention_rate", "no_such_metric", "sales_efficiency"]
    assert [p.value for p in items[0].result.series] == [2100.0]
    assert [p.value for p in items[1].result.series] == [0.9]
    assert items[2].result is None and items[2].error.code == "unknown_metric"
    assert [(p.dims, p.value) for p in items[3].result.series] == [({"region": "EU"}, 300.0), ({"region": "US"}, 500.0)]
    # Results were recorded in metric_history.
    history = api.get("/api/v1/metrics/sales_efficiency/history", {"granularity": "month"}).json()
    assert [(r["dims"], r["value"]) for r in history["results"]] == [
        ({"region": "EU"}, 300.0),
        ({"region": "US"}, 500.0),
    ]


def test_a_formula_the_engine_cannot_compute_is_refused_at_definition(api):
    sales_define(api)
    for formula, culprit in (
        ("AT_START(COUNT(salesperson_id))", "AT_START"),
        ("COUNT(salesperson_id) WHERE name >= PERIOD_START()", "PERIOD_START"),
        ("LAST(name)", "LAST"),
    ):
        payload = {"code": "bad", "name": "Bad", "formula": formula, "entity": "sales_people"}
        response = api.post("/api/v1/ontology/metrics/", payload, format="json")
        assert response.status_code == 400, (formula, response.content)
        assert culprit in response.json()["error"]["message"]
    assert api.get("/api/v1/ontology/metrics/bad").status_code == 404


def test_a_statement_over_the_time_limit_is_a_503_naming_the_limit(api, settings):
    retention_define(api)
    rows_load(api, "policy_snapshot", retention_rows(scale=3))
    settings.AE_CALC_STATEMENT_TIMEOUT_MS = 1
    response = api.get("/api/v1/metrics/retention_rate", {**DAY, "group_by": "lob"})
    assert response.status_code == 503, response.content
    error = response.json()["error"]
    assert error["code"] == "query_timeout" and "0.001 s" in error["message"]
