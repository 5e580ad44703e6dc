"""The router through the metrics API on the Lifecycle 2 data: the response
says which storage answered (raw, rollup, rollup+raw), `explain=1` says why
and shows the SQL, answers equal the raw scan's, late rows send the range
back to the raw rows until the rollup is refreshed."""

from datetime import UTC, datetime

import pytest

from apps.calculations import cache
from apps.calculations.models import Rollup
from apps.calculations.rollups.services import rollup_refresh
from apps.calculations.tests.scenarios import rows_load, sales_define, sales_load
from apps.core.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

MARCH = {"start": "2026-03-01", "end": "2026-04-01", "granularity": "month", "group_by": "region"}
SPRING = {**MARCH, "end": "2026-05-01"}


@pytest.fixture(autouse=True)
def _no_cache(settings):
    settings.AE_CALC_CACHE_ENABLED = False
    connection = cache.cache_connection()
    for key in connection.scan_iter("ae:calc:*"):
        connection.delete(key)


@pytest.fixture
def api(api_client):
    membership = MembershipFactory(role="admin", is_default=True)
    api_client.force_authenticate(membership.user)
    sales_define(api_client)
    sales_load(api_client)
    response = api_client.post(
        "/api/v1/calculations/rollups/",
        {
            "entity": "sales_orders",
            "grain": "day",
            "dimensions": ["salesperson_id"],
            "measures": [{"attribute": "amount", "states": ["sum", "count"]}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return api_client


def refresh(now: datetime) -> None:
    for rollup in Rollup.objects.all():
        rollup_refresh(rollup=rollup, now=now)


def answer(api, params: dict) -> dict:
    response = api.get("/api/v1/metrics/revenue", {**params, "explain": "1"})
    assert response.status_code == 200, response.content
    return response.json()


def points(body: dict) -> list:
    return [(p["bucket"], p["dims"], p["value"]) for p in body["series"]]


def test_before_any_refresh_the_raw_rows_answer_and_explain_says_why(api):
    body = answer(api, MARCH)
    assert body["route"] == "raw"
    (scan,) = body["explain"]["scans"]
    assert "not materialized" in scan["reason"]
    assert '"analytics_data"' in body["explain"]["sql"]


def test_a_materialized_range_is_answered_by_the_rollup_and_equals_raw(api):
    refresh(datetime(2026, 4, 3, tzinfo=UTC))  # watermark: 2026-04-02 (end offset: one day)
    body = answer(api, MARCH)
    assert body["route"] == "rollup"
    assert body["explain"]["scans"][0]["grain"] == "day"
    raw = answer(api, {**MARCH, "route": "raw"})
    assert raw["route"] == "raw"
    assert (
        points(body)
        == points(raw)
        == [
            ("2026-03-01T00:00:00Z", {"region": "EU"}, 600.0),
            ("2026-03-01T00:00:00Z", {"region": "US"}, 1500.0),
        ]
    )


def test_a_range_past_the_watermark_adds_the_raw_tail(api):
    refresh(datetime(2026, 4, 1, tzinfo=UTC))  # watermark: 2026-03-31, so 31 March and April are raw
    body = answer(api, SPRING)
    assert body["route"] == "rollup+raw"
    assert points(body) == points(answer(api, {**SPRING, "route": "raw"}))
    assert ("2026-03-01T00:00:00Z", {"region": "US"}, 1500.0) in points(body)  # 300 of it on 31 March


def test_late_rows_send_the_range_to_raw_until_the_next_refresh(api):
    refresh(datetime(2026, 4, 3, tzinfo=UTC))
    late = {"ordered_at": "2026-03-10T12:00:00+00:00", "order_id": "late", "salesperson_id": "s1", "amount": "50.00"}
    rows_load(api, "sales_orders", [late])

    stale = answer(api, MARCH)
    assert stale["route"] == "raw" and "late rows" in stale["explain"]["scans"][0]["reason"]
    assert ("2026-03-01T00:00:00Z", {"region": "EU"}, 650.0) in points(stale)

    refresh(datetime(2026, 4, 3, tzinfo=UTC))
    fresh = answer(api, MARCH)
    assert fresh["route"] == "rollup" and points(fresh) == points(stale)


def test_the_response_says_which_mode_answered(api):
    payload = {
        "code": "buyers",
        "name": "Buyers",
        "formula": "COUNT_DISTINCT(salesperson_id)",
        "entity": "sales_orders",
    }
    assert api.post("/api/v1/ontology/metrics/", payload, format="json").status_code == 201
    exact = api.get("/api/v1/metrics/buyers", MARCH).json()
    approximate = api.get("/api/v1/metrics/buyers", {**MARCH, "mode": "approximate"}).json()
    assert exact["mode"] == "exact" and approximate["mode"] == "approximate"
    assert [p["value"] for p in exact["series"]] == [2, 3]
    assert [round(p["value"]) for p in approximate["series"]] == [2, 3]
