"""Rollups: the table they create, what a refresh materializes (exactly the
raw aggregates, incrementally, up to now - end_offset), late rows
re-materialized through invalidations, one refresh at a time, automatic
generation from metrics, and the beat task that refreshes what is due."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections, transaction
from rest_framework.test import APIClient

from apps.calculations import tasks
from apps.calculations.models import Rollup, RollupInvalidation
from apps.calculations.rollups.auto import rollups_ensure_for_entity
from apps.calculations.rollups.locks import refresh_lock
from apps.calculations.rollups.selectors import rollup_specs
from apps.calculations.rollups.services import RollupPolicy, rollup_create, rollup_invalidate, rollup_refresh
from apps.calculations.tests.scenarios import created, rows_load
from apps.core.tests.factories import MembershipFactory
from apps.ontology.catalog import catalog_load
from apps.warehouse.selectors import hypertable_get

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

SITES = {
    "code": "sites",
    "name": "Sites",
    "kind": "reference",
    "attributes": [
        {"code": "site_id", "data_type": "string", "nullable": False},
        {"code": "region", "data_type": "string"},
    ],
}
READINGS = {
    "code": "readings",
    "name": "Readings",
    "kind": "time_series",
    "time_attribute": "measured_at",
    "attributes": [
        {"code": "measured_at", "data_type": "timestamp", "nullable": False},
        {"code": "reading_id", "data_type": "string", "nullable": False},
        {"code": "sensor", "data_type": "string", "enum_values": ["a", "b"]},
        {"code": "site_id", "data_type": "string"},
        {"code": "status", "data_type": "string"},
        {"code": "value", "data_type": "decimal"},
        {"code": "payload", "data_type": "json"},
    ],
}
DAY = datetime(2026, 3, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)


def admin_api() -> tuple[APIClient, int]:
    membership = MembershipFactory(role="admin", is_default=True)
    api = APIClient()
    api.force_authenticate(membership.user)
    return api, membership.client_id


def readings_define(api: APIClient) -> None:
    created(api.post("/api/v1/ontology/entities/", SITES, format="json"))
    created(api.post("/api/v1/ontology/entities/", READINGS, format="json"))
    relationship = {
        "code": "at_site", "name": "At site", "source_entity": "readings", "target_entity": "sites",
        "kind": "many_to_one", "source_attribute": "site_id", "target_attribute": "site_id",
    }  # fmt: skip
    created(api.post("/api/v1/ontology/relationships/", relationship, format="json"))


def reading(at: datetime, i: int, *, value: str | None = None, sensor: str | None = "a") -> dict:
    return {
        "measured_at": at.isoformat(),
        "reading_id": f"r{i}",
        "sensor": sensor,
        "site_id": f"s{i % 2}",
        "status": "ok" if i % 3 else "bad",
        "value": value if value is not None else f"{(i * 7) % 50}.{i % 4}0",
    }


def readings_rows(hours: int = 6, start: datetime = DAY) -> list[dict]:
    """Every 10 minutes for `hours` hours, sensors a, b and none (NULL)."""
    rows = []
    for step in range(hours * 6):
        at = start + timedelta(minutes=10 * step)
        for k, sensor in enumerate(("a", "b", None)):
            rows.append(reading(at, step * 3 + k, sensor=sensor))
    return rows


@pytest.fixture
def readings():
    api, client_id = admin_api()
    readings_define(api)
    rows_load(api, "readings", readings_rows())
    return api, client_id


def sum_rollup(client_id: int, grain: str = "hour", **policy) -> Rollup:
    return rollup_create(
        client_id=client_id,
        entity="readings",
        grain=grain,
        dimensions=["sensor", "site_id"],
        measures=[{"attribute": "value", "states": ["sum", "count", "min", "max", "hll", "tdigest"]}],
        policy=RollupPolicy(**policy),
    )


def raw_table(client_id: int) -> str:
    return catalog_load(client_id=client_id).entities["readings"].table


def raw_groups(client_id: int, grain: str = "hour") -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT time_bucket('1 {grain}', measured_at), sensor, site_id, count(*), sum(value), count(value), "  # noqa: S608 - test's own names
            f"min(value), max(value) FROM analytics_data.{raw_table(client_id)} GROUP BY 1, 2, 3"
        )
        return {tuple(row[:3]): tuple(row[3:]) for row in cursor.fetchall()}


def rollup_groups(rollup: Rollup) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT bucket, dim_0, dim_1, row_count, m0_sum, m0_count, m0_min, m0_max "  # noqa: S608
            f"FROM analytics_data.{rollup.table_name}"
        )
        return {tuple(row[:3]): tuple(row[3:]) for row in cursor.fetchall()}


def buckets(groups: dict) -> set[datetime]:
    return {key[0] for key in groups}


def test_the_table_has_the_partial_state_columns_and_is_a_hypertable(readings):
    _, client_id = readings
    rollup = sum_rollup(client_id)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, udt_name, is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'analytics_data' AND table_name = %s ORDER BY ordinal_position",
            [rollup.table_name],
        )
        columns = cursor.fetchall()
        cursor.execute(
            "SELECT i.indisunique, i.indnullsnotdistinct, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = %s::regclass",
            [f"analytics_data.{rollup.table_name}"],
        )
        (unique, nulls_not_distinct, definition), *others = cursor.fetchall()
    assert rollup.table_name == f"r{client_id}_readings_hour"
    assert columns == [
        ("bucket", "timestamptz", "NO"), ("dim_0", "text", "YES"), ("dim_1", "text", "YES"),
        ("row_count", "int8", "NO"), ("m0_sum", "numeric", "YES"), ("m0_count", "int8", "YES"),
        ("m0_min", "numeric", "YES"), ("m0_max", "numeric", "YES"), ("m0_hll", "hll", "YES"),
        ("m0_tdigest", "tdigest", "YES"),
    ]  # fmt: skip
    assert unique and nulls_not_distinct and others == []
    assert "(bucket, dim_0, dim_1)" in definition
    assert hypertable_get(table=rollup.table_name).time_column == "bucket"
    with connections["readonly"].cursor() as cursor:  # where the router reads
        cursor.execute(f"SELECT count(*) FROM analytics_data.{rollup.table_name}")  # noqa: S608
        assert cursor.fetchone() == (0,)


def test_first_refresh_materializes_exactly_the_raw_aggregates_up_to_now_minus_end_offset(readings):
    _, client_id = readings
    rollup = sum_rollup(client_id, end_offset=HOUR)
    result = rollup_refresh(rollup=rollup, now=DAY + timedelta(hours=6, minutes=30))
    raw = raw_groups(client_id)
    stored = rollup_groups(rollup)
    # now - end_offset = 05:30, so the 05:00 bucket stays out (it is the raw tail's).
    assert buckets(raw) == {DAY + h * HOUR for h in range(6)}
    assert buckets(stored) == {DAY + h * HOUR for h in range(5)}
    assert stored == {key: value for key, value in raw.items() if key[0] < DAY + 5 * HOUR}
    assert any(key[1] is None for key in stored)  # a NULL sensor is a group of its own
    assert result.watermark == rollup.watermark == DAY + 5 * HOUR
    assert result.rows == len(stored) == rollup.last_refresh_rows
    assert rollup.last_refresh_at is not None and rollup.last_error == ""


def test_sketches_merge_to_the_exact_answers_within_tolerance(readings):
    _, client_id = readings
    rollup = sum_rollup(client_id, end_offset=timedelta(0))
    rollup_refresh(rollup=rollup, now=DAY + timedelta(days=1))
    table, raw = f"analytics_data.{rollup.table_name}", f"analytics_data.{raw_table(client_id)}"
    with connection.cursor() as cursor:
        # What the router runs: merged sketches over all buckets and dimension values.
        cursor.execute(
            f"SELECT hll_cardinality(hll_union_agg(m0_hll)), tdigest_percentile(m0_tdigest, 0.5), "  # noqa: S608
            f"tdigest_percentile(m0_tdigest, 0.95) FROM {table}"
        )
        distinct, median, p95 = cursor.fetchone()
        cursor.execute(
            "SELECT count(DISTINCT value), percentile_cont(0.5) WITHIN GROUP (ORDER BY value), "  # noqa: S608
            f"percentile_cont(0.95) WITHIN GROUP (ORDER BY value), max(value) - min(value) FROM {raw}"
        )
        exact_distinct, exact_median, exact_p95, spread = cursor.fetchone()
        cursor.execute(f"SELECT hll_cardinality(m0_hll), m0_count FROM {table} WHERE m0_count > 0")  # noqa: S608
        per_row = cursor.fetchall()
    assert distinct == pytest.approx(exact_distinct, rel=0.02)
    tolerance = float(spread) * 0.05
    assert median == pytest.approx(exact_median, abs=tolerance)
    assert p95 == pytest.approx(exact_p95, abs=tolerance)
    assert all(0 < cardinality <= count for cardinality, count in per_row)


def test_a_refresh_rematerializes_only_its_window_and_advances_the_watermark(readings):
    _, client_id = readings
    rollup = sum_rollup(client_id, start_offset=HOUR, end_offset=HOUR)
    rollup_refresh(rollup=rollup, now=DAY + timedelta(hours=6, minutes=30))  # watermark 05:00
    before = rollup_groups(rollup)
    with connection.cursor() as cursor:  # raw rows change behind the rollup's back (no invalidation)
        cursor.execute(f"UPDATE analytics_data.{raw_table(client_id)} SET value = value + 1000")  # noqa: S608
    result = rollup_refresh(rollup=rollup, now=DAY + timedelta(hours=7, minutes=30))
    after = rollup_groups(rollup)
    raw = raw_groups(client_id)
    # Window [05:00 - 1 h, 06:00): 04:00 and 05:00 follow the raw rows; 00:00-03:00 keep their values.
    assert result.ranges == ((DAY + 4 * HOUR, DAY + 6 * HOUR),)
    assert result.watermark == rollup.watermark == DAY + 6 * HOUR
    assert buckets(after) == {DAY + h * HOUR for h in range(6)}
    for key, value in after.items():
        expected = raw[key] if key[0] >= DAY + 4 * HOUR else before[key]
        assert value == expected, key
    assert any(after[key] != raw[key] for key in after if key[0] < DAY + 4 * HOUR)


def test_late_rows_below_the_watermark_are_invalidated_then_rematerialized(readings):
    api, client_id = readings
    rollup = sum_rollup(client_id, start_offset=HOUR, end_offset=HOUR)
    now = DAY + timedelta(hours=6, minutes=30)
    rollup_refresh(rollup=rollup, now=now)  # watermark 05:00
    late = [reading(DAY + timedelta(hours=2, minutes=m), 900 + m, value="77.70") for m in (5, 25)]
    late.append(reading(DAY + timedelta(hours=5, minutes=15), 999, value="1.00"))  # above the watermark
    rows_load(api, "readings", late)

    (invalidation,) = RollupInvalidation.objects.filter(rollup=rollup)
    assert (invalidation.time_min, invalidation.time_max) == (DAY + timedelta(hours=2, minutes=5), DAY + 5 * HOUR)
    (spec,) = rollup_specs(client_id=client_id, entity="readings")
    assert spec.stale == ((invalidation.time_min, invalidation.time_max),)
    assert rollup_groups(rollup) != {k: v for k, v in raw_groups(client_id).items() if k[0] < DAY + 5 * HOUR}

    result = rollup_refresh(rollup=rollup, now=now)
    raw = raw_groups(client_id)
    assert rollup_groups(rollup) == {k: v for k, v in raw.items() if k[0] < DAY + 5 * HOUR}
    assert result.invalidations == 1 and (DAY + 2 * HOUR, DAY + 4 * HOUR) in result.ranges
    assert not RollupInvalidation.objects.filter(rollup=rollup).exists()
    assert rollup_specs(client_id=client_id, entity="readings")[0].stale == ()


def test_rows_loaded_above_every_watermark_invalidate_nothing(readings):
    api, client_id = readings
    rollup = sum_rollup(client_id)
    rows_load(api, "readings", [reading(DAY - timedelta(days=1), 500)])  # not refreshed yet: no watermark
    rollup_refresh(rollup=rollup, now=DAY + 3 * HOUR)
    rows_load(api, "readings", [reading(DAY + 4 * HOUR, 501)])
    assert not RollupInvalidation.objects.exists()


def test_rows_landing_during_a_refresh_slice_are_recorded_without_waiting_for_it(readings):
    _, client_id = readings
    rollup = sum_rollup(client_id, end_offset=timedelta(0))
    rollup_refresh(rollup=rollup, now=DAY + 3 * HOUR)  # watermark 03:00
    locked, release, gave_up = threading.Event(), threading.Event(), threading.Event()

    def slice_in_progress():
        try:
            with transaction.atomic():
                Rollup.objects.select_for_update(no_key=True).get(pk=rollup.pk)
                locked.set()
                if not release.wait(60):
                    gave_up.set()  # still inside the transaction: before the row lock goes
        finally:
            connections.close_all()

    holder = threading.Thread(target=slice_in_progress)
    holder.start()
    assert locked.wait(60)
    try:
        # Above the committed watermark, but the running slice may move it past these rows.
        recorded = rollup_invalidate(client_id=client_id, entity="readings", time_min=DAY + 4 * HOUR,
                                     time_max=DAY + 5 * HOUR)  # fmt: skip
        # Returned while the slice still held its row lock: an invalidation
        # that waited for the lock could only return after the holder gave up.
        assert not gave_up.is_set()
    finally:
        release.set()
        holder.join()
    assert recorded == 1
    result = rollup_refresh(rollup=rollup, now=DAY + 3 * HOUR)
    # The watermark stayed at 03:00: nothing below it to redo, and the record is resolved.
    assert result.invalidations == 1 and result.ranges == ((DAY, DAY + 3 * HOUR),)
    assert not RollupInvalidation.objects.exists()


def test_a_refresh_while_another_runs_is_skipped_and_concurrent_ones_never_double_insert(readings):
    _, client_id = readings
    rollup = sum_rollup(client_id, end_offset=timedelta(0))
    with refresh_lock(rollup.pk) as held:  # this connection plays the running refresh
        assert held
        skipped = []

        def other():
            try:
                skipped.append(rollup_refresh(rollup=Rollup.objects.get(pk=rollup.pk), now=DAY + 8 * HOUR).skipped)
            finally:
                connections.close_all()

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert skipped == [True]
    assert Rollup.objects.get(pk=rollup.pk).watermark is None

    barrier, errors = threading.Barrier(3), []

    def refresh():
        try:
            barrier.wait()
            rollup_refresh(rollup=Rollup.objects.get(pk=rollup.pk), now=DAY + 8 * HOUR)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=refresh) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert rollup_groups(rollup) == raw_groups(client_id)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM analytics_data.{rollup.table_name}")  # noqa: S608
        assert cursor.fetchone()[0] == len(raw_groups(client_id))


def test_a_failed_refresh_records_its_error_and_raises(readings):
    _, client_id = readings
    rollup = sum_rollup(client_id)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE analytics_data.{rollup.table_name}")
    with pytest.raises(Exception, match="does not exist"):
        rollup_refresh(rollup=rollup, now=DAY + 8 * HOUR)
    rollup.refresh_from_db()
    assert "does not exist" in rollup.last_error
    assert rollup.watermark is None and rollup.last_refresh_at is None


def metric(api: APIClient, code: str, formula: str) -> dict:
    payload = {"code": code, "name": code, "formula": formula, "entity": "readings"}
    return created(api.post("/api/v1/ontology/metrics/", payload, format="json"))


def shapes(client_id: int) -> dict:
    return {r.grain: (r.dimensions, r.measures, r.auto) for r in Rollup.objects.filter(client_id=client_id)}


def test_defining_metrics_generates_rollups_with_sketches_only_at_coarse_grains(eager_tasks):
    api, client_id = admin_api()
    readings_define(api)
    metric(api, "opening", "AT_START(COUNT_DISTINCT(reading_id))")  # needs raw rows at points in time
    assert shapes(client_id) == {}

    metric(api, "total", "SUM(value)")
    metric(api, "readers", "COUNT_DISTINCT(reading_id) WHERE status = 'ok'")
    dims = ["sensor", "site_id", "status"]  # enum, many-to-one key, filtered on
    sums = {"attribute": "value", "states": ["sum", "count"]}
    assert shapes(client_id) == {
        "minute": (dims, [sums], True),
        "hour": (dims, [{"attribute": "reading_id", "states": ["hll"]}, sums], True),
        "day": (dims, [{"attribute": "reading_id", "states": ["hll"]}, sums], True),
    }
    minute = Rollup.objects.get(client_id=client_id, grain="minute")
    assert (minute.schedule, minute.end_offset) == ("* * * * *", timedelta(minutes=1))

    # A rollup a person reshaped is theirs: generation leaves it alone.
    day = Rollup.objects.get(client_id=client_id, grain="day")
    response = api.patch(f"/api/v1/calculations/rollups/{day.pk}/", {"dimensions": ["sensor"]}, format="json")
    assert response.status_code == 200, response.content
    metric(api, "p95", "PERCENTILE(value, 0.95)")
    after = shapes(client_id)
    assert after["day"] == (["sensor"], [{"attribute": "reading_id", "states": ["hll"]}, sums], False)
    assert after["hour"][1][1] == {"attribute": "value", "states": ["sum", "count", "tdigest"]}
    assert after["minute"][1] == [sums]


def test_generation_for_a_reference_entity_or_without_servable_metrics_makes_nothing(readings):
    _, client_id = readings
    assert rollups_ensure_for_entity(client_id=client_id, entity="sites") == []
    assert rollups_ensure_for_entity(client_id=client_id, entity="readings") == []
    assert not Rollup.objects.exists()


def test_the_beat_task_refreshes_only_the_rollups_that_are_due(readings, eager_tasks):
    _, client_id = readings
    due = sum_rollup(client_id, "hour", schedule="*/5 * * * *")
    later = sum_rollup(client_id, "day")
    off = sum_rollup(client_id, "minute")
    past, future = datetime(2026, 1, 1, tzinfo=UTC), datetime(2999, 1, 1, tzinfo=UTC)
    Rollup.objects.filter(pk=due.pk).update(next_refresh_at=past)
    Rollup.objects.filter(pk=later.pk).update(next_refresh_at=future)
    Rollup.objects.filter(pk=off.pk).update(next_refresh_at=past, enabled=False)

    assert tasks.rollups_refresh_due() == {"enqueued": [due.pk]}
    for rollup in (due, later, off):
        rollup.refresh_from_db()
    assert due.watermark is not None and due.last_refresh_rows > 0
    assert later.last_refresh_at is None and off.last_refresh_at is None
    assert due.next_refresh_at > due.last_refresh_at
    assert due.next_refresh_at.minute % 5 == 0 and due.next_refresh_at.second == 0
    assert tasks.rollups_refresh_due() == {"enqueued": []}  # claimed until its next cron time
