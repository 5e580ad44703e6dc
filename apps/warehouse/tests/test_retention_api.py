from datetime import UTC, datetime, timedelta

import pytest

from apps.core.tests.factories import MembershipFactory, UserFactory
from apps.messaging.bus import bus_connection, envelope_decode, stream_key
from apps.warehouse.models import ChunkArchival, RetentionPolicy
from apps.warehouse.services import hypertable_create
from apps.warehouse.tests.test_retention import COLUMNS, rows_insert
from apps.warehouse.types import ARCHIVAL_EVENTS_TOPIC

pytestmark = pytest.mark.django_db

URLS = [
    ("get", "/api/v1/database/retention/status"),
    ("post", "/api/v1/database/retention/trigger-archival"),
    ("get", "/api/v1/database/retention/policies/"),
    ("post", "/api/v1/database/retention/policies"),
]


@pytest.fixture
def staff_client(api_client):
    api_client.force_authenticate(UserFactory(is_staff=True))
    return api_client


@pytest.fixture
def table():
    name = "ret_api_readings"
    hypertable_create(table=name, columns=COLUMNS, time_column="observed_at", chunk_interval="1 day")
    rows_insert(name, 10, 3)
    rows_insert(name, 11, 2)
    rows_insert(name, 19, 1)
    return name


def test_anonymous_callers_are_401(api_client):
    for method, url in URLS:
        response = getattr(api_client, method)(url, format="json")
        assert response.status_code == 401, url
        assert response.json()["error"]["code"] == "not_authenticated"


def test_non_staff_users_are_403_even_as_client_admins(api_client):
    api_client.force_authenticate(MembershipFactory(role="admin", is_default=True).user)
    for method, url in URLS:
        response = getattr(api_client, method)(url + "/" if not url.endswith("/") else url, format="json")
        assert response.status_code == 403, url
        assert response.json()["error"]["code"] == "permission_denied"


def test_policies_crud(staff_client, table):
    response = staff_client.post(
        "/api/v1/database/retention/policies/",
        {"table_name": table, "keep_for": "5 00:00:00", "action": "archive", "batch_size": 2},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["table_schema"], body["keep_for"], body["lakehouse_target"]) == (
        "analytics_data",
        "5 00:00:00",
        "default",
    )
    url = f"/api/v1/database/retention/policies/{body['id']}"

    assert staff_client.patch(url, {"action": "drop"}, format="json").json()["action"] == "drop"
    assert [p["table_name"] for p in staff_client.get("/api/v1/database/retention/policies").json()["results"]] == [
        table
    ]

    duplicate = staff_client.post(
        "/api/v1/database/retention/policies/", {"table_name": table, "keep_for": "1 00:00:00"}, format="json"
    )
    assert duplicate.status_code == 400
    bad = staff_client.patch(url, {"keep_for": "-1 00:00:00"}, format="json")
    assert bad.status_code == 400
    assert "keep_for" in str(bad.json())

    assert staff_client.delete(url).status_code == 204
    assert not RetentionPolicy.objects.exists()


def test_trigger_archival_requests_the_old_chunks_and_status_shows_them(
    staff_client, table, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            "/api/v1/database/retention/trigger-archival/",
            {"table_name": table, "older_than": "2026-03-15T00:00:00Z"},
            format="json",
        )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert [(c["range_start"], c["row_count"]) for c in body["requested"]] == [
        ("2026-03-10T00:00:00Z", 3),
        ("2026-03-11T00:00:00Z", 2),
    ]
    [event] = body["events"]
    [(_, fields)] = bus_connection().xrevrange(stream_key(ARCHIVAL_EVENTS_TOPIC), count=1)
    assert envelope_decode(fields).payload["event_id"] == event["event_id"]

    again = staff_client.post(
        "/api/v1/database/retention/trigger-archival", {"table_name": table, "older_than": "2026-03-15T00:00:00Z"},
        format="json",
    )  # fmt: skip
    assert again.json()["requested"] == []
    assert again.json()["skipped"] == 2

    status = staff_client.get(f"/api/v1/database/retention/status?table={table}")
    assert status.status_code == 200
    [entry] = status.json()["tables"]
    assert entry["table_name"] == table
    assert entry["policy"] is None
    chunks = entry["chunks"]
    assert [(c["range_start"], c["row_count"]) for c in chunks] == [
        ("2026-03-10T00:00:00Z", 3),
        ("2026-03-11T00:00:00Z", 2),
        ("2026-03-19T00:00:00Z", 1),
    ]
    assert all(c["total_bytes"] > 0 for c in chunks)
    assert [c["archival"] and c["archival"]["status"] for c in chunks] == ["requested", "requested", None]
    assert chunks[0]["archival"]["event_id"] == event["event_id"]


def test_trigger_archival_by_range_takes_only_chunks_wholly_inside(
    staff_client, table, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            "/api/v1/database/retention/trigger-archival",
            {"table_name": table, "range_start": "2026-03-11T00:00:00Z", "range_end": "2026-03-12T06:00:00Z"},
            format="json",
        )
    assert [c["range_start"] for c in response.json()["requested"]] == ["2026-03-11T00:00:00Z"]


def test_trigger_archival_uses_the_policy_cutoff(staff_client, table, django_capture_on_commit_callbacks):
    RetentionPolicy.objects.create(table_name=table, keep_for=timedelta(days=1), lakehouse_target="cold")
    with django_capture_on_commit_callbacks(execute=True):
        body = staff_client.post(
            "/api/v1/database/retention/trigger-archival", {"table_name": table}, format="json"
        ).json()
    assert len(body["requested"]) == 3  # real now is long after March 2026
    assert body["events"][0]["lakehouse_target"] == "cold"
    assert ChunkArchival.objects.filter(table_name=table, status="requested").count() == 3


def test_trigger_archival_refuses_what_it_cannot_do(staff_client, table):
    unknown = staff_client.post("/api/v1/database/retention/trigger-archival", {"table_name": "nope"}, format="json")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"

    no_policy = staff_client.post("/api/v1/database/retention/trigger-archival", {"table_name": table}, format="json")
    assert no_policy.status_code == 400
    assert "older_than" in no_policy.json()["error"]["message"]

    backwards = staff_client.post(
        "/api/v1/database/retention/trigger-archival",
        {"table_name": table, "range_start": datetime(2026, 3, 12, tzinfo=UTC).isoformat(),
         "range_end": datetime(2026, 3, 10, tzinfo=UTC).isoformat()},
        format="json",
    )  # fmt: skip
    assert backwards.status_code == 400


def test_status_lists_every_hypertable_and_removed_chunks(staff_client, table):
    RetentionPolicy.objects.create(table_name=table, keep_for=timedelta(days=7), action="drop")
    from apps.warehouse.retention import RetentionManager

    RetentionManager(now=datetime(2026, 3, 20, tzinfo=UTC)).scan()

    body = staff_client.get("/api/v1/database/retention/status/").json()
    [entry] = [t for t in body["tables"] if t["table_name"] == table]
    assert entry["policy"]["action"] == "drop"
    assert entry["policy"]["keep_for"] == "7 00:00:00"
    assert [c["range_start"] for c in entry["chunks"]] == ["2026-03-19T00:00:00Z"]
    assert [(c["range_start"], c["archival"]["status"]) for c in entry["removed_chunks"]] == [
        ("2026-03-10T00:00:00Z", "dropped"),
        ("2026-03-11T00:00:00Z", "dropped"),
    ]
    assert staff_client.get("/api/v1/database/retention/status?table=nope").status_code == 404
