"""The directory API: sync runs (202, progress), the mirrored users and
groups, role mappings (validation naming the field), the access audit;
administrators only; another client's objects answer 404."""

import pytest

from apps.core.tests.factories import ClientFactory, MembershipFactory
from apps.identity.models import AccessAuditEntry, DirectoryUser, RoleMapping
from apps.identity.tests.conftest import ADMINS, ALICE, ANALYSTS, provider_for, roles_seed, sync
from celery_app import app as celery

pytestmark = pytest.mark.django_db
GUID = "3c1b6c2e-8d2a-4f3e-9a41-5b7f0c9d2e10"


@pytest.fixture
def eager_tasks():
    saved = {key: celery.conf[key] for key in ("task_always_eager", "task_eager_propagates")}
    celery.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    celery.conf.update(saved)


@pytest.fixture
def admin_api(api_client, tenant_client):
    admin = MembershipFactory(client=tenant_client, role="admin", is_default=True).user
    api_client.force_authenticate(admin)
    api_client.admin = admin
    return api_client


@pytest.fixture
def other(graph):
    """Another client with its own provider, directory and mapping."""
    client = ClientFactory(code="fabrikam")
    roles_seed(client)
    provider = provider_for(client, graph, name="Fabrikam", tenant="99999999-2222-3333-4444-555555555555")
    mapping = RoleMapping.objects.create(client=client, provider=provider, group_object_id=GUID, role_code="viewer")
    user = DirectoryUser.objects.create(client=client, provider=provider, object_id=GUID, display_name="Theirs")
    return {"client": client, "provider": provider, "mapping": mapping, "user": user}


def test_an_on_demand_run_is_accepted_then_runs_and_shows_its_progress(
    admin_api, provider, graph, eager_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        answer = admin_api.post("/api/v1/directory/sync-runs/", {"provider": provider.pk}, format="json")

    assert answer.status_code == 202, answer.json()
    body = answer.json()
    assert body["status"] == "queued" and body["provider"] == provider.pk and body["trigger"] == "manual"
    assert body["requested_by"] == admin_api.admin.username
    run = admin_api.get(f"/api/v1/directory/sync-runs/{body['id']}/").json()
    assert run["status"] == "succeeded" and run["phase"] == "done" and run["mode"] == "full"
    assert run["pages_read"] == 4 and run["counts"]["users_upserted"] == 4
    listed = admin_api.get("/api/v1/directory/sync-runs/", {"provider": provider.pk}).json()
    assert [r["id"] for r in listed["results"]] == [body["id"]]


def test_a_run_of_a_provider_that_is_not_the_clients_is_a_400_naming_provider(admin_api, provider, other):
    answer = admin_api.post("/api/v1/directory/sync-runs/", {"provider": other["provider"].pk}, format="json")
    assert answer.status_code == 400
    assert "provider" in answer.json()["error"]["message"] and "provider" in answer.json()["error"]["details"]

    answer = admin_api.post("/api/v1/directory/sync-runs/", {}, format="json")
    assert answer.status_code == 400 and "provider" in answer.json()["error"]["message"]


def test_a_failed_run_shows_why(admin_api, tenant_client, graph):
    provider = provider_for(tenant_client, graph, secret="wrong")
    run = sync(provider)
    body = admin_api.get(f"/api/v1/directory/sync-runs/{run.pk}/").json()
    assert body["status"] == "failed" and "invalid_client" in body["error"]


def test_directory_users_and_groups_are_listed_after_a_sync(admin_api, provider, graph, other):
    sync(provider)

    users = admin_api.get("/api/v1/directory/users/").json()
    assert users["count"] == 4
    alice = next(u for u in users["results"] if u["object_id"] == ALICE)
    assert alice["attributes"]["department"] == "Finance"
    assert {g["object_id"] for g in alice["groups"]} == {ANALYSTS, "9f000000-0000-4000-8000-000000077e35"}
    groups = admin_api.get("/api/v1/directory/groups/").json()
    assert {g["display_name"]: g["member_count"] for g in groups["results"]} == {
        "KPI Admins": 1,
        "KPI Analysts": 2,
        "KPI Viewers": 4,
    }
    one = admin_api.get(f"/api/v1/directory/users/{alice['id']}/")
    assert one.status_code == 200 and one.json()["display_name"] == "Alice Analyst"
    assert admin_api.get(f"/api/v1/directory/users/{other['user'].pk}/").status_code == 404
    answer = admin_api.get("/api/v1/directory/users/", {"colour": "red"})
    assert answer.status_code == 400 and "colour" in answer.json()["error"]["message"]


def test_role_mappings_crud(admin_api, provider, graph):
    sync(provider)
    answer = admin_api.post(
        "/api/v1/role-mappings/",
        {"provider": provider.pk, "group_object_id": ADMINS, "role_code": "admin", "priority": 5},
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    mapping = answer.json()
    assert mapping["role_code"] == "admin" and mapping["priority"] == 5
    # A GUID the directory does not have yet is accepted (the next sync brings it); upper case is normalised.
    answer = admin_api.post(
        "/api/v1/role-mappings/",
        {"provider": provider.pk, "group_object_id": GUID.upper(), "role_code": "viewer"},
        format="json",
    )
    assert answer.status_code == 201 and answer.json()["group_object_id"] == GUID

    changed = admin_api.patch(f"/api/v1/role-mappings/{mapping['id']}/", {"role_code": "analyst"}, format="json")
    assert changed.status_code == 200 and changed.json()["role_code"] == "analyst"
    assert admin_api.get("/api/v1/role-mappings/").json()["count"] == 2
    assert admin_api.delete(f"/api/v1/role-mappings/{mapping['id']}/").status_code == 204
    assert admin_api.get(f"/api/v1/role-mappings/{mapping['id']}/").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"group_object_id": ADMINS, "role_code": "overlord"}, "role_code"),
        ({"group_object_id": "not-a-group", "role_code": "viewer"}, "group_object_id"),
        ({"group_object_id": ADMINS, "role_code": "viewer", "priority": -1}, "priority"),
        ({"role_code": "viewer"}, "group_object_id"),
        ({"group_object_id": ADMINS, "role_code": "viewer", "provider": 999999}, "provider"),
    ],
)
def test_a_bad_role_mapping_is_a_400_naming_the_field(admin_api, provider, body, field):
    answer = admin_api.post("/api/v1/role-mappings/", {"provider": provider.pk, **body}, format="json")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert field in error["message"] and field in error["details"]


def test_a_group_mapped_twice_is_a_400(admin_api, provider):
    body = {"provider": provider.pk, "group_object_id": GUID, "role_code": "viewer"}
    assert admin_api.post("/api/v1/role-mappings/", body, format="json").status_code == 201
    answer = admin_api.post("/api/v1/role-mappings/", {**body, "role_code": "admin"}, format="json")
    assert answer.status_code == 400 and "already has a mapping" in answer.json()["error"]["message"]


def test_another_clients_mapping_is_not_found(admin_api, provider, other):
    mapping_id = other["mapping"].pk
    assert admin_api.get(f"/api/v1/role-mappings/{mapping_id}/").status_code == 404
    assert admin_api.patch(f"/api/v1/role-mappings/{mapping_id}/", {"priority": 1}, format="json").status_code == 404
    assert admin_api.delete(f"/api/v1/role-mappings/{mapping_id}/").status_code == 404
    assert RoleMapping.objects.filter(pk=mapping_id).exists()
    assert admin_api.get("/api/v1/role-mappings/").json()["count"] == 0
    assert admin_api.get("/api/v1/role-mappings/not-an-id/").status_code == 404


def test_the_access_audit_lists_grants_filtered_by_user_and_since(admin_api, provider, graph, other):
    for group, role in ((ADMINS, "admin"), (ANALYSTS, "analyst")):
        RoleMapping.objects.create(client=provider.client, provider=provider, group_object_id=group, role_code=role)
    sync(provider)
    AccessAuditEntry.objects.create(client=other["client"], action="grant", source="admin", role="viewer")

    entries = admin_api.get("/api/v1/access-audit/").json()
    assert entries["count"] == 3  # alice, bob (analyst), carol (admin): not the other client's
    assert {e["source"] for e in entries["results"]} == {"directory_sync"}
    carol = next(e for e in entries["results"] if e["role"] == "admin")
    assert carol["username"] == "carol@contoso.example" and carol["actor"] is None
    only = admin_api.get("/api/v1/access-audit/", {"user": carol["user"]}).json()
    assert [e["id"] for e in only["results"]] == [carol["id"]]
    later = admin_api.get("/api/v1/access-audit/", {"since": "2999-01-01T00:00:00Z"}).json()
    assert later["count"] == 0
    answer = admin_api.get("/api/v1/access-audit/", {"since": "yesterday"})
    assert answer.status_code == 400 and "since" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/directory/sync-runs/",
        "/api/v1/directory/users/",
        "/api/v1/directory/groups/",
        "/api/v1/role-mappings/",
        "/api/v1/access-audit/",
    ],
)
def test_only_the_clients_administrators_may_use_it(api_client, tenant_client, path):
    analyst = MembershipFactory(client=tenant_client, role="analyst", is_default=True).user
    assert api_client.get(path).status_code == 401
    api_client.force_authenticate(analyst)
    assert api_client.get(path).status_code == 403


def test_the_endpoints_are_in_the_openapi_schema(admin_api):
    paths = admin_api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
    for path in (
        "/api/v1/directory/sync-runs/",
        "/api/v1/directory/sync-runs/{id}/",
        "/api/v1/directory/users/",
        "/api/v1/directory/groups/",
        "/api/v1/role-mappings/{id}/",
        "/api/v1/access-audit/",
    ):
        assert path in paths, path


def test_the_answers_docs_directory_sync_shows_have_its_fields(admin_api, provider, graph):
    """docs/directory-sync.md's examples (a mapping, a run, an audit entry): their fields are the API's."""
    mapping = admin_api.post(
        "/api/v1/role-mappings/",
        {"provider": provider.pk, "group_object_id": ADMINS, "role_code": "admin", "priority": 10,
         "description": "KPI Admins"},
        format="json",
    )  # fmt: skip
    assert mapping.status_code == 201, mapping.json()
    assert set(mapping.json()) == {
        "id", "provider", "group_object_id", "role_code", "priority", "description", "created_at", "updated_at",
    }  # fmt: skip
    sync(provider)
    (run,) = admin_api.get("/api/v1/directory/sync-runs/").json()["results"]
    assert set(run) == {
        "id", "provider", "provider_name", "status", "trigger", "phase", "mode", "pages_read", "counts", "error",
        "requested_by", "created_at", "started_at", "finished_at",
    }  # fmt: skip
    assert set(run["counts"]) == {
        "users_upserted", "users_removed", "groups_upserted", "groups_removed", "memberships_added",
        "memberships_removed", "roles_granted", "roles_changed", "roles_revoked", "users_provisioned",
        "tokens_revoked", "throttled", "resyncs",
    }  # fmt: skip
    audit = admin_api.get("/api/v1/access-audit/").json()
    assert set(audit) == {"count", "next", "previous", "results"}
    entry = audit["results"][0]
    assert set(entry) == {
        "id", "action", "source", "user", "username", "actor", "role", "previous_role", "details", "created_at",
    }  # fmt: skip
    assert set(entry["details"]) == {"provider", "group", "mapping"}
