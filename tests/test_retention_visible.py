"""Issue #14 item 3: retention and archival failures are visible through the
API, not only in logs and the admin. Two tenants load temperatures as a new
user would (2020-01-01..2020-02-29, the ontology's 7-day chunks); staff
trigger archival of January; the archival worker runs on the real bus.

- a lakehouse that cannot be written: the jobs list shows the failed chunk
  with its attempts and last error, retention status counts it per table,
  and each tenant's dead-letter list shows its own parked event (never the
  other tenant's);
- a writable one: the chunks end dropped, and the jobs list says so;
- policies: an unknown table is a 400 naming it once (no doubled schema),
  an entity code names its table."""

import importlib
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from apps.archival.tests.arch_fixtures import LOCAL_BACKEND
from apps.core.tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

WEATHER = {
    "code": "temperatures",
    "name": "Temperatures",
    "kind": "time_series",
    "time_attribute": "observed_at",
    "attributes": [
        {"code": "observed_at", "data_type": "timestamp", "nullable": False},
        {"code": "station", "data_type": "string"},
        {"code": "reading", "data_type": "decimal"},
    ],
}
JOBS = "/api/v1/database/retention/jobs/"


def weather_rows() -> list[dict]:
    start = datetime(2020, 1, 1, 12, tzinfo=UTC)
    return [{"observed_at": (start + timedelta(days=d)).isoformat(), "station": "s1", "reading": d} for d in range(60)]


def tenant(name: str) -> tuple[APIClient, str]:
    """An administrator's API client of a new client with the weather loaded, and the entity's table."""
    membership = MembershipFactory(role="admin", is_default=True, client__code=name)
    api = APIClient()
    api.client_record = membership.client
    api.force_authenticate(membership.user)
    created = api.post("/api/v1/ontology/entities/", WEATHER, format="json")
    assert created.status_code == 201, created.content
    loaded = api.post("/api/v1/data/temperatures/rows/", weather_rows(), format="json")
    assert loaded.status_code in (200, 201) and loaded.json()["inserted"] == 60, loaded.content
    return api, created.json()["table"]  # as the ontology shows it: analytics_data.c<id>_temperatures


@pytest.fixture
def staff():
    api = APIClient()
    api.user = UserFactory(is_staff=True)
    api.force_authenticate(api.user)
    return api


def january_archive(staff: APIClient, table: str) -> list[str]:
    response = staff.post(
        "/api/v1/database/retention/trigger-archival",
        {"table_name": table, "range_end": "2020-02-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 200, response.content
    requested = [chunk["chunk_name"] for chunk in response.json()["requested"]]
    assert requested
    return requested


def test_a_failing_archival_shows_in_jobs_status_and_each_tenants_dead_letters(
    staff,
    make_worker,
    settings,
    tmp_path,
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the lakehouse root's parent should be")
    settings.LAKEHOUSE_TARGETS = {"default": {"BACKEND": LOCAL_BACKEND, "ROOT": str(blocker / "lake")}}
    settings.MESSAGING_MAX_ATTEMPTS = 3
    north, north_table = tenant("north")
    south, south_table = tenant("south")
    north_chunks = january_archive(staff, north_table)
    january_archive(staff, south_table)

    make_worker("archival", max_attempts=3).drain(timeout=60)

    jobs = staff.get(JOBS, {"table": north_table, "status": "failed"})
    assert jobs.status_code == 200, jobs.content
    body = jobs.json()
    assert body["count"] == 1 and set(body) >= {"count", "next", "previous", "results"}
    [failed] = body["results"]
    # The worker stops at the first chunk that fails: that one is failed, the others still wait.
    assert failed["chunk_name"] == north_chunks[0]
    assert failed["table_name"] == north_table.split(".")[1]
    assert failed["attempts"] == 3
    assert "Could not write" in failed["last_error"]
    assert failed["range_start"] < failed["range_end"]
    waiting = staff.get(JOBS, {"table": north_table, "status": "requested"}).json()
    assert [job["chunk_name"] for job in waiting["results"]] == north_chunks[1:]
    assert staff.get(JOBS, {"status": "failed"}).json()["count"] == 2  # both tenants' tables

    status = staff.get("/api/v1/database/retention/status", {"table": north_table})
    assert status.status_code == 200, status.content
    [table] = status.json()["tables"]
    assert table["states"]["failed"] == 1 and table["states"]["requested"] == len(north_chunks) - 1
    assert [(c["chunk_name"], c["attempts"]) for c in table["failed_chunks"]] == [(north_chunks[0], 3)]

    for api, own, other in ((north, north_table, south_table), (south, south_table, north_table)):
        letters = api.get("/api/v1/messaging/dead-letters/")
        assert letters.status_code == 200, letters.content
        assert letters.json()["count"] == 1
        [letter] = letters.json()["results"]
        assert letter["topic"] == "archival.events"
        assert letter["envelope"]["payload"]["table_name"] == own.split(".")[1] != other.split(".")[1]


def test_a_working_archival_ends_with_the_chunks_dropped_in_the_jobs_list(
    staff,
    make_worker,
    settings,
    tmp_path,
):
    settings.LAKEHOUSE_TARGETS = {"default": {"BACKEND": LOCAL_BACKEND, "ROOT": str(tmp_path / "lake")}}
    api, table = tenant("east")
    metric = {"code": "reading_total", "name": "Total", "formula": "SUM(reading)", "entity": "temperatures"}
    assert api.post("/api/v1/ontology/metrics/", metric, format="json").status_code == 201
    query = {"start": "2020-01-01", "end": "2020-03-01", "granularity": "month", "route": "raw"}
    before = api.get("/api/v1/metrics/reading_total", query).json()
    assert before["archived"] == [] and api.get("/api/v1/metrics/reading_total", query).json()["cached"] is True
    chunks = january_archive(staff, table)
    assert {job["state"] for job in staff.get(JOBS, {"table": table}).json()["results"]} == {"requested"}

    make_worker("archival").drain(timeout=60)
    archived = staff.get(JOBS, {"table": table}).json()["results"]
    assert {job["state"] for job in archived} == {"archived"}  # written and verified, confirmation not applied yet
    assert all(job["attempts"] == 1 and job["last_error"] == "" for job in archived)

    make_worker("warehouse").drain(timeout=60)
    dropped = staff.get(JOBS, {"table": table, "status": "dropped"}).json()
    assert [job["chunk_name"] for job in dropped["results"]] == chunks
    assert all(job["dropped_at"] for job in dropped["results"])

    # Item 7: the answer cached before the drop is not served; the new one says what was archived.
    after = api.get("/api/v1/metrics/reading_total", query).json()
    assert after["cached"] is False
    first, last = dropped["results"][0], dropped["results"][-1]
    assert after["archived"] == [{"start": "2020-01-01T00:00:00Z", "end": last["range_end"]}]
    assert first["range_start"] <= "2020-01-01T00:00:00Z"
    assert after["series"][0]["value"] < before["series"][0]["value"]


def test_retention_inputs_name_the_culprit_once(staff):
    api, table = tenant("west")
    schema, name = table.split(".")
    MembershipFactory(user=staff.user, client=api.client_record, role="admin", is_default=True)
    policies = "/api/v1/database/retention/policies/"

    for given in (f"{schema}.no_such_table", "no_such_table"):
        response = staff.post(policies, {"table_name": given, "keep_for": "30 00:00:00"}, format="json")
        assert response.status_code == 400, response.content
        error = response.json()["error"]
        assert error["code"] == "unknown_table"
        assert f"{schema}.no_such_table" in error["message"]
        assert f"{schema}.{schema}." not in error["message"]
        assert error["details"]["table_name"] == "no_such_table"

    by_entity = staff.post(policies, {"entity": "temperatures", "keep_for": "30 00:00:00"}, format="json")
    assert by_entity.status_code == 201, by_entity.content
    assert (by_entity.json()["table_schema"], by_entity.json()["table_name"]) == (schema, name)
    again = staff.post(policies, {"table_name": table, "keep_for": "1 00:00:00"}, format="json")
    assert again.status_code == 400 and again.json()["error"]["code"] == "policy_exists"
    assert f"{schema}.{name}" in again.json()["error"]["message"]
    unknown = staff.post(policies, {"entity": "hourly_temp", "keep_for": "1 00:00:00"}, format="json")
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_entity"
    assert "hourly_temp" in unknown.json()["error"]["message"]
    neither = staff.post(policies, {"keep_for": "1 00:00:00"}, format="json")
    assert neither.status_code == 400 and "table_name" in neither.json()["error"]["details"]

    trigger = staff.post(
        "/api/v1/database/retention/trigger-archival",
        {"table_name": f"{schema}.no_such_table", "older_than": "2020-02-01T00:00:00Z"},
        format="json",
    )
    assert trigger.status_code == 404
    assert f"{schema}.{schema}." not in trigger.json()["error"]["message"]
    status = staff.get("/api/v1/database/retention/status", {"table": f"{schema}.no_such_table"})
    assert status.status_code == 404 and f"{schema}.{schema}." not in status.json()["error"]["message"]

    bad = staff.get(JOBS, {"status": "broken"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_filter"
    assert "failed" in bad.json()["error"]["message"] and "broken" in bad.json()["error"]["message"]
    assert staff.get(JOBS, {"entity": "temperatures"}).json()["count"] == 0
    assert staff.get(JOBS, {"entity": "hourly_temp"}).json()["error"]["code"] == "unknown_entity"


def test_the_migration_gives_dead_letters_parked_without_a_client_their_client():
    from django.apps import apps as django_apps

    from apps.messaging.models import DeadLetter

    backfill = importlib.import_module("apps.messaging.migrations.0006_dead_letter_client_backfill").client_backfill
    api, table = tenant("upland")
    client = api.client_record
    stored = {}
    for name, envelope in (
        ("by_tenant", {"tenant": client.code, "payload": {}}),
        ("by_table", {"tenant": None, "payload": {"table_name": table.split(".")[1]}}),
        ("platform", {"tenant": None, "payload": {"table_name": "not_an_entity"}}),
        ("undecodable", {"undecodable": True, "fields": {}}),
    ):
        stored[name] = DeadLetter.objects.create(
            kind="handler", topic="archival.events", event_id=uuid.uuid4(), envelope=envelope, error="x", attempts=3
        )

    backfill(django_apps, None)

    clients = {name: DeadLetter.objects.get(pk=letter.pk).client_id for name, letter in stored.items()}
    assert clients == {"by_tenant": client.pk, "by_table": client.pk, "platform": None, "undecodable": None}
    assert api.get("/api/v1/messaging/dead-letters/").json()["count"] == 2


def test_the_policy_file_may_name_an_entity_of_a_client(tmp_path):
    from django.core.management import CommandError, call_command

    from apps.warehouse.models import RetentionPolicy

    _, table = tenant("coast")
    path = tmp_path / "retention.json"
    path.write_text(json.dumps({"policies": [{"entity": "hourly_temp", "client": "coast", "keep_for": "1 day"}]}))
    with pytest.raises(CommandError, match=r"policies\[0\]: no entity 'hourly_temp' in client 'coast'"):
        call_command("retention_load", str(path))

    path.write_text(json.dumps({"policies": [{"entity": "temperatures", "client": "coast", "keep_for": "30 days"}]}))
    call_command("retention_load", str(path))
    policy = RetentionPolicy.objects.get()
    assert f"{policy.table_schema}.{policy.table_name}" == table
