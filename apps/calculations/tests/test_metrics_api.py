"""GET /api/v1/metrics/<code> on the spec's lifecycles, end to end through
the API: definitions, loads, the compiled SQL on the read-only alias, the
cache and the history."""

import pytest

from apps.calculations.tests.scenarios import retention_define, retention_rows, rows_load, sales_define, sales_load

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

DAY = {"start": "2026-03-31", "end": "2026-04-01"}


@pytest.fixture
def api(api_client, analyst):
    api_client.force_authenticate(analyst.user)
    return api_client


def series(response) -> list[tuple]:
    assert response.status_code == 200, response.content
    return [(p["bucket"], p["dims"], p["value"]) for p in response.json()["series"]]


def test_lifecycle_1_retention_is_090_by_day_and_by_lob(api):
    retention_define(api)
    rows_load(api, "policy_snapshot", retention_rows())

    for code, expected in (("start_count", 1000), ("end_count", 950), ("new_count", 50), ("retention_rate", 0.9)):
        assert series(api.get(f"/api/v1/metrics/{code}", DAY)) == [("2026-03-31T00:00:00Z", {}, expected)], code

    body = api.get("/api/v1/metrics/retention_rate", {**DAY, "group_by": "lob"}).json()
    assert body["metric"] == "retention_rate"
    assert body["unit"] == "ratio"
    assert body["granularity"] == "day"
    assert body["route"] == "raw"
    assert [(p["dims"], p["value"]) for p in body["series"]] == [({"lob": "Health"}, 0.9), ({"lob": "Motor"}, 0.9)]


def test_the_specs_own_retention_formula_and_filters(api):
    retention_define(api)
    rows_load(api, "policy_snapshot", retention_rows())
    payload = {
        "code": "retention_spec",
        "name": "Retention (spec)",
        "formula": "1 - ((StartCount - EndCount) / StartCount)",
        "unit": "ratio",
    }
    assert api.post("/api/v1/ontology/metrics/", payload, format="json").status_code == 201
    assert series(api.get("/api/v1/metrics/retention_spec", DAY)) == [("2026-03-31T00:00:00Z", {}, 0.95)]
    # Filters narrow every metric the derived one reads.
    health = api.get("/api/v1/metrics/end_count", {**DAY, "filter[lob]": "Health"})
    assert series(health) == [("2026-03-31T00:00:00Z", {}, 570)]
    both = api.get("/api/v1/metrics/end_count", {**DAY, "filter[lob]": "Health,Motor"})
    assert series(both) == [("2026-03-31T00:00:00Z", {}, 950)]


def test_the_first_period_without_an_opening_snapshot_has_no_value(api):
    retention_define(api)
    rows_load(api, "policy_snapshot", retention_rows())
    response = api.get("/api/v1/metrics/retention_rate", {"start": "2026-03-30", "end": "2026-04-01"})
    assert series(response) == [("2026-03-30T00:00:00Z", {}, None), ("2026-03-31T00:00:00Z", {}, 0.9)]


def test_lifecycle_2_revenue_per_head_by_region_across_a_relationship(api):
    sales_define(api)
    sales_load(api)
    month = {"start": "2026-03-01", "end": "2026-05-01", "granularity": "month", "group_by": "region"}

    assert series(api.get("/api/v1/metrics/revenue", month)) == [
        ("2026-03-01T00:00:00Z", {"region": "EU"}, 600.0),
        ("2026-03-01T00:00:00Z", {"region": "US"}, 1500.0),
        ("2026-04-01T00:00:00Z", {"region": "EU"}, 200.0),
    ]
    # A reference entity has no periods: one value per region, no bucket.
    assert series(api.get("/api/v1/metrics/headcount", month)) == [
        (None, {"region": "APAC"}, 1),
        (None, {"region": "EU"}, 2),
        (None, {"region": "US"}, 3),
    ]
    assert series(api.get("/api/v1/metrics/sales_efficiency", month)) == [
        ("2026-03-01T00:00:00Z", {"region": "EU"}, 300.0),
        ("2026-03-01T00:00:00Z", {"region": "US"}, 500.0),
        ("2026-04-01T00:00:00Z", {"region": "EU"}, 100.0),
    ]
    # The relationship can be named; a filter through it narrows the facts.
    explicit = api.get("/api/v1/metrics/revenue", {**month, "group_by": "sold_by.region", "filter[region]": "US"})
    assert series(explicit) == [("2026-03-01T00:00:00Z", {"sold_by.region": "US"}, 1500.0)]


def test_division_by_zero_gives_no_value(api):
    sales_define(api)
    sales_load(api)
    payload = {"code": "odd_ratio", "name": "Odd", "formula": "SUM(amount) / (COUNT(order_id) - COUNT(order_id))"}
    payload["entity"] = "sales_orders"
    assert api.post("/api/v1/ontology/metrics/", payload, format="json").status_code == 201
    response = api.get(
        "/api/v1/metrics/odd_ratio", {"start": "2026-03-01", "end": "2026-04-01", "granularity": "month"}
    )
    assert series(response) == [("2026-03-01T00:00:00Z", {}, None)]
