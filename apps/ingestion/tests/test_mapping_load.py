"""Mapped rows through the real path: an entity defined through the
ontology's services, its EntityView from the selectors, the rows loaded by
the validated bulk load (RowValidator -> COPY) and read back typed."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection
from psycopg import sql

from apps.core.tests.factories import ClientFactory
from apps.ingestion.mapping import Mapper
from apps.ingestion.tests.mapping_fixtures import LIFECYCLE_1_MAPPING, POLICY_SOURCE_COLUMNS
from apps.ontology import selectors
from apps.ontology.services import entities
from apps.ontology.services.data_load import entity_rows_load

pytestmark = pytest.mark.django_db

POLICY_SNAPSHOT = entities.EntityInput(
    code="policy_snapshot",
    name="Policy snapshot",
    kind="time_series",
    time_attribute="snapshot_date",
    attributes=[
        entities.AttributeInput("snapshot_date", "date", nullable=False),
        entities.AttributeInput("policy_id", "string", nullable=False),
        entities.AttributeInput("status", "string", enum_values=("Active", "Terminated")),
        entities.AttributeInput("start_date", "date"),
        entities.AttributeInput("member_id", "string"),
    ],
)
MEASURES = entities.EntityInput(
    code="measures",
    name="Measures",
    kind="time_series",
    time_attribute="observed_at",
    attributes=[
        entities.AttributeInput("observed_at", "timestamp", nullable=False),
        entities.AttributeInput("amount", "decimal"),
        entities.AttributeInput("count", "integer"),
        entities.AttributeInput("flag", "boolean"),
        entities.AttributeInput("extra", "json"),
    ],
)


def _stored(table: str, columns: list[str], order: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.Identifier("analytics_data", table),
                sql.Identifier(order),
            )
        )
        return cursor.fetchall()


def test_lifecycle_1_records_are_loaded_into_policy_snapshot_by_the_validated_load():
    client_id = ClientFactory().id
    entities.entity_create(client_id=client_id, data=POLICY_SNAPSHOT)
    entity = selectors.entity(client_id=client_id, code="policy_snapshot")
    mapper = Mapper.build(entity=entity, mapping=LIFECYCLE_1_MAPPING, source_columns=POLICY_SOURCE_COLUMNS)
    records = [
        {"POL_ID": "P-1", "STAT_CD": "A", "EFF_DT": "20260115", "SNAP_DT": date(2026, 3, 1), "MBR_NO": 7},
        {"POL_ID": "P-2", "STAT_CD": " t ", "EFF_DT": "20251231", "SNAP_DT": date(2026, 3, 1), "MBR_NO": None},
        {"POL_ID": "P-3", "STAT_CD": "Terminated", "EFF_DT": None, "SNAP_DT": date(2026, 3, 2), "MBR_NO": 9},
    ]
    mapped = [mapper.apply(r) for r in records]
    assert all(m.errors == {} for m in mapped)

    result = entity_rows_load(entity=entity, rows=[m.values for m in mapped])

    assert (result.inserted, result.rejected_count) == (3, 0)
    assert _stored(
        entity.table_name, ["snapshot_date", "policy_id", "status", "start_date", "member_id"], "policy_id"
    ) == [
        (date(2026, 3, 1), "P-1", "Active", date(2026, 1, 15), "7"),
        (date(2026, 3, 1), "P-2", "Terminated", date(2025, 12, 31), None),
        (date(2026, 3, 2), "P-3", "Terminated", None, "9"),
    ]


def test_scaled_zoned_and_typed_values_are_stored_as_mapped():
    client_id = ClientFactory().id
    entities.entity_create(client_id=client_id, data=MEASURES)
    entity = selectors.entity(client_id=client_id, code="measures")
    mapper = Mapper.build(
        entity=entity,
        mapping={
            "fields": {
                "observed_at": {"source": "TS"},
                "amount": {"source": "CENTS"},
                "count": {"source": "N"},
                "flag": {"source": "F"},
                "extra": {"source": "X"},
            },
            "formats": {"observed_at": "%d.%m.%Y %H:%M"},
            "time_zones": {"observed_at": "Europe/Zurich"},
            "scales": {"amount": 0.01},
        },
    )
    mapped = mapper.apply(
        {"TS": "15.07.2026 09:30", "CENTS": "1234567890123456789012345", "N": "12", "F": "N", "X": {"a": [1]}}
    )
    result = entity_rows_load(entity=entity, rows=[mapped.values])
    assert (result.inserted, result.rejected_count) == (1, 0)
    assert _stored(entity.table_name, ["observed_at", "amount", "count", "flag", "extra"], "observed_at") == [
        (
            datetime(2026, 7, 15, 7, 30, tzinfo=UTC),
            Decimal("12345678901234567890123.45"),
            12,
            False,
            '{"a": [1]}',  # jsonb comes back as text on Django's connection
        )
    ]
