import json
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from prometheus_client import REGISTRY
from psycopg import sql

from apps.messaging.bus import bus_connection, envelope_build, envelope_decode, stream_key
from apps.warehouse.events import archival_confirmed
from apps.warehouse.models import ChunkArchival, RetentionPolicy
from apps.warehouse.retention import RetentionManager, chunk_row_count, chunks_list
from apps.warehouse.services import ColumnSpec, hypertable_create
from apps.warehouse.tasks import retention_scan
from apps.warehouse.types import (
    ARCHIVAL_CONFIRMATIONS_TOPIC,
    ARCHIVAL_EVENTS_TOPIC,
    ArchivalConfirmation,
    ArchivalEvent,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)  # keep 5 days -> cutoff 2026-03-15 12:00
COLUMNS = [
    ColumnSpec("observed_at", "timestamp", nullable=False),
    ColumnSpec("sensor_id", "string", nullable=False),
    ColumnSpec("value", "double"),
]
# Day -> rows. 1-day chunks: [10,11) and [11,12) are wholly before the cutoff;
# [15,16) straddles it; [19,20) is recent.
ROWS = {10: 3, 11: 2, 15: 1, 19: 1}


def day(d: int) -> datetime:
    return datetime(2026, 3, d, tzinfo=UTC)


def rows_insert(table: str, day_number: int, count: int, *, hour: int = 1) -> None:
    with connection.cursor() as cursor:
        for i in range(count):
            cursor.execute(
                sql.SQL("INSERT INTO {} VALUES (%s, %s, %s)")
                .format(sql.Identifier("analytics_data", table))
                .as_string(cursor.connection),
                [day(day_number) + timedelta(hours=hour, minutes=i), f"s{i}", float(i)],
            )


@pytest.fixture
def table():
    name = "ret_readings"
    hypertable_create(table=name, columns=COLUMNS, time_column="observed_at", chunk_interval="1 day")
    for d, count in ROWS.items():
        rows_insert(name, d, count)
    return name


@pytest.fixture
def policy(table):
    return RetentionPolicy.objects.create(table_name=table, keep_for=timedelta(days=5), batch_size=10)


def chunk_starts(table: str) -> list[datetime]:
    return [chunk.range_start for chunk in chunks_list(table_name=table)]


def published(topic: str, count: int = 1) -> list:
    entries = bus_connection().xrevrange(stream_key(topic), count=count)
    return [envelope_decode(fields) for _, fields in reversed(entries)]


def run(django_capture_on_commit_callbacks, policy):
    with django_capture_on_commit_callbacks(execute=True):
        return RetentionManager(now=NOW).policy_apply(policy)


def confirm(ref, event: ArchivalEvent, **changes) -> None:
    payload = ArchivalConfirmation(
        event_id=event.event_id,
        table_schema=event.table_schema,
        table_name=event.table_name,
        chunk_schema=ref.chunk_schema,
        chunk_name=ref.chunk_name,
        range_start=ref.range_start,
        range_end=ref.range_end,
        verified_row_count=ref.row_count,
        files=[f"{event.table_name}/2026/03/{ref.range_start.day:02d}/part-0.parquet"],
        checksum="abc123",
        confirmed_at=NOW,
    ).model_copy(update=changes)
    archival_confirmed(envelope_build(ARCHIVAL_CONFIRMATIONS_TOPIC, payload))


def alerts(kind: str) -> float:
    return REGISTRY.get_sample_value("ae_retention_alerts_total", {"kind": kind}) or 0.0


def test_only_wholly_old_chunks_are_requested_with_their_ranges_and_counts(
    table, policy, django_capture_on_commit_callbacks
):
    result = run(django_capture_on_commit_callbacks, policy)

    assert [(c.range_start, c.range_end, c.row_count) for c in result.requested] == [
        (day(10), day(11), 3),
        (day(11), day(12), 2),
    ]
    [envelope] = published(ARCHIVAL_EVENTS_TOPIC)
    event = ArchivalEvent.model_validate(envelope.payload)
    assert event == result.events[0]
    assert (event.table_schema, event.table_name, event.policy_id) == ("analytics_data", table, policy.pk)
    assert [(c.range_start, c.range_end, c.row_count) for c in event.chunks] == [
        (day(10), day(11), 3),
        (day(11), day(12), 2),
    ]
    ledger = ChunkArchival.objects.filter(table_name=table)
    assert {(e.chunk_name, e.status, e.expected_row_count, e.event_id) for e in ledger} == {
        (c.chunk_name, "requested", c.row_count, event.event_id) for c in event.chunks
    }
    assert len(chunk_starts(table)) == 4  # nothing dropped before a confirmation


def test_batches_split_chunks_into_several_events(table, policy, django_capture_on_commit_callbacks):
    policy.batch_size = 1
    policy.save()
    result = run(django_capture_on_commit_callbacks, policy)

    assert [len(event.chunks) for event in result.events] == [1, 1]
    envelopes = published(ARCHIVAL_EVENTS_TOPIC, 2)
    events = [ArchivalEvent.model_validate(e.payload) for e in envelopes]
    assert [(e.chunks[0].range_start, e.chunks[0].row_count) for e in events] == [(day(10), 3), (day(11), 2)]
    assert events[0].event_id != events[1].event_id


def test_a_second_scan_requests_nothing_again(table, policy, django_capture_on_commit_callbacks):
    run(django_capture_on_commit_callbacks, policy)
    again = run(django_capture_on_commit_callbacks, policy)

    assert again.events == []
    assert again.skipped == 2
    assert ChunkArchival.objects.filter(table_name=table).count() == 2


def test_a_matching_confirmation_drops_exactly_that_chunk(table, policy, django_capture_on_commit_callbacks):
    result = run(django_capture_on_commit_callbacks, policy)
    event = result.events[0]
    first = event.chunks[0]

    confirm(first, event)

    assert chunk_starts(table) == [day(11), day(15), day(19)]
    entry = ChunkArchival.objects.get(chunk_name=first.chunk_name)
    assert entry.status == "dropped"
    assert entry.verified_row_count == 3
    assert entry.files == ["ret_readings/2026/03/10/part-0.parquet"]
    assert entry.dropped_at is not None
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM analytics_data.ret_readings")
        assert cursor.fetchone()[0] == 2 + 1 + 1
    assert ChunkArchival.objects.get(chunk_name=event.chunks[1].chunk_name).status == "requested"


def test_repeated_confirmation_and_repeated_event_are_no_ops(table, policy, django_capture_on_commit_callbacks):
    event = run(django_capture_on_commit_callbacks, policy).events[0]
    first = event.chunks[0]
    confirm(first, event)
    before = alerts("archival_confirmation_refused")

    confirm(first, event)  # redelivered

    assert ChunkArchival.objects.get(chunk_name=first.chunk_name).status == "dropped"
    assert chunk_starts(table) == [day(11), day(15), day(19)]
    assert alerts("archival_confirmation_refused") == before
    # The next scan does not ask for the dropped chunk, nor for the pending one.
    assert run(django_capture_on_commit_callbacks, policy).events == []


def test_a_wrong_row_count_keeps_the_chunk_marks_it_refused_and_alerts(
    table, policy, django_capture_on_commit_callbacks, caplog
):
    event = run(django_capture_on_commit_callbacks, policy).events[0]
    first = event.chunks[0]
    before = alerts("archival_confirmation_refused")

    with caplog.at_level(logging.ERROR, logger="apps.warehouse.alerts"):
        confirm(first, event, verified_row_count=2)

    assert chunk_starts(table)[0] == day(10)
    assert chunk_row_count(chunk_schema=first.chunk_schema, chunk_name=first.chunk_name) == 3
    entry = ChunkArchival.objects.get(chunk_name=first.chunk_name)
    assert entry.status == "refused"
    assert "verified 2 rows but the chunk has 3" in entry.error
    assert alerts("archival_confirmation_refused") == before + 1
    [record] = [r for r in caplog.records if getattr(r, "alert", False)]
    assert record.levelno == logging.ERROR
    assert json.loads(record.getMessage())["kind"] == "archival_confirmation_refused"


def test_rows_arriving_after_the_request_make_the_confirmation_refused_then_requested_again(
    table, policy, django_capture_on_commit_callbacks
):
    event = run(django_capture_on_commit_callbacks, policy).events[0]
    first = event.chunks[0]
    rows_insert(table, 10, 1, hour=5)  # late data into the old chunk

    confirm(first, event)  # the worker archived the 3 rows it saw

    assert ChunkArchival.objects.get(chunk_name=first.chunk_name).status == "refused"
    assert chunk_row_count(chunk_schema=first.chunk_schema, chunk_name=first.chunk_name) == 4
    again = run(django_capture_on_commit_callbacks, policy)
    assert [(c.chunk_name, c.row_count) for c in again.requested] == [(first.chunk_name, 4)]
    # A late confirmation of the old request does not drop the chunk.
    confirm(first, event, verified_row_count=4)
    assert ChunkArchival.objects.get(chunk_name=first.chunk_name).status == "requested"
    assert chunk_starts(table)[0] == day(10)
    confirm(again.requested[0], again.events[0])
    assert chunk_starts(table)[0] == day(11)


def test_a_confirmation_with_another_range_is_refused(table, policy, django_capture_on_commit_callbacks):
    event = run(django_capture_on_commit_callbacks, policy).events[0]
    first = event.chunks[0]

    confirm(first, event, range_end=first.range_end + timedelta(days=1))

    assert ChunkArchival.objects.get(chunk_name=first.chunk_name).status == "refused"
    assert chunk_starts(table)[0] == day(10)


def test_a_confirmation_for_a_chunk_never_requested_drops_nothing(table, policy, django_capture_on_commit_callbacks):
    event = run(django_capture_on_commit_callbacks, policy).events[0]
    [recent] = [c for c in chunks_list(table_name=table) if c.range_start == day(19)]
    ref = event.chunks[0].model_copy(
        update={"chunk_name": recent.chunk_name, "range_start": recent.range_start, "range_end": recent.range_end,
                "row_count": 1}
    )  # fmt: skip
    before = alerts("archival_unknown_chunk")

    confirm(ref, event)

    assert day(19) in chunk_starts(table)
    assert alerts("archival_unknown_chunk") == before + 1


def test_the_drop_action_drops_old_chunks_without_an_event(table, policy, django_capture_on_commit_callbacks):
    policy.action = RetentionPolicy.Action.DROP
    policy.save()
    length = bus_connection().xlen(stream_key(ARCHIVAL_EVENTS_TOPIC))

    result = run(django_capture_on_commit_callbacks, policy)

    assert [(c.range_start, c.row_count) for c in result.dropped] == [(day(10), 3), (day(11), 2)]
    assert result.events == []
    assert chunk_starts(table) == [day(15), day(19)]
    assert bus_connection().xlen(stream_key(ARCHIVAL_EVENTS_TOPIC)) == length
    assert set(ChunkArchival.objects.filter(table_name=table).values_list("status", flat=True)) == {"dropped"}


def test_the_beat_task_applies_active_policies_only(table, policy, django_capture_on_commit_callbacks):
    other = "ret_other"
    hypertable_create(table=other, columns=COLUMNS, time_column="observed_at", chunk_interval="1 day")
    rows_insert(other, 1, 1)
    RetentionPolicy.objects.create(table_name=other, keep_for=timedelta(days=1), active=False)

    with django_capture_on_commit_callbacks(execute=True):
        summary = retention_scan()  # real now: every chunk is older than 5 days

    assert summary == [
        {"table": f"analytics_data.{table}", "action": "archive", "requested": 4, "events": 1, "dropped": 0,
         "skipped": 0}
    ]  # fmt: skip
    assert not ChunkArchival.objects.filter(table_name=other).exists()


def test_config_loader_creates_and_updates_policies(tmp_path, table):
    hypertable_create(table="ret_other", columns=COLUMNS, time_column="observed_at", chunk_interval="1 day")
    path = tmp_path / "retention.yaml"
    path.write_text(
        "policies:\n"
        "  - table: ret_readings\n    keep_for: 90 days\n    action: archive\n    lakehouse_target: cold\n"
        "  - table: ret_other\n    keep_for: P1D\n    action: drop\n    batch_size: 5\n"
    )
    call_command("retention_load", str(path))
    first = RetentionPolicy.objects.get(table_name="ret_readings")
    assert (first.keep_for, first.action, first.lakehouse_target) == (timedelta(days=90), "archive", "cold")
    assert RetentionPolicy.objects.get(table_name="ret_other").batch_size == 5

    path = tmp_path / "retention.json"
    path.write_text(json.dumps({"policies": [{"table": "ret_readings", "keep_for": "30 days", "active": False}]}))
    call_command("retention_load", str(path))
    first.refresh_from_db()
    assert (first.keep_for, first.active, first.lakehouse_target) == (timedelta(days=30), False, "cold")
    assert RetentionPolicy.objects.count() == 2


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"table": "t", "keep_for": "soon"}, "policies[1] (t): keep_for"),
        ({"table": "t", "keep_for": "1 day", "action": "burn"}, "policies[1] (t): action"),
        ({"keep_for": "1 day"}, "policies[1]: table"),
        ({"table": "t", "keep_for": "1 day", "colour": "red"}, "policies[1] (t): unknown key"),
    ],
)
def test_config_loader_names_the_bad_entry_and_writes_nothing(tmp_path, entry, message):
    path = tmp_path / "retention.json"
    path.write_text(json.dumps({"policies": [{"table": "fine", "keep_for": "1 day"}, entry]}))

    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("retention_load", str(path))
    assert not RetentionPolicy.objects.exists()


def test_the_confirmation_handler_is_found_by_the_consumer():
    from apps.messaging.registry import handlers_discover, handlers_for

    handlers_discover()
    assert [r.func for r in handlers_for(topic=ARCHIVAL_CONFIRMATIONS_TOPIC, group="warehouse")] == [archival_confirmed]


def test_a_confirmation_that_does_not_match_the_schema_is_refused_at_publish():
    from apps.messaging.types import PayloadInvalid

    with pytest.raises(PayloadInvalid):
        envelope_build(ARCHIVAL_CONFIRMATIONS_TOPIC, {"event_id": "x", "chunk_name": "c"})


def test_config_loader_refuses_a_table_that_does_not_exist_naming_it_once(tmp_path, table):
    path = tmp_path / "retention.json"
    entries = [
        {"table": f"analytics_data.{table}", "keep_for": "1 day"},
        {"table": "analytics_data.nope", "keep_for": "1 day"},
    ]
    path.write_text(json.dumps({"policies": entries}))

    with pytest.raises(CommandError) as raised:
        call_command("retention_load", str(path))
    assert "policies[1] (nope): no hypertable analytics_data.nope" in str(raised.value)
    assert "analytics_data.analytics_data" not in str(raised.value)
    assert not RetentionPolicy.objects.exists()

    path.write_text(json.dumps({"policies": entries[:1]}))
    call_command("retention_load", str(path))
    assert RetentionPolicy.objects.get().table_name == table  # the qualified name, split


def test_a_qualified_table_name_is_split_not_prefixed_again():
    from apps.warehouse.selectors import table_ref_parse

    assert table_ref_parse("analytics_data.c1_weather") == ("analytics_data", "c1_weather")
    assert table_ref_parse(" c1_weather ") == ("analytics_data", "c1_weather")
    assert table_ref_parse("c1_weather", schema="other") == ("other", "c1_weather")
    assert table_ref_parse("staging.c1_weather", schema="other") == ("staging", "c1_weather")
