"""The stream aggregator on real PostgreSQL/TimescaleDB and Redis: readings
summed per second in Redis, written behind to `streams_telemetry_second`, and
the "current" view that joins the two at the watermark, never counting a
reading twice, whatever crashed where."""

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections, transaction

from apps.core.tests.factories import ClientFactory
from apps.streams.aggregator.live import KEY_PREFIX, live_buckets, live_reading_apply, live_redis, unix_second
from apps.streams.aggregator.selectors import telemetry_current
from apps.streams.aggregator.services import aggregator_flush, aggregator_flush_commit, aggregator_rebuild
from apps.streams.models import TelemetrySecond
from apps.streams.schemas import TelemetryReadingV1
from apps.streams.services import telemetry_reading_record

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 3, 31, 10, 0, 0, tzinfo=UTC)


@pytest.fixture
def client_id():
    return ClientFactory().pk


def land(client_id: int, at: datetime, value: float, *, device: str = "pump-7", sensor: str = "pressure") -> uuid.UUID:
    """What the `telemetry.reading` handler does, in a committed transaction."""
    event_id = uuid.uuid4()
    reading = TelemetryReadingV1(device_id=device, sensor=sensor, value=value, recorded_at=at)
    with transaction.atomic():
        telemetry_reading_record(client_id=client_id, event_id=event_id, reading=reading)
    return event_id


def raw_totals(client_id: int, start: datetime, end: datetime, *, sensor="pressure", device=None) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(sum(value), 0), min(value), max(value) FROM streams_telemetry_reading "
            "WHERE client_id = %s AND sensor = %s AND (%s::varchar IS NULL OR device_id = %s) "
            "AND recorded_at >= %s AND recorded_at < %s",
            [client_id, sensor, device, device, start, end],
        )
        return cursor.fetchone()


def totals(view) -> tuple:
    return (view.count, view.sum, view.min, view.max)


def sources(view) -> set[str]:
    return {bucket.source for bucket in view.buckets}


def land_ten_seconds(client_id: int) -> None:
    """Readings in each second T0 .. T0+9 from two devices (and another sensor, which must not count)."""
    for second in range(10):
        for index, device in enumerate(("pump-7", "pump-8")):
            at = T0 + timedelta(seconds=second, milliseconds=100 * (index + 1))
            land(client_id, at, 0.25 * second + index, device=device)
            land(client_id, at + timedelta(milliseconds=300), 2.5 + second, device=device)
    land(client_id, T0 + timedelta(seconds=3), 1000.0, sensor="temperature")


def test_the_second_table_is_a_hypertable_keyed_by_series_and_second():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM timescaledb_information.dimensions WHERE hypertable_name = %s",
            ["streams_telemetry_second"],
        )
        assert cursor.fetchall() == [("bucket",)]
        cursor.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'streams_telemetry_second'::regclass "
            "AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)"
        )
        assert [row[0] for row in cursor.fetchall()] == ["client_id", "sensor", "device_id", "bucket"]


def test_a_reading_applied_twice_with_the_same_event_id_counts_once(client_id):
    event_id = land(client_id, T0 + timedelta(milliseconds=250), 4.5)
    again = live_reading_apply(
        client_id=client_id, sensor="pressure", device_id="pump-7", recorded_at=T0 + timedelta(milliseconds=250),
        value=4.5, event_id=event_id,
    )  # fmt: skip
    assert again.applied is False
    # The same reading under another event id (the rebuild reseeding it): its key is kept, nothing added.
    live_reading_apply(
        client_id=client_id, sensor="pressure", device_id="pump-7", recorded_at=T0 + timedelta(milliseconds=250),
        value=4.5,
    )  # fmt: skip
    view = telemetry_current(client_id=client_id, sensor="pressure", seconds=60, now=T0)
    assert totals(view) == (1, 4.5, 4.5, 4.5) == raw_totals(client_id, T0, T0 + timedelta(seconds=1))


def test_a_correction_replaces_the_value_live_as_in_the_raw_table(client_id):
    land(client_id, T0 + timedelta(milliseconds=100), 1.0)
    land(client_id, T0 + timedelta(milliseconds=200), 9.0)
    land(client_id, T0 + timedelta(milliseconds=200), 3.0)  # the feed corrects the second reading
    view = telemetry_current(client_id=client_id, sensor="pressure", seconds=60, now=T0)
    assert totals(view) == (2, 4.0, 1.0, 3.0) == raw_totals(client_id, T0, T0 + timedelta(seconds=1))


def test_concurrent_readings_sum_exactly(client_id):
    threads, per_thread = 8, 25

    def work(thread: int) -> None:
        try:
            for i in range(per_thread):
                at = T0 + timedelta(microseconds=(thread * per_thread + i) * 4000)
                land(client_id, at, 0.25 * ((thread + i) % 7) + thread)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    (bucket,) = live_buckets(client_id=client_id, sensor="pressure", min_second=0, max_second=unix_second(T0) + 1)
    expected = raw_totals(client_id, T0, T0 + timedelta(seconds=1))
    assert expected[0] == threads * per_thread
    assert (bucket.count, bucket.sum, bucket.min, bucket.max) == expected
    view = telemetry_current(client_id=client_id, sensor="pressure", seconds=10, now=T0)
    assert totals(view) == expected and sources(view) == {"live"}


def test_current_equals_the_raw_rows_before_halfway_and_after_the_flush(client_id):
    land_ten_seconds(client_id)
    now, start, end = T0 + timedelta(seconds=9), T0, T0 + timedelta(seconds=10)
    expected = raw_totals(client_id, start, end)
    pump8 = raw_totals(client_id, start, end, device="pump-8")
    assert expected[0] == 40

    def current(**kwargs):
        return telemetry_current(client_id=client_id, sensor="pressure", seconds=10, now=now, **kwargs)

    before = current()
    assert totals(before) == expected and sources(before) == {"live"} and before.watermark is None
    assert len(before.buckets) == 10 and before.buckets[0].count == 4

    # Halfway: W = (T0+6) - 2 s lag = T0+4; seconds 0-3 come from the table, 4-9 from Redis.
    result = aggregator_flush(client_id=client_id, now=T0 + timedelta(seconds=6))
    assert result.watermark == T0 + timedelta(seconds=4) and result.seconds == 21  # 20 of pressure, 1 of temperature
    halfway = current()
    assert totals(halfway) == expected
    assert [b.source for b in halfway.buckets] == ["history"] * 4 + ["live"] * 6
    assert totals(current(device_id="pump-8")) == pump8
    (minute,) = current(grain="minute").buckets
    assert (minute.count, minute.sum, minute.source) == (40, expected[1], "mixed")

    # After: every second is in the table, and Redis no longer holds any.
    aggregator_flush(client_id=client_id, now=T0 + timedelta(seconds=30))
    after = current()
    assert totals(after) == expected and sources(after) == {"history"}
    assert totals(current(device_id="pump-8")) == pump8
    assert live_buckets(client_id=client_id, sensor="pressure", min_second=0, max_second=2**40) == []
    assert TelemetrySecond.objects.filter(client_id=client_id, sensor="pressure").count() == 20


def test_a_late_reading_below_the_watermark_is_in_the_table_after_the_next_flush_once(client_id):
    land_ten_seconds(client_id)
    aggregator_flush(client_id=client_id, now=T0 + timedelta(seconds=10))  # W = T0+8
    now = T0 + timedelta(seconds=9)
    before = raw_totals(client_id, T0, T0 + timedelta(seconds=10))

    land(client_id, T0 + timedelta(seconds=2, milliseconds=900), 100.0)  # late: its second is below W
    waiting = telemetry_current(client_id=client_id, sensor="pressure", seconds=10, now=now)
    assert totals(waiting) == before  # Redis has it, but below W the table answers, and it has not been told yet

    aggregator_flush(client_id=client_id, now=T0 + timedelta(seconds=11))
    after = telemetry_current(client_id=client_id, sensor="pressure", seconds=10, now=now)
    assert totals(after) == raw_totals(client_id, T0, T0 + timedelta(seconds=10))
    assert after.count == before[0] + 1 and after.max == 100.0
    (second,) = [b for b in after.buckets if b.bucket == T0 + timedelta(seconds=2)]
    assert (second.count, second.source) == (5, "history")


def test_redis_losing_its_state_loses_nothing_after_a_flush(client_id):
    land_ten_seconds(client_id)
    lost = _forget_redis(client_id)
    assert lost > 0
    now = T0 + timedelta(seconds=9)
    expected = raw_totals(client_id, T0, T0 + timedelta(seconds=10))
    assert telemetry_current(client_id=client_id, sensor="pressure", seconds=10, now=now).count == 0

    aggregator_flush(client_id=client_id, now=T0 + timedelta(seconds=30))
    assert totals(telemetry_current(client_id=client_id, sensor="pressure", seconds=10, now=now)) == expected


def test_the_rebuild_restores_table_and_redis_after_redis_lost_its_state(client_id):
    land_ten_seconds(client_id)
    aggregator_flush(client_id=client_id, now=T0 + timedelta(seconds=4))  # W = T0+2
    TelemetrySecond.objects.filter(client_id=client_id).update(count=999)  # and the table went wrong too
    _forget_redis(client_id)
    now = T0 + timedelta(seconds=9)
    expected = raw_totals(client_id, T0, T0 + timedelta(seconds=10))
    assert totals(telemetry_current(client_id=client_id, sensor="pressure", seconds=10, now=now)) != expected

    result = aggregator_rebuild(client_id=client_id, since=T0 - timedelta(hours=1), now=T0 + timedelta(seconds=7))
    assert result.watermark == T0 + timedelta(seconds=5)
    assert result.reseeded == 4 * 5 + 0  # seconds 5-9 of "pressure", 4 readings each
    view = telemetry_current(client_id=client_id, sensor="pressure", seconds=10, now=now)
    assert totals(view) == expected
    assert [b.source for b in view.buckets] == ["history"] * 5 + ["live"] * 5
    assert totals(telemetry_current(client_id=client_id, sensor="temperature", seconds=10, now=now)) == raw_totals(
        client_id, T0, T0 + timedelta(seconds=10), sensor="temperature"
    )


def test_a_flush_committed_without_its_redis_cleanup_counts_nothing_twice(client_id):
    land_ten_seconds(client_id)
    now = T0 + timedelta(seconds=9)
    expected = raw_totals(client_id, T0, T0 + timedelta(seconds=10))

    # The process dies after the commit, before deleting the Redis buckets below W.
    result = aggregator_flush_commit(client_id=client_id, now=T0 + timedelta(seconds=30))
    assert result.dropped is None
    assert len(live_buckets(client_id=client_id, sensor="pressure", min_second=0, max_second=2**40)) == 20
    view = telemetry_current(client_id=client_id, sensor="pressure", seconds=10, now=now)
    assert totals(view) == expected and sources(view) == {"history"}

    # The next flush deletes them; a flush with nothing new changes nothing.
    again = aggregator_flush(client_id=client_id, now=T0 + timedelta(seconds=31))
    assert again.seconds == 0 and again.dropped == 21  # 20 of pressure, 1 of temperature
    assert totals(telemetry_current(client_id=client_id, sensor="pressure", seconds=10, now=now)) == expected


def test_a_reading_whose_redis_update_failed_is_stored_and_flushed(client_id, settings, caplog):
    good_url = settings.REDIS_URL
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    land(client_id, T0 + timedelta(milliseconds=500), 7.0)  # the handler's transaction commits regardless
    assert "not aggregated live" in caplog.text
    settings.REDIS_URL = good_url
    assert telemetry_current(client_id=client_id, sensor="pressure", seconds=10, now=T0).count == 0

    aggregator_flush(client_id=client_id, now=T0 + timedelta(seconds=5))
    view = telemetry_current(client_id=client_id, sensor="pressure", seconds=10, now=T0)
    assert totals(view) == (1, 7.0, 7.0, 7.0)


def test_a_flush_waits_for_a_handler_still_holding_its_second(client_id):
    """A handler that marks an already-dirty second while a flush consumes it:
    the flush's DELETE waits for the handler's commit, and its recomputation
    then sees the handler's row (with DO NOTHING instead of DO UPDATE on the
    mark, the second would be recomputed without it and never again)."""
    land(client_id, T0 + timedelta(milliseconds=100), 1.0)  # the second is dirty, committed
    marked, release = threading.Event(), threading.Event()
    flushed: list = []

    def handler() -> None:
        try:
            with transaction.atomic():
                reading = TelemetryReadingV1(device_id="pump-7", sensor="pressure", value=2.0, recorded_at=T0)
                telemetry_reading_record(client_id=client_id, event_id=uuid.uuid4(), reading=reading)
                marked.set()
                release.wait(30)
        finally:
            connections.close_all()

    def flush() -> None:
        try:
            flushed.append(aggregator_flush_commit(client_id=client_id, now=T0 + timedelta(seconds=5)))
        finally:
            connections.close_all()

    handler_thread = threading.Thread(target=handler)
    handler_thread.start()
    assert marked.wait(30)
    flush_thread = threading.Thread(target=flush)
    flush_thread.start()
    try:
        _wait_for_a_lock_wait()
    finally:
        release.set()
        handler_thread.join(30)
        flush_thread.join(30)

    assert flushed and flushed[0].seconds == 1
    (row,) = TelemetrySecond.objects.filter(client_id=client_id)
    assert (row.count, row.sum) == (2, 3.0)


def _wait_for_a_lock_wait() -> None:
    """Until some session of the test database waits on a row lock (the flush's DELETE)."""
    with connection.cursor() as cursor:
        for _ in range(3000):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE 'DELETE FROM streams_telemetry_dirty%%'"
            )
            if cursor.fetchone()[0]:
                return
            threading.Event().wait(0.01)
    pytest.fail("the flush never waited for the handler's lock")


def _forget_redis(client_id: int) -> int:
    """Redis loses the aggregator's state of this client (a restart without persistence)."""
    client = live_redis()
    keys = list(client.scan_iter(match=f"{KEY_PREFIX}:{{{client_id}}}:*", count=1000))
    if keys:
        client.delete(*keys)
    return len(keys)
