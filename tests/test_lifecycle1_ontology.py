"""Lifecycle 1 (health insurer retention), phase 1, through the API as an
integrator would drive it: define Policy, Member and the policy_snapshot time
series with their relationships and the retention metrics, load them with CSV,
and read the data back through the read-only (CQRS read) connection."""

import csv
import io
from datetime import date

import pytest
from django.db import connections
from psycopg import sql

from apps.core.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])
T_START, T_END = date(2026, 6, 30), date(2026, 9, 30)

ENTITIES = [
    {"code": "member", "name": "Member", "kind": "reference", "attributes": [
        {"code": "member_id", "data_type": "string", "nullable": False},
        {"code": "region", "data_type": "string"}]},
    {"code": "policy", "name": "Policy", "kind": "reference", "attributes": [
        {"code": "policy_id", "data_type": "string", "nullable": False},
        {"code": "member_id", "data_type": "string", "nullable": False},
        {"code": "lob", "data_type": "string", "enum_values": ["Health", "Dental"]},
        {"code": "start_date", "data_type": "date"}]},
    {"code": "policy_snapshot", "name": "Policy snapshot", "kind": "time_series",
     "time_attribute": "snapshot_date", "attributes": [
        {"code": "snapshot_date", "data_type": "date", "nullable": False},
        {"code": "policy_id", "data_type": "string", "nullable": False},
        {"code": "status", "data_type": "string", "enum_values": ["Active", "Terminated"]},
        {"code": "start_date", "data_type": "date"},
        {"code": "lob", "data_type": "string"}]},
]  # fmt: skip
RELATIONSHIPS = [
    {"code": "snapshot_policy", "source_entity": "policy_snapshot", "target_entity": "policy",
     "kind": "many_to_one", "source_attribute": "policy_id", "target_attribute": "policy_id"},
    {"code": "policy_member", "source_entity": "policy", "target_entity": "member",
     "kind": "many_to_one", "source_attribute": "member_id", "target_attribute": "member_id"},
]  # fmt: skip
METRICS = [
    {"code": "start_count", "name": "Start count", "entity": "policy_snapshot",
     "formula": "COUNT_DISTINCT(policy_id) WHERE status = 'Active'"},
    {"code": "end_count", "name": "End count", "entity": "policy_snapshot",
     "formula": "COUNT_DISTINCT(policy_id) WHERE status = 'Active'"},
    {"code": "new_count", "name": "New count", "entity": "policy_snapshot",
     "formula": "COUNT_DISTINCT(policy_id) WHERE start_date > snapshot_date"},
    {"code": "retention_rate", "name": "Retention rate", "unit": "ratio", "domain": "health",
     "formula": "1 - ((StartCount - EndCount) / StartCount)"},
]  # fmt: skip


def _csv(header, rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _portfolio():
    """1000 policies active at the start; 100 of them lapse and 50 new ones
    start, so 950 are active at the end, 900 of them retained."""
    start_rows = [(T_START, f"P{i:04d}", "Active", date(2025, 1, 1), "Health") for i in range(1000)]
    end_rows = [
        (T_END, f"P{i:04d}", "Active" if i >= 100 else "Terminated", date(2025, 1, 1), "Health") for i in range(1000)
    ] + [(T_END, f"N{i:03d}", "Active", date(2026, 8, 1), "Health") for i in range(50)]
    return start_rows + end_rows


def _load(client, entity, header, rows):
    response = client.post(f"/api/v1/data/{entity}/rows/", _csv(header, rows), content_type="text/csv")
    assert response.status_code == 201, response.content
    assert response.json()["rejected"] == []
    return response.json()["inserted"]


def _read(query: str, *params, **tables):
    """Run `query` on the read-only connection, `{name}` placeholders being tables."""
    composed = sql.SQL(query).format(**{k: sql.Identifier("analytics_data", v) for k, v in tables.items()})
    with connections["readonly"].cursor() as cursor:
        cursor.execute(composed, params)
        return cursor.fetchall()


def test_health_insurer_retention_is_defined_loaded_and_read_back(api_client):
    analyst = MembershipFactory(role="analyst", is_default=True)
    api_client.force_authenticate(analyst.user)
    for path, payloads in (("entities", ENTITIES), ("relationships", RELATIONSHIPS), ("metrics", METRICS)):
        for payload in payloads:
            response = api_client.post(f"/api/v1/ontology/{path}/", payload, format="json")
            assert response.status_code == 201, (path, response.content)
    assert api_client.get("/api/v1/ontology/metrics/retention_rate/").json()["depends_on"]["metrics"] == [
        "end_count",
        "start_count",
    ]

    snapshots = _portfolio()
    policies = sorted({(r[1], f"M{r[1][1:]}", "Health", r[3]) for r in snapshots})
    members = [(p[1], "North" if i % 2 else "South") for i, p in enumerate(policies)]
    assert _load(api_client, "member", ["member_id", "region"], members) == 1050
    assert _load(api_client, "policy", ["policy_id", "member_id", "lob", "start_date"], policies) == 1050
    header = ["snapshot_date", "policy_id", "status", "start_date", "lob"]
    assert _load(api_client, "policy_snapshot", header, snapshots) == 2050

    prefix = f"c{analyst.client_id}_"
    snap = prefix + "policy_snapshot"
    active = "SELECT count(DISTINCT policy_id) FROM {s} WHERE snapshot_date = %s AND status = 'Active'"
    start, end = _read(active, T_START, s=snap)[0][0], _read(active, T_END, s=snap)[0][0]
    new_query = "SELECT count(DISTINCT policy_id) FROM {s} WHERE snapshot_date = %s AND start_date > %s"
    new = _read(new_query, T_END, T_START, s=snap)[0][0]
    assert (start, end, new) == (1000, 950, 50)
    assert (end - new) / start == 0.9  # the spec's retention: (E - N) / S

    # Joins along the ontology's relationships work on the loaded data.
    by_region = _read(
        "SELECT m.region, count(*) FROM {s} s JOIN {p} p ON p.policy_id = s.policy_id"
        " JOIN {m} m ON m.member_id = p.member_id WHERE s.snapshot_date = %s GROUP BY 1 ORDER BY 1",
        T_START,
        s=snap,
        p=prefix + "policy",
        m=prefix + "member",
    )
    assert dict(by_region) == {"North": 500, "South": 500}

    # The ontology, its diagram and the tables agree.
    uml = api_client.get("/api/v1/ontology/graph/uml")
    assert all(code in uml.content.decode() for code in ("policy_snapshot", "member", "retention_rate"))
    assert api_client.get("/api/v1/ontology/drift/").status_code == 200
