"""Scenarios end to end in one process: the ScenarioManager defines what the
KPIs need through the ontology services, loads the rows through the bulk-load
path, and the metrics API computes the KPIs from them."""

from datetime import date

import pytest

from apps.core.errors import Conflict
from apps.messaging.bus import bus_connection, envelope_decode, stream_key
from apps.simulation.generators import scenario_build
from apps.simulation.manager import ScenarioManager

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])


def run(client_id: int, code: str, start: date, end: date, **params):
    scenario = scenario_build(code=code, start=start, end=end, params=params)
    report, result = ScenarioManager(client_id=client_id, batch_rows=2_000).run(scenario)
    assert result.rows_written == result.rows_planned
    return scenario, report, result


def series(response) -> list[tuple]:
    assert response.status_code == 200, response.content
    return [(p["bucket"][:10] if p["bucket"] else None, p["dims"], p["value"]) for p in response.json()["series"]]


def test_health_retention_metrics_return_the_counts_set_per_period_and_lob(api, analyst):
    lobs = {
        "Health": [{"start": 600, "end": 570, "new": 30}, {"end": 540, "new": 27}],
        "Motor": [{"start": 400, "end": 380, "new": 20}, {"end": 361, "new": 19}],
    }
    _, report, result = run(
        analyst.client_id, "health_retention", date(2026, 3, 30), date(2026, 4, 1), period="day", lobs=lobs
    )
    assert report.created == [
        "entity policy_snapshot",
        "metric start_count",
        "metric end_count",
        "metric new_count",
        "metric retention_rate",
    ]
    assert result.loads > 1  # batches of 2,000 rows, each its own load

    days = {"start": "2026-03-30", "end": "2026-04-01", "group_by": "lob"}
    assert series(api.get("/api/v1/metrics/retention_rate", days)) == [
        ("2026-03-30", {"lob": "Health"}, 0.9),
        ("2026-03-30", {"lob": "Motor"}, 0.9),
        ("2026-03-31", {"lob": "Health"}, 0.9),
        ("2026-03-31", {"lob": "Motor"}, 0.9),
    ]
    for metric, values in (
        ("start_count", [600, 400, 570, 380]),
        ("end_count", [570, 380, 540, 361]),
        ("new_count", [30, 20, 27, 19]),
    ):
        assert [value for *_, value in series(api.get(f"/api/v1/metrics/{metric}", days))] == values, metric
    # The spec's example in total: Start 1000, End 950, New 50 -> 0.90.
    first_day = {"start": "2026-03-30", "end": "2026-03-31"}
    for metric, value in (("start_count", 1000), ("end_count", 950), ("new_count", 50), ("retention_rate", 0.9)):
        assert series(api.get(f"/api/v1/metrics/{metric}", first_day)) == [("2026-03-30", {}, value)], metric

    # Every batch announced itself like any load: ingestion.completed from source "simulation".
    events = [envelope_decode(f) for _, f in bus_connection().xrevrange(stream_key("ingestion.completed"), count=50)]
    ours = [e for e in events if e.tenant == analyst.client.code]
    assert len(ours) == result.loads
    assert {(e.payload["entity"], e.payload["source"]) for e in ours} == {("policy_snapshot", "simulation")}
    assert sum(e.payload["inserted"] for e in ours) == result.rows_written


def test_a_steady_book_keeps_its_counts_every_period(api, analyst):
    run(
        analyst.client_id,
        "health_retention",
        date(2026, 3, 2),
        date(2026, 3, 23),
        period="week",
        lobs={"Health": {"start": 1000, "end": 1000, "new": 100}},
    )
    weeks = {"start": "2026-03-02", "end": "2026-03-23", "granularity": "week"}
    assert series(api.get("/api/v1/metrics/retention_rate", weeks)) == [
        ("2026-03-02", {}, 0.9),
        ("2026-03-09", {}, 0.9),
        ("2026-03-16", {}, 0.9),
    ]
    assert [v for *_, v in series(api.get("/api/v1/metrics/new_count", weeks))] == [100, 100, 100]


def test_churn_spike_shows_lower_retention_in_the_spike_window(api, analyst):
    scenario, _, _ = run(
        analyst.client_id,
        "churn_spike",
        date(2026, 3, 2),
        date(2026, 3, 30),
        period="week",
        lobs={"Health": {"start": 300, "end": 300, "new": 15}, "Motor": {"start": 200, "end": 200, "new": 10}},
        spike_start="2026-03-16",
        spike_end="2026-03-23",
        spike_churn=0.4,
    )
    weeks = {"start": "2026-03-02", "end": "2026-03-30", "granularity": "week", "group_by": "lob"}
    got = {
        (bucket, dims["lob"]): value for bucket, dims, value in series(api.get("/api/v1/metrics/retention_rate", weeks))
    }
    expected = {(c["period"], c["lob"]): c["retention_rate"] for c in scenario.expected()["counts"]}
    assert got == pytest.approx(expected)
    for lob in ("Health", "Motor"):
        assert got[("2026-03-16", lob)] == 0.6
        assert got[("2026-03-09", lob)] == 0.95
        assert got[("2026-03-23", lob)] > 0.9


def test_sales_growth_defines_the_sales_ontology_and_revenue_grows(api, analyst):
    _, report, result = run(analyst.client_id, "sales_growth", date(2026, 1, 1), date(2026, 4, 1), growth=2.0)
    assert "relationship sold_by" in report.created and "metric sales_efficiency" in report.created
    assert result.rows_by_entity["sales_people"] == 13
    relationship = api.get("/api/v1/ontology/relationships/sold_by").json()
    assert (relationship["kind"], relationship["source_entity"], relationship["target_entity"]) == (
        "many_to_one",
        "sales_orders",
        "sales_people",
    )

    months = {"start": "2026-01-01", "end": "2026-04-01", "granularity": "month"}
    revenue = [v for *_, v in series(api.get("/api/v1/metrics/revenue", months))]
    per_day = [value / days for value, days in zip(revenue, (31, 28, 31), strict=True)]
    assert per_day[2] > per_day[1] > per_day[0]
    assert per_day[2] > 1.1 * per_day[0]
    by_region = series(api.get("/api/v1/metrics/sales_efficiency", {**months, "group_by": "region"}))
    assert {dims["region"] for _, dims, _ in by_region} == {"APAC", "EU", "US"}
    assert series(api.get("/api/v1/metrics/headcount", {**months, "group_by": "region"})) == [
        (None, {"region": "APAC"}, 3),
        (None, {"region": "EU"}, 4),
        (None, {"region": "US"}, 6),
    ]
    counts = series(api.get("/api/v1/metrics/revenue", {**months, "group_by": "region"}))
    assert len(counts) == 9


def test_a_second_run_reuses_the_definitions_and_refuses_written_days(analyst):
    client_id = analyst.client_id
    run(client_id, "sales_growth", date(2026, 1, 1), date(2026, 1, 15))
    # Another range: the definitions and the stored sales people are reused.
    _, report, result = run(client_id, "seasonal_peak", date(2026, 2, 1), date(2026, 2, 10))
    assert report.created == []
    assert "entity sales_orders" in report.reused and "metric revenue" in report.reused
    assert "sales_people" not in result.rows_by_entity

    overlapping = scenario_build(code="sales_growth", start=date(2026, 1, 10), end=date(2026, 1, 20))
    with pytest.raises(Conflict) as caught:
        ScenarioManager(client_id=client_id).run(overlapping)
    assert caught.value.code == "data_conflict"
    assert caught.value.details["entity"] == "sales_orders"
    assert "sales_orders" in caught.value.message


def test_an_incompatible_definition_is_a_409_naming_it(api, analyst):
    payload = {
        "code": "policy_snapshot",
        "name": "Policy snapshot",
        "kind": "time_series",
        "time_attribute": "snapshot_date",
        "attributes": [
            {"code": "snapshot_date", "data_type": "date", "nullable": False},
            {"code": "policy_id", "data_type": "integer", "nullable": False},
        ],
    }
    assert api.post("/api/v1/ontology/entities/", payload, format="json").status_code == 201
    scenario = scenario_build(code="health_retention", start=date(2026, 1, 1), end=date(2026, 2, 1))
    with pytest.raises(Conflict) as caught:
        ScenarioManager(client_id=analyst.client_id).run(scenario)
    assert caught.value.details == {
        "entity": "policy_snapshot",
        "reason": "its attribute 'policy_id' is integer, the scenario writes string",
    }
    # Nothing was created on the way.
    assert api.get("/api/v1/ontology/metrics/retention_rate").status_code == 404
