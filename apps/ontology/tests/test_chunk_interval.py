"""An entity's chunk interval: chosen from the time attribute's type unless
given, shown in the entity's API answer, changeable later (for new chunks),
and a 400 naming `chunk_interval` for a value PostgreSQL does not read as an
interval between 1 hour and 1 year."""

import copy
from datetime import date, timedelta

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db
URL = "/api/v1/ontology/entities/"
WEATHER = {  # a daily weather file, as downloaded: one row a day
    "code": "daily_weather",
    "name": "Daily weather",
    "kind": "time_series",
    "time_attribute": "day",
    "attributes": [
        {"code": "day", "data_type": "date", "nullable": False},
        {"code": "station", "data_type": "string", "nullable": False},
        {"code": "tmax", "data_type": "decimal"},
    ],
}
HOURLY = {
    "code": "hourly_temperature",
    "name": "Hourly temperature",
    "kind": "time_series",
    "time_attribute": "observed_at",
    "attributes": [
        {"code": "observed_at", "data_type": "timestamp", "nullable": False},
        {"code": "temperature", "data_type": "decimal"},
    ],
}


def _entity(**changes) -> dict:
    return {**copy.deepcopy(WEATHER), **changes}


def _load_days(client, first: date, last: date) -> int:
    rows = [
        {"day": (first + timedelta(days=i)).isoformat(), "station": "KSEA", "tmax": 10 + i % 20}
        for i in range((last - first).days + 1)
    ]
    response = client.post("/api/v1/data/daily_weather/rows/", rows, format="json")
    assert response.status_code == 201, response.content
    return response.json()["inserted"]


def _chunks(table: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT range_start, range_end FROM timescaledb_information.chunks"
            " WHERE hypertable_schema = 'analytics_data' AND hypertable_name = %s ORDER BY range_start",
            [table],
        )
        return cursor.fetchall()


def _time_interval(table: str) -> timedelta:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT time_interval FROM timescaledb_information.dimensions"
            " WHERE hypertable_schema = 'analytics_data' AND hypertable_name = %s",
            [table],
        )
        return cursor.fetchone()[0]


def test_a_date_entity_gets_monthly_chunks_four_years_of_days_are_50_chunks_not_210(analyst_client, analyst):
    body = analyst_client.post(URL, WEATHER, format="json").json()
    assert body["chunk_interval"] == "1 month"
    table = f"c{analyst.client_id}_daily_weather"

    assert _load_days(analyst_client, date(2012, 1, 1), date(2015, 12, 31)) == 1461

    assert _time_interval(table) == timedelta(days=30)  # TimescaleDB counts a month as 30 days
    assert len(_chunks(table)) == 50  # 7-day chunks made 210 of them


def test_a_timestamp_entity_keeps_weekly_chunks_and_a_given_interval_is_used(analyst_client, analyst):
    assert analyst_client.post(URL, HOURLY, format="json").json()["chunk_interval"] == "7 days"
    assert _time_interval(f"c{analyst.client_id}_hourly_temperature") == timedelta(days=7)

    body = analyst_client.post(URL, _entity(chunk_interval="3 months"), format="json").json()
    assert body["chunk_interval"] == "3 months"
    assert _time_interval(f"c{analyst.client_id}_daily_weather") == timedelta(days=90)
    assert analyst_client.get(URL + "daily_weather").json()["chunk_interval"] == "3 months"


def test_a_changed_interval_applies_to_new_chunks_and_keeps_the_old_ones(analyst_client, analyst):
    table = f"c{analyst.client_id}_daily_weather"
    analyst_client.post(URL, WEATHER, format="json")
    _load_days(analyst_client, date(2012, 1, 1), date(2012, 12, 31))
    monthly = _chunks(table)
    assert all(end - start == timedelta(days=30) for start, end in monthly)

    response = analyst_client.patch(URL + "daily_weather", {"chunk_interval": "1 year"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["chunk_interval"] == "1 year"
    assert _time_interval(table) == timedelta(days=360)

    _load_days(analyst_client, date(2013, 1, 1), date(2015, 12, 31))
    chunks = _chunks(table)
    assert chunks[: len(monthly)] == monthly  # existing chunks keep their range
    new = chunks[len(monthly) :]
    assert 3 <= len(new) <= 5 and max(end - start for start, end in new) == timedelta(days=360)

    # A PUT or PATCH that does not mention it keeps it.
    response = analyst_client.patch(URL + "daily_weather", {"name": "Weather"}, format="json")
    assert response.json()["chunk_interval"] == "1 year" and _time_interval(table) == timedelta(days=360)


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (_entity(chunk_interval="fortnight"), "is not a PostgreSQL interval"),
        (_entity(chunk_interval="1 month; DROP TABLE x"), "is not a PostgreSQL interval"),
        (_entity(chunk_interval="30 minutes"), "between 1 hour and 1 year"),
        (_entity(chunk_interval="2 years"), "between 1 hour and 1 year"),
        (_entity(chunk_interval="-7 days"), "between 1 hour and 1 year"),
        (_entity(chunk_interval="36 hours"), "whole days"),
        (_entity(chunk_interval="x" * 41), "must be a PostgreSQL interval"),
        (
            {**copy.deepcopy(HOURLY), "kind": "reference", "time_attribute": "", "chunk_interval": "1 day"},
            "Only time_series entities",
        ),
    ],
)
def test_a_bad_chunk_interval_is_a_400_naming_it_and_creates_nothing(analyst_client, payload, fragment):
    response = analyst_client.post(URL, payload, format="json")

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_chunk_interval" and fragment in error["message"]
    assert "chunk_interval" in error["details"]
    assert analyst_client.get(URL).json()["count"] == 0


def test_a_bad_change_is_a_400_and_keeps_the_interval(analyst_client, analyst):
    analyst_client.post(URL, WEATHER, format="json")
    response = analyst_client.patch(URL + "daily_weather", {"chunk_interval": "100 years"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["details"] == {"chunk_interval": "100 years"}
    for bad in (["1 day"], {"days": 1}, "1 day\x00", 7):
        response = analyst_client.patch(URL + "daily_weather", {"chunk_interval": bad}, format="json")
        assert response.status_code == 400 and "chunk_interval" in response.json()["error"]["details"], bad
    assert analyst_client.get(URL + "daily_weather").json()["chunk_interval"] == "1 month"
    assert _time_interval(f"c{analyst.client_id}_daily_weather") == timedelta(days=30)


def test_reverting_the_entity_brings_back_its_interval(analyst_client, analyst):
    analyst_client.post(URL, WEATHER, format="json")
    analyst_client.patch(URL + "daily_weather", {"chunk_interval": "1 year"}, format="json")
    created = analyst_client.get(URL + "daily_weather/history").json()[-1]

    response = analyst_client.post(URL + f"daily_weather/history/{created['id']}/revert")

    assert response.status_code == 200, response.content
    assert response.json()["chunk_interval"] == "1 month"
    assert _time_interval(f"c{analyst.client_id}_daily_weather") == timedelta(days=30)


def test_the_error_names_the_culprit_as_the_docs_show(analyst_client):
    response = analyst_client.post(URL, _entity(chunk_interval="36 hours"), format="json")

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid_chunk_interval",
            "message": "chunk_interval '36 hours' must be whole days: the time column is a date.",
            "details": {"chunk_interval": "36 hours"},
        }
    }
