import pytest
from django.db import DatabaseError, connection, connections
from psycopg import errors

from apps.core.errors import AppError
from apps.warehouse.selectors import hypertable_get, timescaledb_info
from apps.warehouse.services import ColumnSpec, hypertable_create

pytestmark = pytest.mark.django_db

READINGS = [
    ColumnSpec("observed_at", "timestamp", nullable=False),
    ColumnSpec("sensor_id", "string", nullable=False),
    ColumnSpec("value", "double"),
]


def _table_exists(schema: str, table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s", [schema, table]
        )
        return cursor.fetchone() is not None


def test_hypertable_is_created_in_analytics_data_and_is_idempotent():
    hypertable_create(table="readings", columns=READINGS, time_column="observed_at",
                      primary_key=["sensor_id", "observed_at"])  # fmt: skip
    hypertable_create(table="readings", columns=READINGS, time_column="observed_at",
                      primary_key=["sensor_id", "observed_at"])  # fmt: skip

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT hypertable_schema, hypertable_name FROM timescaledb_information.hypertables"
            " WHERE hypertable_name = 'readings'"
        )
        assert cursor.fetchall() == [("analytics_data", "readings")]
        cursor.execute(
            "INSERT INTO analytics_data.readings"
            " VALUES ('2026-01-01T00:00Z', 's1', 1.5), ('2026-03-01T00:00Z', 's1', 2)"
        )
    info = hypertable_get(table="readings")
    assert info.time_column == "observed_at"
    assert info.num_chunks == 2  # two rows two months apart: two 7-day chunks


def test_odd_identifiers_are_quoted_not_injected():
    hypertable_create(table="victim", columns=READINGS, time_column="observed_at")
    evil_table = 'evil"; DROP TABLE analytics_data.victim; --'
    evil_column = 'Mixed Case "col"; DROP'
    columns = [*READINGS, ColumnSpec(evil_column, "integer")]

    hypertable_create(table=evil_table, columns=columns, time_column="observed_at")

    assert _table_exists("analytics_data", "victim")
    assert _table_exists("analytics_data", evil_table)
    assert hypertable_get(table=evil_table) is not None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'analytics_data'"
            " AND table_name = %s ORDER BY ordinal_position",
            [evil_table],
        )
        assert [row[0] for row in cursor.fetchall()] == ["observed_at", "sensor_id", "value", evil_column]


@pytest.mark.parametrize(
    ("kwargs", "code", "fragment"),
    [
        ({"time_column": "missing"}, "invalid_time_column", "'missing' is not among the columns"),
        ({"time_column": "sensor_id"}, "invalid_time_column", "must be a date or timestamp"),
        ({"primary_key": ["sensor_id"]}, "invalid_primary_key", "must include its time column"),
        ({"table": "x" * 64}, "invalid_identifier", "at most 63 bytes"),
        ({"columns": [*READINGS, ColumnSpec("blob", "bytes")]}, "invalid_column_type", "unknown type 'bytes'"),
        ({"columns": [*READINGS, ColumnSpec("value", "integer")]}, "duplicate_column", "appears twice"),
    ],
)
def test_bad_specs_are_refused_with_a_named_reason_and_create_nothing(kwargs, code, fragment):
    arguments = {"table": "refused", "columns": READINGS, "time_column": "observed_at", **kwargs}
    with pytest.raises(AppError) as caught:
        hypertable_create(**arguments)
    assert caught.value.code == code
    assert fragment in caught.value.message
    assert not _table_exists("analytics_data", arguments["table"])


def test_timescaledb_edition_is_reported():
    info = timescaledb_info()
    assert info.version and info.version[0].isdigit()
    assert info.license == "apache"
    assert info.has_continuous_aggregates is False


@pytest.mark.django_db(transaction=True, databases=["default", "readonly"])
def test_readonly_alias_reads_analytics_data_and_cannot_write():
    hypertable_create(table="ro_probe", columns=READINGS, time_column="observed_at")
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO analytics_data.ro_probe VALUES ('2026-01-01T00:00Z', 's1', 3.5)")

    readonly = connections["readonly"]
    assert readonly.settings_dict["USER"] != connection.settings_dict["USER"]
    with readonly.cursor() as cursor:
        cursor.execute("SELECT sensor_id, value FROM analytics_data.ro_probe")
        assert cursor.fetchall() == [("s1", 3.5)]

    for statement in (
        "INSERT INTO analytics_data.ro_probe VALUES ('2026-01-02T00:00Z', 's2', 1)",
        "SELECT count(*) FROM auth_user",
    ):
        with pytest.raises(DatabaseError) as caught, readonly.cursor() as cursor:
            cursor.execute(statement)
        assert isinstance(caught.value.__cause__, (errors.ReadOnlySqlTransaction, errors.InsufficientPrivilege))
        readonly.close()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM analytics_data.ro_probe")
        assert cursor.fetchone() == (1,)
