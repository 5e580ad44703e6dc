"""The streaming load an ingestion job uses: the API load's validator, COPY
and event, fed from an iterable it never materialises, without the per
request row cap; and the dry run's check that stores nothing."""

import pytest
from django.db import connection
from psycopg import sql

from apps.core.tests.factories import ClientFactory
from apps.ontology.models import DataLoad
from apps.ontology.services.data_load import entity_batches_stream_load, entity_rows_check
from apps.ontology.services.entities import AttributeInput, EntityInput, entity_create

pytestmark = pytest.mark.django_db

POLICY = EntityInput(
    code="policy",
    name="Policy",
    kind="time_series",
    time_attribute="effective",
    attributes=[
        AttributeInput("effective", "date", nullable=False),
        AttributeInput("policy", "string", nullable=False),
        AttributeInput("premium", "decimal"),
    ],
)


@pytest.fixture
def policy():
    return entity_create(client_id=ClientFactory().id, data=POLICY)


def _count(entity) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("analytics_data", entity.table_name)))
        return cursor.fetchone()[0]


def test_rows_flow_through_without_the_cap_and_are_never_held(policy, settings):
    settings.AE_MAX_LOAD_ROWS = 5
    consumed = []

    def rows():
        for i in range(12):
            consumed.append(i)
            yield {"effective": f"2026-01-{i % 28 + 1:02d}", "policy": f"P{i}", "premium": "1.5"}
        yield {"effective": "not a date", "policy": "P99"}

    generator = rows()
    result = entity_batches_stream_load(entity=policy, batches=[generator], user=None)
    assert result.inserted == 12 and result.rejected_count == 1
    assert result.rejected[0]["row"] == 12 and "effective" in result.rejected[0]["errors"]
    assert _count(policy) == 12
    assert DataLoad.objects.get(entity=policy).source == "ingestion"
    assert next(generator, None) is None  # consumed once, as a stream


def test_a_failure_part_way_leaves_nothing(policy):
    def rows():
        yield {"effective": "2026-01-01", "policy": "P1"}
        raise ConnectionError("the source went away")

    with pytest.raises(ConnectionError):
        entity_batches_stream_load(entity=policy, batches=[rows()])
    assert _count(policy) == 0
    assert not DataLoad.objects.filter(entity=policy).exists()


def test_the_check_answers_per_row_and_stores_nothing(policy):
    checks = entity_rows_check(
        entity=policy,
        rows=[
            {"effective": "2026-02-01", "policy": "P1", "premium": "10.25"},
            {"effective": "2026-02-02"},
            {"effective": "2026-02-03", "policy": "P3"},
        ],
    )
    assert [c.stored is not None for c in checks] == [True, False, True]
    assert checks[0].stored == {"effective": "2026-02-01", "policy": "P1", "premium": "10.25"}
    assert "policy" in checks[1].errors
    assert _count(policy) == 0
