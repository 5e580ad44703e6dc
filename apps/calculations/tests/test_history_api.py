"""GET /api/v1/metrics/<code>/history: the persisted points of canonical
results (no request filters), paginated, per tenant."""

import pytest
from rest_framework.test import APIClient

from apps.calculations.tests.scenarios import rows_load, sales_define, sales_load
from apps.core.tests.assertions import assert_error
from apps.core.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

RANGE = {"start": "2026-03-01", "end": "2026-05-01"}
MONTHLY_BY_REGION = {**RANGE, "granularity": "month", "group_by": "region"}
HISTORY = "/api/v1/metrics/revenue/history"
BY_REGION = {
    ("2026-03-01T00:00:00Z", "EU", 600.0),
    ("2026-03-01T00:00:00Z", "US", 1500.0),
    ("2026-04-01T00:00:00Z", "EU", 200.0),
}


@pytest.fixture
def api(api_client, analyst):
    api_client.force_authenticate(analyst.user)
    sales_define(api_client)
    sales_load(api_client)
    return api_client


def compute(api, params: dict, code: str = "revenue") -> dict:
    response = api.get(f"/api/v1/metrics/{code}", params)
    assert response.status_code == 200, response.content
    return response.json()


def history(api, params: dict | None = None, code: str = "revenue") -> dict:
    response = api.get(f"/api/v1/metrics/{code}/history", params or {})
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}, body
    return body


def points(body: dict) -> set[tuple]:
    return {(p["bucket"], tuple(sorted(p["dims"].items())), p["value"]) for p in body["results"]}


def by_region(rows: set[tuple[str, str, float]]) -> set[tuple]:
    return {(bucket, (("region", region),), value) for bucket, region, value in rows}


def test_a_computed_series_is_persisted_and_listed(api):
    assert history(api, RANGE)["count"] == 0
    result = compute(api, MONTHLY_BY_REGION)

    body = history(api, RANGE)
    assert body["count"] == 3 and body["next"] is None and body["previous"] is None
    assert points(body) == by_region(BY_REGION)
    for point in body["results"]:
        assert set(point) == {"bucket", "granularity", "dims", "value", "unit", "computed_at"}
        assert point["granularity"] == "month"
        assert point["unit"] == "EUR"
        assert point["computed_at"] == result["computed_at"]
    # In bucket order.
    assert [p["bucket"] for p in body["results"]] == sorted(p["bucket"] for p in body["results"])


def test_history_paginates(api):
    compute(api, MONTHLY_BY_REGION)
    first = history(api, {**RANGE, "page_size": 2})
    assert first["count"] == 3 and len(first["results"]) == 2
    assert first["next"] and first["previous"] is None
    second = api.get(first["next"])
    assert second.status_code == 200, second.content
    second = second.json()
    assert len(second["results"]) == 1 and second["next"] is None and second["previous"]
    assert points(first) | points(second) == by_region(BY_REGION)
    assert_error(api.get(HISTORY, {**RANGE, "page": 99}), 404)


def test_history_is_narrowed_by_range_and_granularity(api):
    compute(api, MONTHLY_BY_REGION)
    compute(api, {**RANGE, "granularity": "day"})
    april = history(api, {"start": "2026-04-01", "end": "2026-05-01", "granularity": "month"})
    assert points(april) == by_region({("2026-04-01T00:00:00Z", "EU", 200.0)})
    # Open-ended sides.
    assert history(api, {"end": "2026-04-01T00:00:00+00:00", "granularity": "month"})["count"] == 2
    assert history(api, {"start": "2026-04-01", "granularity": "month"})["count"] == 1
    days = history(api, {**RANGE, "granularity": "day", "page_size": 100})
    assert {p["granularity"] for p in days["results"]} == {"day"}
    assert sum(p["value"] for p in days["results"]) == 2300.0
    assert history(api, RANGE)["count"] == 3 + days["count"]


def test_a_filtered_request_is_not_recorded(api):
    compute(api, {**MONTHLY_BY_REGION, "filter[region]": "EU"})
    assert history(api, RANGE)["count"] == 0

    monthly = {**RANGE, "granularity": "month"}
    compute(api, monthly)
    canonical = {("2026-03-01T00:00:00Z", (), 2100.0), ("2026-04-01T00:00:00Z", (), 200.0)}
    assert points(history(api, RANGE)) == canonical
    # A filtered result for the same buckets and dims ({}) does not overwrite them.
    filtered = compute(api, {**monthly, "filter[region]": "EU"})
    assert [p["value"] for p in filtered["series"]] == [600.0, 200.0]
    assert points(history(api, RANGE)) == canonical


def test_a_value_without_a_bucket_is_not_recorded(api):
    """A reference entity's metric has one value per range, no bucket."""
    compute(api, MONTHLY_BY_REGION, code="headcount")
    assert history(api, RANGE, code="headcount")["count"] == 0


def test_a_derived_metric_is_recorded_too(api):
    compute(api, MONTHLY_BY_REGION, code="sales_efficiency")
    assert points(history(api, RANGE, code="sales_efficiency")) == by_region(
        {
            ("2026-03-01T00:00:00Z", "EU", 300.0),
            ("2026-03-01T00:00:00Z", "US", 500.0),
            ("2026-04-01T00:00:00Z", "EU", 100.0),
        }
    )


def test_recomputing_after_a_load_replaces_the_points(api):
    compute(api, MONTHLY_BY_REGION)
    order = {"ordered_at": "2026-03-10T12:00:00+00:00", "order_id": "o7", "salesperson_id": "s2", "amount": "50.00"}
    rows_load(api, "sales_orders", [order])
    again = compute(api, MONTHLY_BY_REGION)
    assert again["cached"] is False
    body = history(api, RANGE)
    assert body["count"] == 3
    assert points(body) == by_region(
        {
            ("2026-03-01T00:00:00Z", "EU", 650.0),
            ("2026-03-01T00:00:00Z", "US", 1500.0),
            ("2026-04-01T00:00:00Z", "EU", 200.0),
        }
    )
    assert {p["computed_at"] for p in body["results"]} == {again["computed_at"]}


def test_unknown_metric_is_a_404(api):
    body = assert_error(api.get("/api/v1/metrics/no_such_metric/history", RANGE), 404, mentions=("no_such_metric",))
    assert body["code"] == "unknown_metric"


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        pytest.param({"start": "2026-04-01", "end": "2026-03-01"}, "end must be after start", id="end-before-start"),
        pytest.param({"start": "2026-04-01", "end": "2026-04-01"}, "end must be after start", id="end-eq-start"),
        pytest.param({"start": "2026-03-01T00:00:00"}, "offset", id="start-without-offset"),
        pytest.param({"end": "soon"}, "soon", id="end-not-a-date"),
        pytest.param({"granularity": "fortnight"}, "fortnight", id="granularity"),
    ],
)
def test_bad_history_parameters_are_400_naming_them(api, params, needle):
    assert_error(api.get(HISTORY, params), 400, mentions=(needle,))


@pytest.mark.parametrize("params", [{"filter[region]": "EU"}, {"granulariy": "day"}])
def test_an_unknown_history_parameter_is_a_400(api, params):
    compute(api, MONTHLY_BY_REGION)
    assert_error(api.get(HISTORY, {**RANGE, **params}), 400, mentions=(next(iter(params)),))


def test_another_tenant_sees_nothing(api, analyst):
    compute(api, MONTHLY_BY_REGION)
    assert history(api, RANGE)["count"] == 3

    # A tenant with the same definitions but no computations: an empty history.
    twin = APIClient()
    twin.force_authenticate(MembershipFactory(role="analyst", is_default=True).user)
    sales_define(twin)
    assert history(twin, RANGE)["count"] == 0
    assert history(twin, {})["count"] == 0
    # Once it computes, each tenant sees only its own points.
    assert compute(twin, MONTHLY_BY_REGION)["series"] == []
    assert history(twin, RANGE)["count"] == 0
    assert history(api, RANGE)["count"] == 3

    # A tenant without the metric: 404; naming the first tenant: 403.
    stranger = APIClient()
    stranger.force_authenticate(MembershipFactory(role="analyst", is_default=True).user)
    assert_error(stranger.get(HISTORY, RANGE), 404, mentions=("revenue",))
    assert_error(stranger.get(HISTORY, {**RANGE, "client": analyst.client.code}), 403)
