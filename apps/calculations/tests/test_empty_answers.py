"""Issue 14 item 6: an empty answer says why. Every metrics answer carries
the `range` it computed (the defaults when the request gave none); an empty
one also the `extent` of the metric's data (first and last time)."""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings

from apps.calculations.orchestrator import CalculationOrchestrator
from apps.calculations.tests.scenarios import created, rows_load
from apps.calculations.types import AccessContext, DataExtent, MetricQuery, TimeRange

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

DOC = Path(settings.BASE_DIR) / "docs" / "metrics-api.md"
WEATHER = {
    "code": "daily_weather", "name": "Daily weather", "kind": "time_series", "time_attribute": "date",
    "attributes": [
        {"code": "date", "data_type": "date", "nullable": False},
        {"code": "station", "data_type": "string"},
        {"code": "temp", "data_type": "decimal"},
    ],
}  # fmt: skip
OLD_ROWS = [
    {"date": "2019-01-01", "station": "north", "temp": "1.5"},
    {"date": "2019-07-01", "station": "north", "temp": "21"},
    {"date": "2019-12-31", "station": "south", "temp": "4"},
]
EXTENT_2019 = {"first": "2019-01-01T00:00:00Z", "last": "2019-12-31T00:00:00Z"}


@pytest.fixture
def api(api_client, analyst):
    api_client.force_authenticate(analyst.user)
    created(api_client.post("/api/v1/ontology/entities/", WEATHER, format="json"))
    payload = {"code": "avg_temp", "name": "Average temperature", "formula": "AVG(temp)", "entity": "daily_weather",
               "unit": "°C"}  # fmt: skip
    created(api_client.post("/api/v1/ontology/metrics/", payload, format="json"))
    return api_client


def ok(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()


def doc_example(heading: str) -> dict:
    """The first JSON block after `heading` in docs/metrics-api.md."""
    text = DOC.read_text()
    block = re.search(re.escape(heading) + r".*?```json\n(.*?)```", text, re.S)
    assert block, heading
    return json.loads(block.group(1))


def test_data_that_ended_years_ago_without_start_and_end_answers_empty_with_range_and_extent(api):
    rows_load(api, "daily_weather", OLD_ROWS)
    body = ok(api.get("/api/v1/metrics/avg_temp"))
    now = datetime.now(UTC)
    assert body["series"] == []
    assert body["extent"] == EXTENT_2019
    start, end = (datetime.fromisoformat(body["range"][k]) for k in ("start", "end"))
    # The default range: AE_CALC_DEFAULT_RANGE_DAYS whole days up to the end of today (UTC).
    assert end - start == timedelta(days=settings.AE_CALC_DEFAULT_RANGE_DAYS)
    assert end.time() == datetime.min.time() and end.utcoffset() == timedelta(0)
    assert end - timedelta(days=1) <= now < end + timedelta(days=1)  # "today" when the request ran


def test_the_documented_empty_answer(api):
    rows_load(api, "daily_weather", OLD_ROWS)
    body = ok(api.get("/api/v1/metrics/avg_temp", {"start": "2026-03-01", "end": "2026-04-01"}))
    expected = doc_example("### Empty answers")
    assert {k: v for k, v in body.items() if k != "computed_at"} == {
        k: v for k, v in expected.items() if k != "computed_at"
    }


def test_an_answer_with_data_carries_its_range_and_no_extent(api):
    rows_load(api, "daily_weather", OLD_ROWS)
    body = ok(api.get("/api/v1/metrics/avg_temp", {"start": "2019-07-01", "end": "2019-07-02"}))
    assert [p["value"] for p in body["series"]] == [21.0]
    assert body["range"] == {"start": "2019-07-01T00:00:00Z", "end": "2019-07-02T00:00:00Z"}
    assert "extent" not in body


def test_an_entity_without_rows_has_a_null_extent(api):
    body = ok(api.get("/api/v1/metrics/avg_temp", {"start": "2019-07-01", "end": "2019-07-02"}))
    assert body["series"] == [] and body["extent"] == {"first": None, "last": None}


def test_a_filter_that_matches_nothing_still_names_the_data_extent(api):
    rows_load(api, "daily_weather", OLD_ROWS)
    query = {"start": "2019-01-01", "end": "2020-01-01", "filter[station]": "east"}
    body = ok(api.get("/api/v1/metrics/avg_temp", query))
    assert body["series"] == [] and body["extent"] == EXTENT_2019


def test_the_extent_of_a_cached_empty_answer_follows_later_loads(api):
    rows_load(api, "daily_weather", OLD_ROWS)
    march = {"start": "2026-03-01", "end": "2026-04-01"}
    assert ok(api.get("/api/v1/metrics/avg_temp", march))["extent"] == EXTENT_2019
    rows_load(api, "daily_weather", [{"date": "2021-05-04", "station": "north", "temp": "9"}])  # outside March 2026
    again = ok(api.get("/api/v1/metrics/avg_temp", march))
    assert again["cached"] is True
    assert again["extent"] == {"first": "2019-01-01T00:00:00Z", "last": "2021-05-04T00:00:00Z"}


def test_the_ad_hoc_query_carries_its_range_and_when_empty_the_extent(api):
    rows_load(api, "daily_weather", OLD_ROWS)
    query = {"entity": "daily_weather", "measures": {"t": "AVG(temp)"},
             "range": {"start": "2026-03-01", "end": "2026-04-01"}, "granularity": "month"}  # fmt: skip
    body = ok(api.post("/api/v1/query/", query, format="json"))
    assert body == {
        "columns": ["bucket", "t"],
        "rows": [],
        "range": {"start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"},
        "extent": EXTENT_2019,
    }
    full = ok(
        api.post("/api/v1/query/", {**query, "range": {"start": "2019-01-01", "end": "2020-01-01"}}, format="json")
    )
    assert len(full["rows"]) == 3 and "extent" not in full
    assert full["range"] == {"start": "2019-01-01T00:00:00Z", "end": "2020-01-01T00:00:00Z"}


def test_batches_carry_range_and_extent(api, analyst):
    rows_load(api, "daily_weather", OLD_ROWS)
    orchestrator = CalculationOrchestrator(context=AccessContext(client_id=analyst.client_id))
    empty = MetricQuery("avg_temp", datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    full = MetricQuery("avg_temp", datetime(2019, 1, 1, tzinfo=UTC), datetime(2020, 1, 1, tzinfo=UTC))
    first, second = orchestrator.calculate_batch([empty, full], persist=False)
    assert first.result.range == TimeRange(empty.start, empty.end)
    assert first.result.extent == DataExtent(datetime(2019, 1, 1, tzinfo=UTC), datetime(2019, 12, 31, tzinfo=UTC))
    assert second.result.range == TimeRange(full.start, full.end) and second.result.extent is None
