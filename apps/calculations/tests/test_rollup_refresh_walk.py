"""A rollup over old data (daily weather from 2012, loaded as downloaded)
catches up to today in as many refresh slices as there is data: it starts at
the data's first row, not the epoch, and steps over the empty years to today
in one slice, not one slice per empty week."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.calculations.rollups.refresh import SLICES
from apps.calculations.rollups.services import rollup_create, rollup_refresh
from apps.calculations.tests.scenarios import created, rows_load
from apps.core.tests.factories import MembershipFactory
from apps.ontology.catalog import catalog_load

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
# Three weeks of daily observations in January 2012, one in June 2013, one in 2020.
DAYS = [date(2012, 1, 1) + timedelta(days=k) for k in range(21)] + [date(2013, 6, 15), date(2020, 2, 29)]


def weather(api: APIClient, time_type: str) -> None:
    entity = {
        "code": "weather",
        "name": "Weather",
        "kind": "time_series",
        "time_attribute": "observed",
        "attributes": [
            {"code": "observed", "data_type": time_type, "nullable": False},
            {"code": "station", "data_type": "string"},
            {"code": "tmax", "data_type": "decimal"},
        ],
    }
    created(api.post("/api/v1/ontology/entities/", entity, format="json"))
    rows = [
        {"observed": day.isoformat(), "station": station, "tmax": f"{(k * 7) % 30}.5"}
        for k, day in enumerate(DAYS)
        for station in ("a", "b")
    ]
    rows_load(api, "weather", rows)


def raw_sums(client_id: int) -> dict:
    table = catalog_load(client_id=client_id).entities["weather"].table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT observed::date, station, sum(tmax), count(*) FROM analytics_data.{table} GROUP BY 1, 2")  # noqa: S608
        return {(day, station): (total, count) for day, station, total, count in cursor.fetchall()}


def rollup_sums(table: str) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (bucket AT TIME ZONE 'UTC')::date, dim_0, m0_sum, row_count FROM analytics_data.{table}"  # noqa: S608
        )
        return {(day, station): (total, count) for day, station, total, count in cursor.fetchall()}


@pytest.mark.parametrize("time_type", ["date", "timestamp"])
@pytest.mark.parametrize("grain", ["minute", "hour", "day"])
def test_a_first_refresh_over_old_data_walks_only_the_slices_that_hold_data(time_type, grain):
    membership = MembershipFactory(role="admin", is_default=True)
    api = APIClient()
    api.force_authenticate(membership.user)
    weather(api, time_type)
    rollup = rollup_create(
        client_id=membership.client_id,
        entity="weather",
        grain=grain,
        dimensions=["station"],
        measures=[{"attribute": "tmax", "states": ["sum", "count"]}],
    )

    result = rollup_refresh(rollup=rollup, now=NOW)

    first = datetime(2012, 1, 1, tzinfo=UTC)
    assert result.ranges[0][0] == first  # the data's first row, not the epoch
    assert result.ranges[-1][1] == result.watermark == rollup.watermark
    # Contiguous: every bucket from the first row to the watermark was re-materialized once.
    assert all(a[1] == b[0] for a, b in zip(result.ranges, result.ranges[1:], strict=False))
    # Slices holding data (three weeks of 2012 in slices of SLICES[grain], one for each later
    # day), plus the one that reaches today: not one per empty week or month up to 2026.
    data_slices = -(-timedelta(days=21) // SLICES[grain]) + 2
    assert len(result.ranges) <= data_slices + 1, result.ranges
    assert rollup_sums(rollup.table_name) == raw_sums(membership.client_id)

    # The next refresh starts near its watermark: nothing from 2012 again.
    later = rollup_refresh(rollup=rollup, now=NOW + timedelta(days=2))
    assert later.ranges and later.ranges[0][0] > datetime(2026, 1, 1, tzinfo=UTC)
    assert rollup_sums(rollup.table_name) == raw_sums(membership.client_id)


def test_a_late_load_spanning_years_is_rematerialized_in_as_many_slices_as_it_has_data():
    membership = MembershipFactory(role="admin", is_default=True)
    api = APIClient()
    api.force_authenticate(membership.user)
    weather(api, "timestamp")
    rollup = rollup_create(
        client_id=membership.client_id,
        entity="weather",
        grain="minute",
        dimensions=["station"],
        measures=[{"attribute": "tmax", "states": ["sum", "count"]}],
    )
    rollup_refresh(rollup=rollup, now=NOW)

    # One load with a row in 2012 and one in 2019: a single stale range of seven years.
    late = [{"observed": "2012-01-03T00:00:00", "station": "c", "tmax": "1.5"},
            {"observed": "2019-07-01T00:00:00", "station": "c", "tmax": "2.5"}]  # fmt: skip
    rows_load(api, "weather", late)
    result = rollup_refresh(rollup=rollup, now=NOW + timedelta(minutes=5))

    stale = [piece for piece in result.ranges if piece[1] <= datetime(2026, 1, 1, tzinfo=UTC)]
    assert stale[0][0] <= datetime(2012, 1, 3, tzinfo=UTC) and stale[-1][1] > datetime(2019, 7, 1, tzinfo=UTC)
    # The data weeks of 2012, the week of 2013 and of 2019 and 2020: not one slice per week of seven years.
    assert len(stale) <= 8, stale
    assert rollup_sums(rollup.table_name) == raw_sums(membership.client_id)
