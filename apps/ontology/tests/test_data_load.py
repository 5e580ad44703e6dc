import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection
from psycopg import sql

from apps.core.errors import AppError
from apps.core.tests.factories import ClientFactory, UserFactory
from apps.ontology.models import DataLoad
from apps.ontology.row_validation import REQUIRED
from apps.ontology.services import hooks
from apps.ontology.services.data_load import entity_csv_load, entity_rows_load, json_rows_parse
from apps.ontology.services.entities import AttributeInput, EntityInput, entity_create
from apps.warehouse.services import ColumnSpec, TableSpec, table_create
from apps.warehouse.services.copy import rows_copy

pytestmark = pytest.mark.django_db

READING = EntityInput(
    code="reading",
    name="Reading",
    kind="time_series",
    time_attribute="observed_at",
    attributes=[
        AttributeInput("observed_at", "timestamp", nullable=False),
        AttributeInput("meter", "string", nullable=False),
        AttributeInput("status", "string", enum_values=("ok", "late")),
        AttributeInput("value", "decimal"),
        AttributeInput("pulses", "integer"),
        AttributeInput("active", "boolean"),
        AttributeInput("read_on", "date"),
        AttributeInput("extra", "json"),
    ],
)
COLUMNS = [a.code for a in READING.attributes]
METER = EntityInput(
    code="meter",
    name="Meter",
    kind="reference",
    attributes=[AttributeInput("meter", "string", nullable=False), AttributeInput("site", "string")],
)
DAILY = EntityInput(
    code="daily",
    name="Daily",
    kind="time_series",
    time_attribute="day",
    attributes=[AttributeInput("day", "date", nullable=False), AttributeInput("total", "decimal")],
)


@pytest.fixture
def client_id():
    return ClientFactory().id


@pytest.fixture
def reading(client_id):
    return entity_create(client_id=client_id, data=READING)


@pytest.fixture
def heard(monkeypatch):
    """What the rows-loaded listeners hear; only this test's listener is registered."""
    events = []
    monkeypatch.setattr(hooks, "_rows_loaded", [])
    hooks.on_rows_loaded(events.append)
    return events


def stored(entity, columns=None, order="observed_at"):
    columns = columns or [a.code for a in entity.attributes.all()]
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
                sql.SQL(", ").join(
                    sql.SQL("{}::text").format(sql.Identifier(c)) if c == "extra" else sql.Identifier(c)
                    for c in columns
                ),
                sql.Identifier("analytics_data", entity.table_name),
                sql.Identifier(order),
            )
        )
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def row(**values):
    return {"observed_at": "2026-01-05T10:00:00Z", "meter": "m-1", **values}


# --- Valid rows, types ---------------------------------------------------------


def test_valid_rows_are_stored_with_their_types(reading):
    result = entity_rows_load(
        entity=reading,
        rows=[
            row(
                status="ok",
                value=Decimal("12.3456789012345678901"),
                pulses=42,
                active=True,
                read_on="2026-01-05",
                extra={"source": "scada", "tags": ["a", 1]},
            ),
            row(observed_at="2026-01-06T12:00:00+02:00", meter="m-2", value=0.1, pulses="7", active="no"),
        ],
    )

    assert (result.inserted, result.rejected, result.rejected_count) == (2, [], 0)
    first, second = stored(reading)
    assert first == {
        "observed_at": datetime(2026, 1, 5, 10, tzinfo=UTC),
        "meter": "m-1",
        "status": "ok",
        "value": Decimal("12.3456789012345678901"),  # every digit sent, no float rounding
        "pulses": 42,
        "active": True,
        "read_on": date(2026, 1, 5),
        "extra": '{"tags": ["a", 1], "source": "scada"}',
    }
    assert second["observed_at"] == datetime(2026, 1, 6, 10, tzinfo=UTC)  # +02:00 kept as the same instant
    assert second["value"] == Decimal("0.1")  # a float's shortest text, not 0.1000000000000000055...
    assert (second["pulses"], second["active"], second["status"], second["extra"]) == (7, False, None, None)


def test_a_timestamp_without_offset_means_utc_whatever_the_session_zone(reading):
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'America/New_York'")
    entity_rows_load(entity=reading, rows=[row(observed_at="2026-03-01T08:15:00"), row(observed_at="2026-03-02")])
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")

    assert [r["observed_at"] for r in stored(reading)] == [
        datetime(2026, 3, 1, 8, 15, tzinfo=UTC),
        datetime(2026, 3, 2, tzinfo=UTC),
    ]


def test_numbers_are_accepted_in_the_forms_json_and_people_write_them(reading):
    result = entity_rows_load(
        entity=reading,
        rows=[
            row(pulses=12.0, value=3),
            row(pulses="  13 ", value=" 1e3 "),
            row(pulses=Decimal("14.00"), value=2**70),
        ],
    )

    assert result.rejected == []
    assert [(r["pulses"], r["value"]) for r in stored(reading, order="pulses")] == [
        (12, Decimal(3)),
        (13, Decimal(1000)),
        (14, Decimal(2**70)),
    ]


# --- Invalid rows -----------------------------------------------------------


def test_invalid_rows_are_reported_with_every_problem_and_the_valid_ones_stored(reading):
    result = entity_rows_load(
        entity=reading,
        rows=[
            row(value="1.5"),
            {"observed_at": "yesterday", "pulses": 1.5, "colour": "red", "status": "lost"},
            row(active="maybe", read_on="2026-02-30", value="12,5"),
            row(pulses=2**63, value="NaN", extra=float("nan")),
            row(meter=12, status=None, observed_at=1767225600),
        ],
    )

    assert result.inserted == 1
    assert result.rejected_count == 4
    assert [r["row"] for r in result.rejected] == [1, 2, 3, 4]
    assert result.rejected[0]["errors"] == {
        "colour": "Unknown attribute; this entity has: " + ", ".join(COLUMNS) + ".",
        "observed_at": 'Expected an ISO 8601 timestamp (2026-01-31T09:30:00Z), got "yesterday".',
        "meter": REQUIRED,
        "status": '"lost" is not one of the allowed values: ok, late.',
        "pulses": "Expected an integer, got 1.5.",
    }
    assert result.rejected[1]["errors"] == {
        "active": 'Expected a boolean (true/false), got "maybe".',
        "read_on": 'Expected an ISO 8601 date (YYYY-MM-DD), got "2026-02-30".',
        "value": 'Expected a number, got "12,5".',
    }
    assert set(result.rejected[2]["errors"]) == {"pulses", "value", "extra"}
    assert result.rejected[2]["errors"]["pulses"].startswith("Out of range for an integer")
    assert result.rejected[2]["errors"]["value"] == 'Expected a finite number, got "NaN".'
    assert result.rejected[3]["errors"] == {
        "meter": "Expected a string, got 12.",
        "observed_at": "Expected an ISO 8601 timestamp string (2026-01-31T09:30:00Z), got 1767225600.",
    }
    assert [r["value"] for r in stored(reading)] == [Decimal("1.5")]


def test_missing_and_null_values_follow_nullability(reading):
    result = entity_rows_load(
        entity=reading,
        rows=[{"observed_at": "2026-01-05T10:00:00Z", "meter": "m-1"}, {"meter": None}, {"observed_at": None}],
    )

    assert result.inserted == 1
    assert result.rejected == [
        {"row": 1, "errors": {"observed_at": REQUIRED, "meter": REQUIRED}},
        {"row": 2, "errors": {"observed_at": REQUIRED, "meter": REQUIRED}},
    ]
    assert stored(reading)[0]["value"] is None  # a missing nullable attribute is NULL


def test_text_that_postgres_cannot_store_is_a_row_error_not_a_failed_load(reading):
    result = entity_rows_load(
        entity=reading, rows=[row(meter="a\x00b"), row(extra={"k": "\x00"}), row(meter="\ud800"), row()]
    )

    assert result.inserted == 1
    assert [(r["row"], list(r["errors"])) for r in result.rejected] == [(0, ["meter"]), (1, ["extra"]), (2, ["meter"])]
    assert "NUL character" in result.rejected[0]["errors"]["meter"]


def test_all_rows_rejected_stores_and_publishes_nothing(reading, heard, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = entity_rows_load(entity=reading, rows=[{"meter": "m-1"}, {"nope": 1}])

    assert (result.inserted, result.rejected_count) == (0, 2)
    assert (result.time_min, result.time_max) == (None, None)
    assert callbacks == [] and heard == []
    assert not DataLoad.objects.exists()


def test_only_the_first_rejections_are_detailed(reading, settings):
    settings.AE_MAX_REPORTED_REJECTIONS = 2
    result = entity_rows_load(entity=reading, rows=[{"meter": None}] * 5 + [row()])

    assert (result.inserted, result.rejected_count) == (1, 5)
    assert [r["row"] for r in result.rejected] == [0, 1]


# --- Limits, rollback ---------------------------------------------------------


def test_more_rows_than_the_cap_are_refused_before_anything_is_written(reading, settings):
    settings.AE_MAX_LOAD_ROWS = 3
    with pytest.raises(AppError) as caught:
        entity_rows_load(entity=reading, rows=[row()] * 4)

    assert (caught.value.status_code, caught.value.code) == (413, "too_many_rows")
    assert "at most 3" in caught.value.message
    assert stored(reading) == []


def test_a_csv_over_the_cap_is_rolled_back_whole(reading, settings):
    settings.AE_MAX_LOAD_ROWS = 3
    lines = "observed_at,meter\n" + "".join(f"2026-01-0{i}T00:00:00Z,m-{i}\n" for i in range(1, 5))

    with pytest.raises(AppError) as caught:
        entity_csv_load(entity=reading, stream=io.StringIO(lines))

    assert caught.value.status_code == 413
    assert stored(reading) == []  # the first three were already in the COPY: rolled back
    assert not DataLoad.objects.exists()


def test_a_database_error_part_way_leaves_nothing_half_written(reading, heard, django_capture_on_commit_callbacks):
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT pulses_small CHECK (pulses < 100)").format(
                sql.Identifier("analytics_data", reading.table_name)
            )
        )

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(AppError) as caught:
        entity_rows_load(entity=reading, rows=[row(pulses=1), row(pulses=2), row(pulses=500), row(pulses=3)])

    assert (caught.value.status_code, caught.value.code) == (400, "rows_not_stored")
    assert "pulses_small" in caught.value.message
    assert stored(reading) == []
    assert callbacks == [] and heard == []
    assert not DataLoad.objects.exists()


def test_a_table_that_no_longer_matches_the_entity_is_a_conflict(reading):
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("ALTER TABLE {} DROP COLUMN pulses").format(sql.Identifier("analytics_data", reading.table_name))
        )

    with pytest.raises(AppError) as caught:
        entity_rows_load(entity=reading, rows=[row()])

    assert (caught.value.status_code, caught.value.code, caught.value.details) == (
        409,
        "schema_drift",
        {"columns": ["pulses"]},
    )


# --- ingestion.completed --------------------------------------------------------


def test_a_load_records_itself_and_tells_listeners_after_commit(
    reading, heard, django_capture_on_commit_callbacks, client_id
):
    loader = UserFactory()
    with django_capture_on_commit_callbacks() as callbacks:
        result = entity_rows_load(
            entity=reading,
            rows=[
                row(observed_at="2026-02-10T08:00:00+01:00"),
                row(observed_at="2026-02-01T00:00:00Z"),
                row(observed_at="1999-01-01T00:00:00Z", status="unknown"),  # rejected: not in the range
                row(observed_at="2026-02-03T00:00:00"),
            ],
            source="api",
            user=loader,
        )
        assert heard == []  # not before the commit
    assert len(callbacks) == 2  # the bus publish and the in-process listener
    for callback in callbacks:
        callback()

    earliest, latest = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 2, 10, 7, tzinfo=UTC)
    assert (result.time_min, result.time_max) == (earliest, latest)
    load = DataLoad.objects.get()
    assert (load.client_id, load.entity, load.inserted, load.rejected) == (client_id, reading, 3, 1)
    assert (load.time_min, load.time_max, load.source, load.created_by) == (earliest, latest, "api", loader)
    [event] = heard
    assert (event.client_id, event.entity, event.inserted, event.time_min, event.time_max) == (
        client_id,
        "reading",
        3,
        earliest,
        latest,
    )
    assert len(event.event_id) == 36


def test_ingestion_completed_is_published_on_the_bus_after_commit(reading, heard, django_capture_on_commit_callbacks):
    from apps.messaging.bus import bus_connection, envelope_decode, stream_key

    with django_capture_on_commit_callbacks(execute=True):
        entity_rows_load(entity=reading, rows=[row(observed_at="2026-02-01T00:00:00Z")])

    [(_, fields)] = bus_connection().xrevrange(stream_key("ingestion.completed"), count=1)
    envelope = envelope_decode(fields)
    assert str(envelope.event_id) == heard[0].event_id
    assert (envelope.type, envelope.tenant) == ("ingestion.completed", reading.client.code)
    assert envelope.payload["entity"] == "reading"
    assert envelope.payload["inserted"] == 1
    assert envelope.payload["time_min"].startswith("2026-02-01T00:00:00")
    assert envelope.payload["load_id"] == DataLoad.objects.get().pk


def test_every_load_has_its_own_event_id_and_the_correlation_id(reading, heard, django_capture_on_commit_callbacks):
    from django_guid import set_guid

    set_guid("req-123")
    with django_capture_on_commit_callbacks(execute=True):
        entity_rows_load(entity=reading, rows=[row()])
        entity_rows_load(entity=reading, rows=[row()])

    assert len({event.event_id for event in heard}) == 2
    assert {event.correlation_id for event in heard} == {"req-123"}
    assert set(DataLoad.objects.values_list("correlation_id", flat=True)) == {"req-123"}


def test_a_reference_entity_has_no_time_range(client_id, heard, django_capture_on_commit_callbacks):
    meter = entity_create(client_id=client_id, data=METER)
    with django_capture_on_commit_callbacks(execute=True):
        result = entity_rows_load(entity=meter, rows=[{"meter": "m-1", "site": "north"}])

    assert result.inserted == 1
    assert (heard[0].time_min, heard[0].time_max) == (None, None)
    assert DataLoad.objects.get().time_min is None


def test_a_date_time_attribute_gives_a_range_of_utc_midnights(client_id):
    daily = entity_create(client_id=client_id, data=DAILY)
    result = entity_rows_load(entity=daily, rows=[{"day": "2026-01-03"}, {"day": "2026-01-01", "total": "5"}])

    assert (result.time_min, result.time_max) == (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC))


# --- CSV --------------------------------------------------------------------------


def test_csv_rows_are_stored_and_empty_cells_are_null(reading, heard, django_capture_on_commit_callbacks):
    text = (
        "\ufeffmeter, observed_at ,value,status,extra,active\r\n"
        'm-1,2026-01-05T10:00:00Z,12.50,ok,"{""a"": [1, 2]}",yes\r\n'
        '"m,2",2026-01-06,,,,\r\n'
        "\r\n"
        '"multi\nline",2026-01-07T00:00:00+00:00,1e2,late,null,FALSE\r\n'
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = entity_csv_load(entity=reading, stream=io.StringIO(text, newline=""))

    assert (result.inserted, result.rejected) == (3, [])
    rows = stored(reading, ["meter", "value", "status", "extra", "active", "pulses"])
    assert rows == [
        {"meter": "m-1", "value": Decimal("12.50"), "status": "ok", "extra": '{"a": [1, 2]}', "active": True,
         "pulses": None},
        {"meter": "m,2", "value": None, "status": None, "extra": None, "active": None, "pulses": None},
        {"meter": "multi\nline", "value": Decimal("100"), "status": "late", "extra": "null", "active": False,
         "pulses": None},
    ]  # fmt: skip
    assert DataLoad.objects.get().source == "csv"
    assert (heard[0].time_min, heard[0].time_max) == (
        datetime(2026, 1, 5, 10, tzinfo=UTC),
        datetime(2026, 1, 7, tzinfo=UTC),
    )


def test_invalid_csv_rows_are_reported_with_their_line(reading):
    text = (
        "observed_at,meter,pulses,status\n"
        "2026-01-05T10:00:00Z,m-1,1,ok\n"
        ",m-2,x,bad\n"
        "2026-01-05T10:00:00Z,m-3\n"
        '2026-01-05T10:00:00Z,"m\n4",4,ok\n'
        "2026-01-05T10:00:00Z,,5,\n"
    )
    result = entity_csv_load(entity=reading, stream=io.StringIO(text, newline=""))

    assert result.inserted == 2
    assert result.rejected == [
        {
            "row": 1,
            "line": 3,
            "errors": {
                "observed_at": REQUIRED,
                "pulses": 'Expected an integer, got "x".',
                "status": '"bad" is not one of the allowed values: ok, late.',
            },
        },
        {"row": 2, "line": 4, "errors": {"_row": "Expected 4 cells (one per header column), found 2."}},
        {"row": 4, "line": 7, "errors": {"meter": REQUIRED}},
    ]


@pytest.mark.parametrize(
    ("header", "code", "details", "message"),
    [
        (
            "observed_at,meter,colour,size",
            "invalid_csv_header",
            {"unknown_columns": ["colour", "size"]},
            "unknown column(s) colour, size",
        ),
        ("observed_at,value", "invalid_csv_header", {"missing_columns": ["meter"]}, "missing required"),
        ("meter,observed_at,meter", "invalid_csv_header", {"duplicate_columns": ["meter"]}, "named twice: meter"),
        ("meter,,observed_at", "invalid_csv_header", {"empty_columns": [2]}, "empty column name"),
        ("", "empty_csv", {}, "The CSV is empty"),
    ],
)
def test_a_bad_csv_header_is_refused_before_anything_is_written(reading, header, code, details, message):
    text = f"{header}\n2026-01-05T10:00:00Z,m-1,1,2\n" if header else ""
    with pytest.raises(AppError) as caught:
        entity_csv_load(entity=reading, stream=io.StringIO(text))

    assert (caught.value.status_code, caught.value.code) == (400, code)
    assert details.items() <= caught.value.details.items()
    assert message in caught.value.message
    assert stored(reading) == []


# --- The JSON body ------------------------------------------------------------------


def test_json_bodies_keep_decimal_digits_and_refuse_what_is_not_rows():
    assert json_rows_parse('\ufeff[{"v": 0.30000000000000000001, "n": 3}]'.encode()) == [
        {"v": Decimal("0.30000000000000000001"), "n": 3}
    ]
    for body, code in [
        (b"", "empty_body"),
        (b"  \n", "empty_body"),
        (b'[{"v": 1}', "malformed_json"),
        (b'[{"v": NaN}]', "malformed_json"),
        (b'[{"v": "\xff"}]', "invalid_encoding"),
        (b'{"v": 1}', "expected_array"),
        (b'[{"v": 1}, 2, [3]]', "expected_objects"),
    ]:
        with pytest.raises(AppError) as caught:
            json_rows_parse(body)
        assert (caught.value.status_code, caught.value.code) == (400, code), body


# --- The COPY primitive ----------------------------------------------------------------


@pytest.mark.parametrize("types", [None, ["timestamptz", "text", "numeric"]], ids=["text", "binary"])
def test_rows_copy_writes_both_formats_into_oddly_named_columns(types):
    columns = [ColumnSpec("at", "timestamp"), ColumnSpec('Odd "name"', "string"), ColumnSpec("v", "decimal")]
    table_create(spec=TableSpec(table='odd table"', columns=columns))
    rows = [(datetime(2026, 1, 1, tzinfo=UTC), "tab\tand\nnewline", Decimal("1.50")), (None, None, None)]

    assert rows_copy(table='odd table"', columns=[c.name for c in columns], rows=iter(rows), types=types) == 2
    with connection.cursor() as cursor:
        cursor.execute('SELECT * FROM analytics_data."odd table""" ORDER BY at')
        assert cursor.fetchall() == rows
