"""Role mapping: directory groups give client roles at sync and at sign-in,
through apps.core.services, with an audit entry for every grant, change and
revoke; a membership granted by hand is never touched."""

import pytest

from apps.core.models import Membership
from apps.core.selectors import token_generation
from apps.core.services import membership_grant
from apps.core.tests.factories import ClientFactory, UserFactory
from apps.identity.models import AccessAuditEntry, ExternalIdentity, RoleMapping
from apps.identity.services.role_mapping import mapped_role_apply
from apps.identity.tests.conftest import ADMINS, ALICE, ANALYSTS, BOB, CAROL, DAVE, TENANT, VIEWERS, sync

pytestmark = pytest.mark.django_db


@pytest.fixture
def mappings(provider):
    for group, role, priority in ((ADMINS, "admin", 10), (ANALYSTS, "analyst", 20), (VIEWERS, "viewer", 100)):
        RoleMapping.objects.create(
            client=provider.client, provider=provider, group_object_id=group, role_code=role, priority=priority
        )


def signed_in(provider, oid: str, username: str):
    """A platform user who signed in before (what sign-in leaves behind)."""
    user = UserFactory(username=username)
    ExternalIdentity.objects.create(user=user, provider=provider, tenant_id=TENANT, object_id=oid)
    return user


def role_of(user, client) -> str | None:
    return Membership.objects.filter(user=user, client=client).values_list("role", flat=True).first()


def user_of(oid: str):
    return ExternalIdentity.objects.get(tenant_id=TENANT, object_id=oid).user


def audit(user) -> list[tuple[str, str, str, str]]:
    return list(
        AccessAuditEntry.objects.filter(user=user)
        .order_by("created_at", "id")
        .values_list("action", "source", "role", "previous_role")
    )


def test_sync_grants_mapped_roles_with_an_audit_entry_each(provider, mappings, graph):
    alice = signed_in(provider, ALICE, "alice")
    client = provider.client

    run = sync(provider)

    assert run.status == "succeeded", run.error
    assert role_of(alice, client) == "analyst"  # analysts (20) beat viewers (100)
    assert audit(alice) == [("grant", "directory_sync", "analyst", "")]
    entry = AccessAuditEntry.objects.get(user=alice)
    assert entry.actor is None and entry.client_id == client.pk
    assert entry.details["group"] == ANALYSTS and entry.details["provider"] == provider.pk
    # Carol and Dave never signed in: pre-provisioned, keyed on tid+oid, no password.
    carol = user_of(CAROL)
    assert not carol.has_usable_password() and carol.username == "carol@contoso.example"
    assert role_of(carol, client) == "admin"
    assert role_of(user_of(DAVE), client) == "viewer"
    assert Membership.objects.get(user=carol).is_default  # their only client: the one they land in
    assert run.counts["roles_granted"] == 4 and run.counts["users_provisioned"] == 3
    # A second run changes nothing and writes no audit entry.
    before = AccessAuditEntry.objects.count()
    assert sync(provider).counts["roles_granted"] == 0
    assert AccessAuditEntry.objects.count() == before


def test_membership_changes_in_the_directory_change_and_revoke_roles(provider, mappings, graph):
    alice = signed_in(provider, ALICE, "alice")
    client = provider.client
    sync(provider)
    carol = user_of(CAROL)
    # Carol also belongs to another client (by hand): losing the mapped
    # membership alone would leave her tokens good; leaving the directory does not.
    membership_grant(user=carol, client=ClientFactory(code="elsewhere"), role="viewer")
    generation = token_generation(user_id=carol.pk)
    graph.member_remove(ANALYSTS, ALICE)  # alice: analyst -> viewer
    graph.user_delete(CAROL)  # carol: removed from the directory
    graph.user_put({"id": DAVE, "accountEnabled": False})  # dave: disabled

    run = sync(provider)

    assert run.status == "succeeded", run.error
    assert role_of(alice, client) == "viewer"
    assert audit(alice)[-1] == ("change", "directory_sync", "viewer", "analyst")
    assert role_of(carol, client) is None
    assert audit(carol)[-1] == ("revoke", "directory_sync", "", "admin")
    assert AccessAuditEntry.objects.filter(user=carol, action="revoke").get().details["reason"] == (
        "removed from the directory"
    )
    assert token_generation(user_id=carol.pk) > generation  # and their tokens
    dave = user_of(DAVE)
    assert role_of(dave, client) is None
    assert AccessAuditEntry.objects.get(user=dave, action="revoke").details["reason"] == (
        "account disabled in the directory"
    )
    assert run.counts["roles_changed"] == 1 and run.counts["roles_revoked"] == 2
    assert run.counts["tokens_revoked"] == 2


def test_a_membership_granted_by_hand_is_never_touched(provider, mappings, graph):
    bob = signed_in(provider, BOB, "bob")
    client = provider.client
    membership_grant(user=bob, client=client, role="viewer")  # an administrator's grant

    sync(provider)
    assert role_of(bob, client) == "viewer"  # not raised to analyst
    graph.member_remove(ANALYSTS, BOB)
    graph.member_remove(VIEWERS, BOB)
    sync(provider)

    assert role_of(bob, client) == "viewer"  # not revoked either
    assert audit(bob) == []


def test_a_role_an_administrator_changed_by_hand_leaves_mappings_care(provider, mappings, graph):
    alice = signed_in(provider, ALICE, "alice")
    client = provider.client
    sync(provider)
    membership = Membership.objects.get(user=alice, client=client)
    membership.role = "admin"  # changed by hand (the admin's service writes its own audit entry)
    membership.save()
    graph.member_remove(ANALYSTS, ALICE)
    graph.member_remove(VIEWERS, ALICE)

    sync(provider)

    assert role_of(alice, client) == "admin"
    assert [a for a, *_ in audit(alice)] == ["grant"]


def test_sign_in_applies_the_tokens_groups(provider, mappings):
    user = UserFactory(username="frank")
    client = provider.client

    outcome = mapped_role_apply(user=user, provider=provider, group_ids=[VIEWERS, ADMINS], source="sign_in")

    assert outcome.action == "grant" and outcome.role == "admin"
    assert role_of(user, client) == "admin"
    assert audit(user) == [("grant", "sign_in", "admin", "")]
    outcome = mapped_role_apply(user=user, provider=provider, group_ids=["unmapped-group"], source="sign_in")
    assert outcome.action == "revoke" and role_of(user, client) is None
    assert audit(user)[-1] == ("revoke", "sign_in", "", "admin")


def test_a_mapping_to_a_role_the_client_no_longer_has_is_ignored(provider, mappings):
    from apps.identity.models import Role

    Role.objects.filter(client=provider.client, code="admin").delete()
    user = UserFactory(username="gina")

    outcome = mapped_role_apply(user=user, provider=provider, group_ids=[ADMINS, VIEWERS], source="sign_in")

    assert outcome.role == "viewer"


def test_users_whose_groups_map_to_nothing_are_not_provisioned(provider, graph):
    sync(provider)  # no mappings at all
    assert not ExternalIdentity.objects.exists()


def test_sign_in_reads_groups_from_the_token_or_from_graph_on_overage(provider, mappings, graph):
    from apps.identity.services.role_mapping import sign_in_role_apply

    client = provider.client
    token_user = UserFactory(username="tina")
    outcome = sign_in_role_apply(user=token_user, provider=provider, claims={"oid": DAVE, "groups": [ANALYSTS]})
    assert outcome.role == "analyst" and role_of(token_user, client) == "analyst"

    # Overage: no `groups`, `_claim_names.groups` instead; Graph says Carol is in KPI Admins.
    overage = {
        "oid": CAROL,
        "_claim_names": {"groups": "src1"},
        "_claim_sources": {"src1": {"endpoint": "https://graph.windows.net/…/getMemberObjects"}},
    }
    carol = UserFactory(username="carol-signin")
    assert sign_in_role_apply(user=carol, provider=provider, claims=overage).role == "admin"
    assert any("/getMemberObjects" in path for _, path in graph.requests)
    assert audit(carol) == [("grant", "sign_in", "admin", "")]

    # A token that says nothing about groups leaves the role as it is.
    assert sign_in_role_apply(user=carol, provider=provider, claims={"oid": CAROL}).action is None
    assert role_of(carol, client) == "admin"
