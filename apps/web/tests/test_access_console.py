"""The access console (`/access/`, docs/access.md "The access console"):
every page renders for a member whose role may manage access, each POST
changes things through the identity and governance services, the
services' refusals come back next to the field they concern, another
client's objects answer 404, and an analyst or a viewer gets the 403 page
(and no Access entry in the navigation)."""

import re

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from apps.core.models import Membership
from apps.core.tests.factories import ClientFactory, MembershipFactory
from apps.governance.models import RowPolicy
from apps.identity.models import AccessAuditEntry, DirectoryGroup, DirectorySyncRun, IdentityProvider, Role, RoleMapping
from apps.identity.selectors.providers import provider_client_secret
from apps.identity.services.providers import identity_provider_create
from apps.identity.services.role_mapping import mapped_role_apply
from apps.identity.tests import conftest as identity_fixtures
from apps.identity.tests.conftest import ANALYSTS, APP_ID, SECRET, TENANT, provider_for
from celery_app import app as celery

pytestmark = pytest.mark.django_db
graph = identity_fixtures.graph  # the Graph stand-in with a small directory
fast_graph_retries = identity_fixtures.fast_graph_retries
HX = {"HTTP_HX_REQUEST": "true"}
GUID = "3c1b6c2e-8d2a-4f3e-9a41-5b7f0c9d2e10"
OTHER_TENANT = "99999999-2222-3333-4444-555555555555"


@pytest.fixture
def member():
    """An administrator of the console's client (the module's signed-in user)."""
    return MembershipFactory(is_default=True, role="admin")


@pytest.fixture
def tenant(member):
    return member.client


@pytest.fixture
def provider(tenant):
    return identity_provider_create(
        client_id=tenant.pk, name="Contoso", tenant_id=TENANT, application_id=APP_ID, client_secret=SECRET
    )


@pytest.fixture
def other():
    """Another client with a custom role, a provider, a mapping, a policy and a member."""
    client = ClientFactory(code="fabrikam")
    Role.objects.create(client=client, code="theirs", name="Theirs", permissions=["view_metrics"])
    provider = identity_provider_create(
        client_id=client.pk, name="Fabrikam", tenant_id=OTHER_TENANT, application_id=APP_ID
    )
    mapping = RoleMapping.objects.create(client=client, provider=provider, group_object_id=GUID, role_code="viewer")
    policy = RowPolicy.objects.create(
        client=client, name="Theirs", subject_kind="role", subject_value="viewer", entity_code="orders",
        predicate="region = 'EU'",
    )  # fmt: skip
    run = DirectorySyncRun.objects.create(client=client, provider=provider)
    membership = MembershipFactory(client=client, role="viewer")
    return {"provider": provider, "mapping": mapping, "policy": policy, "run": run, "membership": membership}


def field_error(html: str, field_id: str) -> str:
    """The text of the error shown next to the field `field_id`."""
    found = re.search(rf'<p class="field-error" id="{field_id}-error"[^>]*>(.*?)</p>', html, re.S)
    assert found, f"no error next to {field_id}"
    return found.group(1)


# --- guards ---------------------------------------------------------------------------

PAGES = ["access", "access_roles", "access_mappings", "access_policies", "access_providers", "access_provider_new"]


@pytest.mark.parametrize("role", ["analyst", "viewer"])
def test_members_who_may_not_manage_access_get_the_403_page_and_no_nav_entry(client, role):
    membership = MembershipFactory(is_default=True, role=role)
    client.force_login(membership.user)
    for name in PAGES:
        answer = client.get(reverse(f"web:{name}"))
        assert answer.status_code == 403, name
        assert "manage_access" in answer.content.decode()
    assert client.post(reverse("web:access_roles"), {"code": "x", "name": "X"}).status_code == 403
    assert not Role.objects.filter(code="x").exists()
    home = client.get("/").content.decode()
    assert 'href="/access/"' not in home


def test_an_administrator_sees_the_access_nav_entry(console):
    home = console.get("/").content.decode()
    assert re.search(r'<a href="/access/"[^>]*>.*?<span>Access</span>', home, re.S)


# --- members --------------------------------------------------------------------------


def test_members_page_lists_roles_and_who_manages_them(console, tenant, provider):
    mapped = MembershipFactory(client=tenant, role="viewer").user
    by_hand = MembershipFactory(client=tenant, role="analyst").user
    RoleMapping.objects.create(client=tenant, provider=provider, group_object_id=GUID, role_code="viewer")
    Membership.objects.filter(user=mapped).delete()
    mapped_role_apply(user=mapped, provider=provider, group_ids=[GUID], source="sign_in")

    html = console.get(reverse("web:access")).content.decode()

    row = re.search(rf'<tr data-member="{mapped.username}">.*?</tr>', html, re.S).group(0)
    assert "Role mapping (Contoso)" in row and '<option value="viewer" selected>' in row
    row = re.search(rf'<tr data-member="{by_hand.username}">.*?</tr>', html, re.S).group(0)
    assert "By hand" in row and '<option value="analyst" selected>' in row


def test_changing_a_members_role_is_audited_and_a_bad_role_is_shown(console, member, tenant):
    other_member = MembershipFactory(client=tenant, role="viewer")
    url = reverse("web:access_member_role", args=[other_member.pk])

    answer = console.post(url, {"role": "analyst"})

    assert answer.status_code == 302 and answer["Location"] == reverse("web:access")
    other_member.refresh_from_db()
    assert other_member.role == "analyst"
    entry = AccessAuditEntry.objects.get(user=other_member.user)
    assert (entry.source, entry.actor, entry.previous_role, entry.role) == ("admin", member.user, "viewer", "analyst")
    assert "now has the role analyst" in console.get(reverse("web:access")).content.decode()

    refused = console.post(url, {"role": "nope"})
    assert refused.status_code == 400 and "nope" in refused.content.decode()
    other_member.refresh_from_db()
    assert other_member.role == "analyst"


def test_another_clients_member_is_not_found(console, other):
    assert (
        console.post(reverse("web:access_member_role", args=[other["membership"].pk]), {"role": "admin"}).status_code
        == 404
    )
    other["membership"].refresh_from_db()
    assert other["membership"].role == "viewer"


# --- roles ----------------------------------------------------------------------------


def test_the_matrix_shows_roles_by_permission_with_descriptions(console):
    html = console.get(reverse("web:access_roles")).content.decode()
    viewer = re.search(r'<tr data-role="viewer">.*?</tr>', html, re.S).group(0)
    assert 'aria-label="view_metrics: granted"' in viewer and 'aria-label="manage_access: not granted"' in viewer
    admin = re.search(r'<tr data-role="admin">.*?</tr>', html, re.S).group(0)
    assert admin.count(": granted") == 6 and "Cannot be deleted" in admin
    assert "Manage roles, members&#x27; roles, role mappings and identity providers." in html


def test_a_custom_role_is_created_edited_and_deleted(console, tenant):
    answer = console.post(
        reverse("web:access_roles"),
        {"code": "auditor", "name": "Auditor", "permissions": ["view_metrics", "load_data"]},
        **HX,
    )
    assert answer.status_code == 200 and answer["HX-Redirect"] == reverse("web:access_roles")
    role = Role.objects.get(client=tenant, code="auditor")
    assert sorted(role.permissions) == ["load_data", "view_metrics"] and not role.is_seeded

    edit = console.get(reverse("web:access_role", args=["auditor"])).content.decode()
    assert 'value="load_data" checked' in edit and 'value="edit_ontology">' in edit
    console.post(reverse("web:access_role", args=["auditor"]), {"name": "Auditor", "permissions": ["edit_ontology"]})
    role.refresh_from_db()
    assert role.permissions == ["edit_ontology"]

    assert console.post(reverse("web:access_role_delete", args=["auditor"])).status_code == 302
    assert not Role.objects.filter(client=tenant, code="auditor").exists()


def test_role_refusals_are_shown_next_to_the_field_or_on_the_page(console, tenant):
    bad = console.post(reverse("web:access_roles"), {"code": "Bad Code", "name": "x"}, **HX)
    assert bad.status_code == 400
    assert "lower snake case" in field_error(bad.content.decode(), "role-code")
    taken = console.post(reverse("web:access_roles"), {"code": "viewer", "name": "x"})
    assert taken.status_code == 409 and "already has a role" in field_error(taken.content.decode(), "role-code")

    seeded = console.post(reverse("web:access_role_delete", args=["viewer"]))
    assert seeded.status_code == 400 and "edit its permissions instead of deleting it" in seeded.content.decode()
    Role.objects.create(client=tenant, code="held", name="Held", permissions=[])
    MembershipFactory(client=tenant, role="held")
    held = console.post(reverse("web:access_role_delete", args=["held"]))
    assert held.status_code == 409 and "1 member still holds the role" in held.content.decode()
    assert Role.objects.filter(client=tenant, code="held").exists()


def test_another_clients_role_is_not_found(console, other):
    assert console.get(reverse("web:access_role", args=["theirs"])).status_code == 404
    assert console.post(reverse("web:access_role_delete", args=["theirs"])).status_code == 404
    assert Role.objects.filter(code="theirs").exists()


# --- role mappings, sync, audit -------------------------------------------------------


def test_the_empty_state_says_how_to_add_a_mapping(console, provider):
    html = console.get(reverse("web:access_mappings")).content.decode()
    assert "No role mappings yet" in html and "Object ID" in html
    assert "No sync has run yet" in html and "Sync now" in html


def test_a_mapping_is_added_shown_with_its_group_name_edited_and_deleted(console, tenant, provider):
    DirectoryGroup.objects.create(client=tenant, provider=provider, object_id=GUID, display_name="KPI Analysts")
    answer = console.post(
        reverse("web:access_mappings"),
        {"provider": provider.pk, "group_object_id": GUID.upper(), "role_code": "analyst", "priority": "5"},
    )
    assert answer.status_code == 302
    mapping = RoleMapping.objects.get(client=tenant)
    assert (mapping.group_object_id, mapping.role_code, mapping.priority) == (GUID, "analyst", 5)
    html = console.get(reverse("web:access_mappings")).content.decode()
    row = re.search(rf'<tr data-mapping="{mapping.pk}">.*?</tr>', html, re.S).group(0)
    assert "KPI Analysts" in row and "<code>analyst</code>" in row and "Contoso" in row

    url = reverse("web:access_mapping", args=[mapping.pk])
    console.post(url, {"provider": provider.pk, "group_object_id": GUID, "role_code": "viewer", "priority": "7"})
    mapping.refresh_from_db()
    assert (mapping.role_code, mapping.priority) == ("viewer", 7)
    assert console.post(reverse("web:access_mapping_delete", args=[mapping.pk])).status_code == 302
    assert not RoleMapping.objects.exists()


def test_mapping_refusals_are_shown_next_to_the_field(console, provider):
    url = reverse("web:access_mappings")
    bad_group = console.post(url, {"provider": provider.pk, "group_object_id": "sales", "role_code": "viewer"}, **HX)
    assert bad_group.status_code == 400
    assert "neither a group of the provider" in field_error(bad_group.content.decode(), "mapping-group")
    bad_role = console.post(url, {"provider": provider.pk, "group_object_id": GUID, "role_code": "boss"}, **HX)
    assert "No role &#x27;boss&#x27;" in field_error(bad_role.content.decode(), "mapping-role")
    assert not RoleMapping.objects.exists()


def test_another_clients_mapping_provider_and_run_are_not_found(console, provider, other):
    mapping = other["mapping"]
    assert console.get(reverse("web:access_mapping", args=[mapping.pk])).status_code == 404
    assert console.post(reverse("web:access_mapping_delete", args=[mapping.pk])).status_code == 404
    assert console.get(reverse("web:access_sync_run", args=[other["run"].pk])).status_code == 404
    theirs = console.post(
        reverse("web:access_mappings"),
        {"provider": other["provider"].pk, "group_object_id": GUID, "role_code": "viewer"},
        **HX,
    )
    assert theirs.status_code == 400 and "No identity provider" in field_error(
        theirs.content.decode(), "mapping-provider"
    )
    assert RoleMapping.objects.filter(pk=mapping.pk).exists()


@pytest.fixture
def eager_tasks():
    saved = {key: celery.conf[key] for key in ("task_always_eager", "task_eager_propagates")}
    celery.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    celery.conf.update(saved)


def test_sync_now_queues_a_run_the_page_polls_until_it_ends(console, tenant, graph, django_capture_on_commit_callbacks):
    provider = provider_for(tenant, graph)
    with django_capture_on_commit_callbacks(execute=False):
        answer = console.post(reverse("web:access_sync_start"), {"provider": provider.pk})
    assert answer.status_code == 302
    run = DirectorySyncRun.objects.get(client=tenant)
    html = console.get(reverse("web:access_mappings")).content.decode()
    row = re.search(rf'<tr id="sync-run-{run.pk}".*?</tr>', html, re.S).group(0)
    poll = reverse("web:access_sync_run", args=[run.pk])
    assert 'data-run-status="queued"' in row and f'hx-get="{poll}" hx-trigger="every 1s"' in row

    DirectorySyncRun.objects.filter(pk=run.pk).update(status="succeeded", phase="done", counts={"users_upserted": 4})
    done = console.get(poll, **HX).content.decode()
    assert 'data-run-status="succeeded"' in done and "hx-trigger" not in done and "users_upserted: 4" in done


def test_sync_now_runs_the_directory_sync_and_the_audit_shows_its_grants(
    console,
    tenant,
    graph,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    provider = provider_for(tenant, graph)
    RoleMapping.objects.create(client=tenant, provider=provider, group_object_id=ANALYSTS, role_code="analyst")
    with django_capture_on_commit_callbacks(execute=True):
        console.post(reverse("web:access_sync_start"), {"provider": provider.pk})

    html = console.get(reverse("web:access_mappings")).content.decode()
    assert 'data-run-status="succeeded"' in html and "roles_granted: 2" in html
    audit = re.search(r'<table class="data-table" data-testid="audit">.*?</table>', html, re.S).group(0)
    assert audit.count("Role granted") == 2 and "Directory sync" in audit
    assert "KPI Analysts" in html  # the group's display name, now known from the directory


def test_sync_now_of_a_disabled_provider_says_why(console, provider):
    provider.is_enabled = False
    provider.save()
    answer = console.post(reverse("web:access_sync_start"), {"provider": provider.pk})
    assert answer.status_code == 400 and "is disabled" in answer.content.decode()
    assert not DirectorySyncRun.objects.exists()


# --- row policies ---------------------------------------------------------------------


@pytest.fixture
def book(member):
    from apps.calculations.tests.row_policy_fixtures import book_define, book_load

    api = APIClient()
    api.force_authenticate(member.user)
    book_define(api)
    book_load(api)
    return api


@pytest.mark.django_db(transaction=True, databases=["default", "readonly"])
def test_a_policy_is_added_and_the_preview_shows_what_its_subject_sees(console, tenant, book):
    from apps.calculations.tests.row_policy_fixtures import EU, TOTAL

    answer = console.post(
        reverse("web:access_policies"),
        {"name": "EU only", "subject_kind": "role", "subject_value": "viewer", "entity": "orders",
         "predicate": "region = 'EU'", "is_enabled": "on"},
        **HX,
    )  # fmt: skip
    assert answer.status_code == 200 and answer["HX-Redirect"] == reverse("web:access_policies")
    assert RowPolicy.objects.get(client=tenant).predicate == "region = 'EU'"
    viewer = MembershipFactory(client=tenant, role="viewer").user

    preview = console.get(
        reverse("web:access_policy_preview"),
        {"user": viewer.pk, "metric": "revenue", "start": "2026-03-01", "end": "2026-04-01", "granularity": "month"},
        **HX,
    )

    html = preview.content.decode()
    assert preview.status_code == 200, html
    restricted = re.search(r'data-testid="restricted-total">([^<]*)<', html).group(1)
    unrestricted = re.search(r'data-testid="unrestricted-total">([^<]*)<', html).group(1)
    assert float(restricted) == EU and float(unrestricted) == TOTAL
    assert "<code>region = &#x27;EU&#x27;</code>" in html


@pytest.mark.django_db(transaction=True, databases=["default", "readonly"])
def test_the_preview_of_an_unknown_member_or_metric_says_so(console, book, other):
    answer = console.get(
        reverse("web:access_policy_preview"), {"user": other["membership"].user.pk, "metric": "revenue"}
    )
    assert answer.status_code == 400 and "No member" in answer.content.decode()
    answer = console.get(reverse("web:access_policy_preview"), {"user": "nobody", "metric": ""})
    assert answer.status_code == 400 and "Pick a member and a metric" in answer.content.decode()


@pytest.mark.django_db(transaction=True, databases=["default", "readonly"])
@pytest.mark.parametrize(
    ("predicate", "entity", "field", "message"),
    [
        ("lob = 'x' AND regio = 'EU'", "orders", "policy-predicate", "regio"),
        ("region = 'EU' garbage", "orders", "policy-predicate", "Unexpected garbage"),
        ("region = 'EU'", "nothing", "policy-entity", "Unknown entity &#x27;nothing&#x27;"),
    ],
)
def test_a_predicate_that_does_not_compile_is_shown_next_to_its_field(console, book, predicate, entity, field, message):
    answer = console.post(
        reverse("web:access_policies"),
        {"name": "Bad", "subject_kind": "role", "subject_value": "viewer", "entity": entity, "predicate": predicate},
        **HX,
    )
    assert answer.status_code == 400
    assert message in field_error(answer.content.decode(), field)
    assert f'value="{predicate}"'.replace("'", "&#x27;") in answer.content.decode()  # kept as typed
    assert not RowPolicy.objects.exists()


@pytest.mark.django_db(transaction=True, databases=["default", "readonly"])
def test_a_policy_is_edited_and_deleted_and_another_clients_is_not_found(console, tenant, book, other):
    policy = RowPolicy.objects.create(
        client=tenant, name="EU", subject_kind="role", subject_value="viewer", entity_code="orders",
        predicate="region = 'EU'",
    )  # fmt: skip
    url = reverse("web:access_policy", args=[policy.pk])
    assert "region = &#x27;EU&#x27;" in console.get(url).content.decode()
    console.post(url, {"name": "US", "subject_kind": "role", "subject_value": "viewer", "entity": "orders",
                       "predicate": "region = 'US'"})  # fmt: skip
    policy.refresh_from_db()
    assert (policy.name, policy.predicate, policy.is_enabled) == ("US", "region = 'US'", False)
    assert console.post(reverse("web:access_policy_delete", args=[policy.pk])).status_code == 302
    assert not RowPolicy.objects.filter(pk=policy.pk).exists()

    theirs = other["policy"]
    assert console.get(reverse("web:access_policy", args=[theirs.pk])).status_code == 404
    assert console.post(reverse("web:access_policy_delete", args=[theirs.pk])).status_code == 404
    assert RowPolicy.objects.filter(pk=theirs.pk).exists()


# --- identity providers and password sign-in ------------------------------------------


def test_a_provider_is_added_its_secret_never_rendered_and_kept_when_left_blank(console, tenant):
    fields = {"name": "Contoso", "kind": "azure_ad", "tenant_id": TENANT, "application_id": APP_ID,
              "allowed_domains": "contoso.com, Contoso.NL", "is_enabled": "on"}  # fmt: skip
    answer = console.post(reverse("web:access_provider_new"), {**fields, "client_secret": "s3cret~value"})
    assert answer.status_code == 302
    provider = IdentityProvider.objects.get(client=tenant)
    assert provider.allowed_domains == ["contoso.com", "contoso.nl"] and provider.is_enabled
    assert provider_client_secret(provider=provider) == "s3cret~value"

    listing = console.get(reverse("web:access_providers")).content.decode()
    row = re.search(r'<tr data-provider="Contoso">.*?</tr>', listing, re.S).group(0)
    assert TENANT in row and "contoso.com, contoso.nl" in row and "stored" in row and "enabled" in row
    edit = console.get(reverse("web:access_provider", args=[provider.pk])).content.decode()
    assert "s3cret" not in edit and 'name="client_secret" type="password" value=""' in edit

    console.post(
        reverse("web:access_provider", args=[provider.pk]), {**fields, "name": "Contoso AD", "client_secret": ""}
    )
    provider.refresh_from_db()
    assert provider.name == "Contoso AD" and provider_client_secret(provider=provider) == "s3cret~value"
    console.post(reverse("web:access_provider", args=[provider.pk]), {**fields, "remove_secret": "on"})
    provider.refresh_from_db()
    assert provider_client_secret(provider=provider) == ""


def test_provider_refusals_are_shown_next_to_the_field(console, provider):
    answer = console.post(
        reverse("web:access_provider_new"),
        {"name": "Other", "kind": "azure_ad", "tenant_id": "not-a-guid", "application_id": APP_ID},
        **HX,
    )
    assert answer.status_code == 400 and "must be a GUID" in field_error(answer.content.decode(), "provider-tenant")
    clash = console.post(
        reverse("web:access_provider_new"),
        {"name": "Contoso", "kind": "azure_ad", "tenant_id": OTHER_TENANT, "application_id": APP_ID},
        **HX,
    )
    assert clash.status_code == 409 and "named &#x27;Contoso&#x27;" in field_error(
        clash.content.decode(), "provider-name"
    )
    assert IdentityProvider.objects.count() == 1


def test_a_provider_is_disabled_enabled_and_deleted(console, provider):
    url = reverse("web:access_provider_enabled", args=[provider.pk])
    console.post(url, {})
    provider.refresh_from_db()
    assert not provider.is_enabled
    console.post(url, {"enabled": "on"})
    provider.refresh_from_db()
    assert provider.is_enabled
    assert console.post(reverse("web:access_provider_delete", args=[provider.pk])).status_code == 302
    assert not IdentityProvider.objects.filter(pk=provider.pk).exists()


def test_another_clients_provider_is_not_found(console, other):
    theirs = other["provider"]
    assert console.get(reverse("web:access_provider", args=[theirs.pk])).status_code == 404
    assert console.post(reverse("web:access_provider_enabled", args=[theirs.pk]), {}).status_code == 404
    assert console.post(reverse("web:access_provider_delete", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.is_enabled


def test_password_sign_in_is_switched_off_and_on(console, tenant):
    assert "Switch password sign-in off" in console.get(reverse("web:access_providers")).content.decode()
    console.post(reverse("web:access_password_login"), {})
    tenant.refresh_from_db()
    assert tenant.password_login_enabled is False
    page = console.get(reverse("web:access_providers")).content.decode()
    assert "Switch password sign-in on" in page and "Password sign-in is off" in page
    console.post(reverse("web:access_password_login"), {"enabled": "on"})
    tenant.refresh_from_db()
    assert tenant.password_login_enabled is True


def test_a_viewer_cannot_switch_password_sign_in(tenant):
    viewer = Client()
    viewer.force_login(MembershipFactory(client=tenant, role="viewer", is_default=True).user)
    assert viewer.post(reverse("web:access_password_login"), {}).status_code == 403
    tenant.refresh_from_db()
    assert tenant.password_login_enabled is True
