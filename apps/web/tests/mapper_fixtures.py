"""A policy administration source (a real PostgreSQL database: POL_ID,
STAT_CD 'A'/'T', EFF_DT), discovered, and a job `policies` of it into
`policy_snapshot`, a draft with an empty mapping: what the Data Mapper page tests
start from."""

from apps.connectors.services.connections import connection_discover
from apps.ingestion.models import IngestionJob
from apps.ingestion.tests.helpers import connection_make
from apps.ontology.services.entities import AttributeInput, EntityInput, entity_create

POLICY_SNAPSHOT = EntityInput(
    code="policy_snapshot",
    name="Policy snapshot",
    kind="time_series",
    time_attribute="snapshot_date",
    attributes=[
        AttributeInput("snapshot_date", "date", nullable=False),
        AttributeInput("policy_id", "string", nullable=False),
        AttributeInput("status", "string", enum_values=("Active", "Terminated")),
    ],
)
ROWS = [("P1", "A", "2026-01-01"), ("P2", "T", "2026-01-02"), ("P3", "A", "2026-01-03")]


def policy_source(client_id: int, source: dict) -> IngestionJob:
    """The POLICIES table with ROWS, its connection discovered, the entity and
    a draft job with no mapping yet (as the Data Source page's job form
    leaves it)."""
    source["execute"]('CREATE TABLE "POLICIES" ("POL_ID" text PRIMARY KEY, "STAT_CD" char(1), "EFF_DT" date)')
    for row in ROWS:
        source["execute"]('INSERT INTO "POLICIES" VALUES (%s, %s, %s)', list(row))
    connection = connection_make(client_id, source)
    connection_discover(client_id=client_id, code=connection.code)
    entity_create(client_id=client_id, data=POLICY_SNAPSHOT)
    return IngestionJob.objects.create(
        client_id=client_id, code="policies", name="Policies", connection=connection, source_object="POLICIES",
        entity_code="policy_snapshot", mapping={}, is_draft=True,
    )  # fmt: skip
