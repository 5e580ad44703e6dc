from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from apps.calculations.history import dims_key, history_list, history_persist, history_recent
from apps.calculations.models import MetricHistory
from apps.calculations.types import MetricResult, Point
from apps.core.models import Client
from apps.core.tests.factories import ClientFactory

pytestmark = pytest.mark.django_db

JAN = datetime(2025, 1, 1, tzinfo=UTC)
COMPUTED = datetime(2025, 3, 1, 12, tzinfo=UTC)


def day(n: int) -> datetime:
    return JAN + timedelta(days=n)


def result(*points: Point, metric: str = "retention", granularity: str = "day", computed_at=COMPUTED) -> MetricResult:
    return MetricResult(
        metric=metric,
        unit="%",
        granularity=granularity,
        route="raw",
        cached=False,
        computed_at=computed_at,
        series=points,
    )


@pytest.fixture
def client_id() -> int:
    return ClientFactory().pk


def stored(client_id: int, **filters) -> list[tuple]:
    params = {"metric": "retention", "start": None, "end": None} | filters
    return [(row.bucket, row.dims, row.value) for row in history_list(client_id=client_id, **params)]


def test_history_is_a_hypertable_on_bucket_in_30_day_chunks():
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT d.column_name, d.time_interval
            FROM timescaledb_information.hypertables h
            JOIN timescaledb_information.dimensions d
              ON d.hypertable_schema = h.hypertable_schema AND d.hypertable_name = h.hypertable_name
            WHERE h.hypertable_schema = 'public' AND h.hypertable_name = 'calculations_metric_history'
            """
        )
        assert cursor.fetchall() == [("bucket", timedelta(days=30))]


def test_dims_key_does_not_depend_on_key_order():
    assert dims_key({"lob": "Auto", "region": "East"}) == dims_key({"region": "East", "lob": "Auto"})
    assert dims_key({"lob": "Auto"}) != dims_key({"lob": "Home"})
    assert len(dims_key({})) == 64


def test_persisting_again_replaces_values_without_adding_rows(client_id):
    assert history_persist(client_id=client_id, result=result(Point(day(0), {}, 0.9), Point(day(1), {}, 0.8))) == 2

    later = COMPUTED + timedelta(hours=1)
    written = history_persist(
        client_id=client_id, result=result(Point(day(0), {}, 0.95), Point(day(1), {}, None), computed_at=later)
    )

    assert written == 2
    assert stored(client_id) == [(day(0), {}, 0.95), (day(1), {}, None)]
    assert {row.computed_at for row in history_list(client_id=client_id, metric="retention", start=None, end=None)} == {
        later
    }
    assert MetricHistory.objects.filter(client_id=client_id).count() == 2


def test_points_without_a_bucket_are_skipped(client_id):
    written = history_persist(client_id=client_id, result=result(Point(None, {}, 0.7), Point(day(0), {}, 0.9)))

    assert written == 1
    assert stored(client_id) == [(day(0), {}, 0.9)]
    assert history_persist(client_id=client_id, result=result(Point(None, {}, 0.7))) == 0


def test_a_point_repeated_in_one_result_is_written_once_last_wins(client_id):
    written = history_persist(
        client_id=client_id, result=result(Point(day(0), {"lob": "Auto"}, 1.0), Point(day(0), {"lob": "Auto"}, 2.0))
    )

    assert written == 1
    assert stored(client_id) == [(day(0), {"lob": "Auto"}, 2.0)]


def test_each_dimension_set_is_stored_separately(client_id):
    history_persist(
        client_id=client_id,
        result=result(
            Point(day(0), {"lob": "Auto", "region": "East"}, 0.9),
            Point(day(0), {"region": "East", "lob": "Home"}, 0.6),
        ),
    )
    # The same dimension set with its keys in another order is the same series.
    history_persist(client_id=client_id, result=result(Point(day(0), {"region": "East", "lob": "Auto"}, 0.85)))

    rows = list(history_list(client_id=client_id, metric="retention", start=None, end=None))
    assert sorted((row.dims["lob"], row.value) for row in rows) == [("Auto", 0.85), ("Home", 0.6)]
    assert {row.dims_key for row in rows} == {
        dims_key({"lob": "Auto", "region": "East"}),
        dims_key({"lob": "Home", "region": "East"}),
    }
    assert [row.unit for row in rows] == ["%", "%"]


def test_another_clients_history_is_not_listed(client_id):
    other = ClientFactory().pk
    history_persist(client_id=other, result=result(Point(day(0), {}, 0.1)))
    history_persist(client_id=client_id, result=result(Point(day(0), {}, 0.9)))

    assert stored(client_id) == [(day(0), {}, 0.9)]
    assert stored(other) == [(day(0), {}, 0.1)]


def test_other_metrics_are_not_listed(client_id):
    history_persist(client_id=client_id, result=result(Point(day(0), {}, 0.9)))
    history_persist(client_id=client_id, result=result(Point(day(0), {}, 120.0), metric="headcount"))

    assert stored(client_id) == [(day(0), {}, 0.9)]


def test_range_includes_start_and_excludes_end(client_id):
    history_persist(client_id=client_id, result=result(*(Point(day(n), {}, float(n)) for n in range(5))))

    assert stored(client_id, start=day(1), end=day(3)) == [(day(1), {}, 1.0), (day(2), {}, 2.0)]
    assert stored(client_id, start=day(3), end=None) == [(day(3), {}, 3.0), (day(4), {}, 4.0)]
    assert stored(client_id, start=None, end=day(1)) == [(day(0), {}, 0.0)]


def test_history_spanning_chunks_is_listed_in_bucket_order(client_id):
    buckets = [day(0), day(45), day(90), day(200)]  # four 30-day chunks
    history_persist(client_id=client_id, result=result(*(Point(b, {}, 1.0) for b in reversed(buckets))))

    assert [row[0] for row in stored(client_id)] == buckets


def test_granularity_filter(client_id):
    history_persist(client_id=client_id, result=result(Point(day(0), {}, 0.9), granularity="day"))
    history_persist(client_id=client_id, result=result(Point(day(0), {}, 0.8), granularity="month"))

    assert stored(client_id, granularity="month") == [(day(0), {}, 0.8)]
    assert stored(client_id, granularity="day") == [(day(0), {}, 0.9)]
    assert len(stored(client_id)) == 2


def test_deleting_a_client_deletes_its_history(client_id):
    history_persist(client_id=client_id, result=result(Point(day(0), {}, 0.9)))
    Client.objects.filter(pk=client_id).delete()

    assert not MetricHistory.objects.filter(client_id=client_id).exists()


def test_recent_points_of_many_metrics_come_in_one_query(client_id, django_assert_num_queries):
    history_persist(
        client_id=client_id,
        result=result(*(Point(day(n), {}, n / 10) for n in range(4)), Point(day(3), {"lob": "Health"}, 0.5)),
    )
    history_persist(client_id=client_id, result=result(Point(day(0), {}, 7.0), metric="revenue"))
    history_persist(client_id=client_id, result=result(Point(day(0), {}, 1.0), metric="revenue", granularity="month"))
    other = ClientFactory().pk
    history_persist(client_id=other, result=result(Point(day(9), {}, 0.1)))

    with django_assert_num_queries(1):
        recent = history_recent(
            client_id=client_id, metrics=["retention", "revenue", "nothing"], granularity="day", per_metric=2
        )
    # The latest two of retention as a whole (not its breakdown), oldest first; revenue's one day point;
    # no entry for a metric without history, nothing of another client or granularity.
    assert recent == {"retention": [(day(2), 0.2), (day(3), 0.3)], "revenue": [(day(0), 7.0)]}
