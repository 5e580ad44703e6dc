"""Configurable roles: seeded per client, built from named permissions,
managed over the API, and read fresh on every request (docs/access.md)."""

import importlib
import json

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.test import Client as DjangoClient
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.core.access import SEEDED_ROLES, Permission
from apps.core.errors import AppError, Conflict
from apps.core.selectors import user_clients
from apps.core.services import membership_grant, membership_role_set
from apps.core.tests.factories import ClientFactory, MembershipFactory, UserFactory
from apps.identity.models import AccessAuditEntry, Role
from apps.identity.services.roles import role_create, role_delete, role_update

pytestmark = pytest.mark.django_db

ROLES = "/api/v1/roles/"
MEMBERS = "/api/v1/members/"
READING = {
    "code": "reading",
    "name": "Reading",
    "kind": "time_series",
    "time_attribute": "observed_at",
    "attributes": [
        {"code": "observed_at", "name": "Observed at", "data_type": "timestamp", "nullable": False},
        {"code": "value", "name": "Value", "data_type": "decimal"},
    ],
}
ROWS = [{"observed_at": "2026-01-05T10:00:00Z", "value": 1.5}]
NEW_ENTITY = {
    "code": "meter",
    "name": "Meter",
    "kind": "reference",
    "attributes": [{"code": "meter_id", "name": "Meter id", "data_type": "string"}],
}


def _api(membership) -> APIClient:
    api = APIClient()
    api.force_authenticate(membership.user)
    return api


@pytest.fixture
def admin():
    return MembershipFactory(role="admin", is_default=True)


def _seeded(client_id: int) -> dict[str, set[str]]:
    return {r.code: set(r.permissions) for r in Role.objects.filter(client_id=client_id, is_seeded=True)}


def test_a_new_client_gets_the_seeded_roles_with_todays_powers():
    client = ClientFactory()
    assert _seeded(client.pk) == {
        "admin": set(Permission),
        "analyst": {"view_metrics", "edit_ontology", "load_data", "manage_sources"},
        "viewer": {"view_metrics"},
    }
    assert {code: seed.permissions for code, seed in SEEDED_ROLES.items()} == _seeded(client.pk)


def test_the_data_migration_seeds_every_existing_client():
    first, second = ClientFactory(), ClientFactory()
    Role.objects.filter(client__in=[first, second]).delete()
    Role.objects.create(client=second, code="analyst", name="Kept", permissions=["view_metrics"], is_seeded=True)
    migration = importlib.import_module("apps.identity.migrations.0002_seed_roles")
    migration.seed(django_apps, None)
    assert _seeded(first.pk) == {code: set(seed.permissions) for code, seed in SEEDED_ROLES.items()}
    kept = Role.objects.get(client=second, code="analyst")  # an existing role is left as it is
    assert (kept.name, kept.permissions) == ("Kept", ["view_metrics"])
    assert set(_seeded(second.pk)) == {"admin", "analyst", "viewer"}


def test_permissions_come_with_the_memberships_in_one_query(admin):
    MembershipFactory(user=admin.user, role="viewer")  # a second client
    with CaptureQueriesContext(connection) as queries:
        clients = user_clients(user=admin.user)
    assert len(queries) == 1
    by_role = {c.role: c.permissions for c in clients}
    assert by_role == {"admin": frozenset(Permission), "viewer": frozenset({"view_metrics"})}
    assert clients[0].has(Permission.MANAGE_ACCESS) and not clients[1].has(Permission.EDIT_ONTOLOGY)


def test_a_membership_names_a_role_the_client_has():
    client, user = ClientFactory(), UserFactory()
    with pytest.raises(AppError) as refused:
        membership_grant(user=user, client=client, role="auditor")
    assert refused.value.code == "unknown_role" and "'auditor'" in refused.value.message
    role_create(client_id=client.pk, code="auditor", name="Auditor", permissions=["view_metrics"])
    membership = membership_grant(user=user, client=client, role="auditor")
    with pytest.raises(AppError, match="no role 'ghost'"):
        membership_role_set(membership=membership, role="ghost")


def test_role_rules_seeded_roles_stay_held_roles_stay_codes_are_checked(admin):
    client_id = admin.client_id
    with pytest.raises(AppError) as unknown:
        role_create(client_id=client_id, code="ops", name="Ops", permissions=["view_metrics", "fly"])
    assert unknown.value.code == "unknown_permission" and "'fly'" in unknown.value.message
    with pytest.raises(AppError) as seeded:
        role_delete(client_id=client_id, code="viewer")
    assert seeded.value.code == "seeded_role"
    role_create(client_id=client_id, code="ops", name="Ops", permissions=["administer"])
    with pytest.raises(Conflict):
        role_create(client_id=client_id, code="ops", name="Ops again", permissions=[])
    MembershipFactory(client=admin.client, role="ops")
    MembershipFactory(client=admin.client, role="ops")
    with pytest.raises(Conflict) as held:
        role_delete(client_id=client_id, code="ops")
    assert held.value.status_code == 409 and held.value.details["members"] == 2
    assert "2 members still hold the role 'ops'" in held.value.message
    # A seeded role can be edited.
    role_update(client_id=client_id, code="viewer", permissions=["view_metrics", "load_data"])
    assert set(Role.objects.get(client_id=client_id, code="viewer").permissions) == {"view_metrics", "load_data"}


def test_roles_api_create_read_change_delete(admin):
    api = _api(admin)
    created = api.post(
        ROLES,
        {"code": "loader", "name": "Loader", "permissions": ["view_metrics", "load_data"]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["permissions"] == ["load_data", "view_metrics"]
    assert created.json()["is_seeded"] is False and created.json()["member_count"] == 0
    listed = api.get(ROLES).json()
    assert [r["code"] for r in listed] == ["admin", "analyst", "loader", "viewer"]
    assert {r["code"]: r["member_count"] for r in listed}["admin"] == 1
    changed = api.patch(ROLES + "loader/", {"permissions": ["view_metrics"]}, format="json")
    assert changed.status_code == 200 and changed.json()["permissions"] == ["view_metrics"]
    bad = api.patch(ROLES + "loader/", {"permissions": ["delete_everything"]}, format="json")
    assert bad.status_code == 400 and "'delete_everything'" in bad.json()["error"]["message"]
    assert api.delete(ROLES + "viewer/").status_code == 400
    assert api.delete(ROLES + "loader/").status_code == 204
    assert api.get(ROLES + "loader/").status_code == 404
    vocabulary = api.get("/api/v1/permissions/").json()
    assert [p["code"] for p in vocabulary] == [p.value for p in Permission]
    assert all(p["description"] for p in vocabulary)


def test_another_clients_roles_and_members_answer_404(admin):
    other = MembershipFactory(role="admin", is_default=True)
    role_create(client_id=other.client_id, code="secret", name="Secret", permissions=[])
    api = _api(admin)
    assert api.get(ROLES + "secret/").status_code == 404
    assert api.patch(f"{MEMBERS}{other.pk}/", {"role": "viewer"}, format="json").status_code == 404
    assert "secret" not in [r["code"] for r in api.get(ROLES).json()]


def test_members_api_lists_and_changes_roles(admin):
    api = _api(admin)
    analyst = MembershipFactory(client=admin.client, role="analyst")
    listed = api.get(MEMBERS).json()
    assert {(m["username"], m["role"]) for m in listed} == {
        (admin.user.username, "admin"),
        (analyst.user.username, "analyst"),
    }
    unknown = api.patch(f"{MEMBERS}{analyst.pk}/", {"role": "auditor"}, format="json")
    assert unknown.status_code == 400 and "'auditor'" in unknown.json()["error"]["message"]
    changed = api.patch(f"{MEMBERS}{analyst.pk}/", {"role": "viewer"}, format="json")
    assert changed.status_code == 200 and changed.json()["role"] == "viewer"
    analyst.refresh_from_db()
    assert analyst.role == "viewer"
    # The change is audited: who changed whose role, from what to what.
    entry = AccessAuditEntry.objects.get(client=admin.client, user=analyst.user)
    assert (entry.action, entry.source, entry.actor_id) == ("change", "admin", admin.user_id)
    assert (entry.previous_role, entry.role) == ("analyst", "viewer")
    # An analyst may not manage access.
    refused = _api(MembershipFactory(client=admin.client, role="analyst", is_default=True)).get(ROLES)
    assert refused.status_code == 403 and "'manage_access'" in refused.json()["error"]["message"]


def test_a_custom_loader_role_loads_data_but_does_not_edit_the_ontology_and_changes_apply_at_once(admin):
    assert _api(admin).post("/api/v1/ontology/entities/", READING, format="json").status_code == 201
    role_create(client_id=admin.client_id, code="loader", name="Loader", permissions=["view_metrics", "load_data"])
    loader = _api(MembershipFactory(client=admin.client, role="loader", is_default=True))

    def load():
        return loader.generic("POST", "/api/v1/data/reading/rows/", json.dumps(ROWS), content_type="application/json")

    loaded = load()
    assert loaded.status_code == 201 and loaded.json()["inserted"] == 1
    assert loader.get("/api/v1/ontology/entities/").status_code == 200
    refused = loader.post("/api/v1/ontology/entities/", NEW_ENTITY, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["details"] == {"permission": "edit_ontology"}
    assert "needs the permission 'edit_ontology'" in refused.json()["error"]["message"]

    # The role gains edit_ontology and loses load_data: the very next requests follow.
    role_update(client_id=admin.client_id, code="loader", permissions=["view_metrics", "edit_ontology"])
    assert loader.post("/api/v1/ontology/entities/", NEW_ENTITY, format="json").status_code == 201
    again = load()
    assert again.status_code == 403 and again.json()["error"]["details"] == {"permission": "load_data"}


def test_me_names_the_callers_permissions(admin):
    body = _api(admin).get("/api/v1/me/").json()
    assert body["client"]["role"] == "admin" and body["client"]["permissions"] == sorted(Permission)


def test_the_admin_creates_and_edits_roles_through_the_services(admin):
    staff = UserFactory(is_staff=True, is_superuser=True)
    browser = DjangoClient()
    browser.force_login(staff)
    added = browser.post(
        "/admin/identity/role/add/",
        {
            "client": admin.client_id,
            "code": "auditor",
            "name": "Auditor",
            "description": "",
            "permissions": ["view_metrics", "manage_access"],
        },
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    role = Role.objects.get(client_id=admin.client_id, code="auditor")
    assert sorted(role.permissions) == ["manage_access", "view_metrics"] and not role.is_seeded
    bad = browser.post(
        "/admin/identity/role/add/",
        {"client": admin.client_id, "code": "x", "name": "X", "permissions": ["fly"]},
    )
    assert bad.status_code == 200 and not Role.objects.filter(code="x").exists()  # the form names the bad choice
    viewer = Role.objects.get(client_id=admin.client_id, code="viewer")
    assert browser.get(f"/admin/identity/role/{viewer.pk}/delete/").status_code == 403  # seeded: not deletable


def test_the_answers_docs_access_shows_have_its_fields(admin):
    """docs/access.md's curl examples (a role created, the members listed): their fields are the API's."""
    api = _api(admin)
    created = api.post(
        ROLES, {"code": "loader", "name": "Data loader", "permissions": ["view_metrics", "load_data"]}, format="json"
    )
    assert created.status_code == 201
    assert set(created.json()) == {
        "code", "name", "description", "permissions", "is_seeded", "member_count", "created_at", "updated_at",
    }  # fmt: skip
    assert created.json()["permissions"] == ["load_data", "view_metrics"]
    dana = MembershipFactory(client=admin.client, role="viewer")
    members = api.get(MEMBERS).json()
    assert all(set(m) == {"id", "user_id", "username", "email", "role", "is_default"} for m in members)
    member = next(m for m in members if m["id"] == dana.pk)
    assert api.patch(f"{MEMBERS}{member['id']}/", {"role": "loader"}, format="json").status_code == 200
    assert api.delete(f"{ROLES}loader/").status_code == 409  # once no member holds it
