"""Test helpers: a connection made from a pg_source/mariadb_source fixture
(straight with the model until the connections service merges), the
entity the jobs load into, and a job body."""

import json

from apps.connectors.models import ConnectionProfile
from apps.core.crypto import secret_encrypt
from apps.core.secret_fields import secret_purpose
from apps.ontology.services.entities import AttributeInput, EntityInput, entity_create

POLICY = EntityInput(
    code="policy_snapshot",
    name="Policy snapshot",
    kind="time_series",
    time_attribute="effective",
    attributes=[
        AttributeInput("effective", "date", nullable=False),
        AttributeInput("policy", "string", nullable=False),
        AttributeInput("status", "string"),
        AttributeInput("premium", "decimal"),
    ],
)

MAPPING = {
    "fields": {
        "effective": {"source": "EFF_DT"},
        "policy": {"source": "POL_ID"},
        "status": {"source": "STAT_CD"},
        "premium": {"source": "PREM"},
    }
}


def connection_make(client_id: int, source: dict, code: str = "policy_db") -> ConnectionProfile:
    purpose = secret_purpose(model="connectors.ConnectionProfile", field="credentials_encrypted")
    return ConnectionProfile.objects.create(
        client_id=client_id,
        code=code,
        name=code,
        kind=source["kind"],
        settings=source["settings"],
        credentials_encrypted=secret_encrypt(json.dumps(source["credentials"]), purpose=purpose),
    )


def policy_entity(client_id: int):
    return entity_create(client_id=client_id, data=POLICY)


def policies_table(source: dict, count: int, *, start: int = 1, table: str = "POLICIES") -> None:
    """`count` policies, one per day from 2026-01-01 + start - 1."""
    execute = source["execute"]
    execute(
        f'CREATE TABLE IF NOT EXISTS "{table}" ("POL_ID" text, "EFF_DT" date, "STAT_CD" text, "PREM" numeric(12,2))'
    )
    execute(
        f"""INSERT INTO "{table}" SELECT 'P' || g, DATE '2025-12-31' + g, CASE WHEN g %% 3 = 0 THEN 'T' ELSE 'A' END,
        g * 10.5 FROM generate_series(%s::int, %s::int) g""",  # noqa: S608 - the table name is the test's own
        [start, start + count - 1],
    )


def job_body(**changes) -> dict:
    return {
        "code": "policies",
        "connection": "policy_db",
        "object": "POLICIES",
        "entity": "policy_snapshot",
        "mapping": MAPPING,
        "incremental": {"column": "EFF_DT"},
        "batch_size": 3,
        **changes,
    }
