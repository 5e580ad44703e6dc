"""Who asks, for row policies (apps/identity/selectors/principals.py): the
member's role, the directory groups of their external identities (removed
groups and removed directory users left out, other providers' and other
clients' directories ignored) and their attributes."""

import pytest

from apps.core.tests.factories import MembershipFactory
from apps.identity.models import DirectoryGroup, DirectoryMembership, DirectoryUser, ExternalIdentity, IdentityProvider
from apps.identity.selectors.principals import member_find, principal_read

pytestmark = pytest.mark.django_db


def _provider(client, tenant: str) -> IdentityProvider:
    return IdentityProvider.objects.create(client=client, name=tenant, tenant_id=tenant, application_id="app")


def _group(client, provider, object_id: str, *, removed: bool = False) -> DirectoryGroup:
    group = DirectoryGroup.objects.create(client=client, provider=provider, object_id=object_id)
    if removed:
        group.removed_at = group.created_at
        group.save()
    return group


def test_groups_and_attributes_follow_the_external_identity():
    membership = MembershipFactory(role="viewer", is_default=True, user__email="ann@example.com")
    client, user = membership.client, membership.user
    provider = _provider(client, "tid-a")
    ExternalIdentity.objects.create(user=user, provider=provider, tenant_id="tid-a", object_id="oid-ann")
    ann = DirectoryUser.objects.create(
        client=client,
        provider=provider,
        object_id="oid-ann",
        attributes={"department": "north", "floor": 3, "tags": ["x"], "email": "directory@example.com"},
    )
    for object_id, removed in (("g-sales", False), ("g-old", True)):
        DirectoryMembership.objects.create(group=_group(client, provider, object_id, removed=removed), user=ann)
    # Same object id under another provider of the client: another person.
    other = _provider(client, "tid-b")
    someone = DirectoryUser.objects.create(client=client, provider=other, object_id="oid-ann")
    DirectoryMembership.objects.create(group=_group(client, other, "g-other"), user=someone)

    principal = principal_read(client_id=client.pk, user_id=user.pk)
    assert principal.role == "viewer" and principal.group_ids == ("g-sales",)
    assert principal.attribute("department") == "north" and principal.attribute("floor") == "3"
    assert principal.attribute("tags") is None  # not a single value
    assert principal.attribute("email") == "ann@example.com"  # the account's own e-mail wins
    assert principal.attribute("username") == user.username

    ann.removed_at = ann.created_at
    ann.save()
    gone = principal_read(client_id=client.pk, user_id=user.pk)
    assert gone.group_ids == () and gone.attribute("department") is None


def test_members_are_found_by_id_or_username_and_only_in_their_client():
    membership = MembershipFactory(role="analyst", is_default=True)
    stranger = MembershipFactory(role="admin", is_default=True)
    client_id = membership.client_id
    assert member_find(client_id=client_id, user=membership.user.username).user_id == membership.user_id
    assert member_find(client_id=client_id, user=str(membership.user_id)).role == "analyst"
    assert member_find(client_id=client_id, user=stranger.user.username) is None
    assert principal_read(client_id=client_id, user_id=stranger.user_id) is None
