"""Who asks, for row-level security: a client member with their role, the
directory groups their external identities belong to and their attributes.
ExternalIdentity (user) -> DirectoryUser (same provider, object id = `oid`)
-> DirectoryMembership -> DirectoryGroup.object_id; a removed directory user
or group counts for nothing."""

from django.contrib.auth import get_user_model

from apps.core.models import Membership
from apps.identity.models import DirectoryMembership, DirectoryUser, ExternalIdentity
from apps.identity.types import Principal

BUILTIN_ATTRIBUTES = ("email", "username")


def _scalar(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None  # lists, objects, null: no value (a placeholder reading one matches nothing)


def principal_read(*, client_id: int, user_id: int, role: str | None = None) -> Principal | None:
    """The principal of `user_id` in `client_id` (None: not a member). `role`
    is the caller's role when the request already resolved it."""
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        return None
    if role is None:
        membership = Membership.objects.filter(client_id=client_id, user_id=user_id).first()
        if membership is None:
            return None
        role = membership.role
    identities = list(
        ExternalIdentity.objects.filter(user_id=user_id, provider__client_id=client_id).values_list(
            "provider_id", "object_id"
        )
    )
    directory_users = []
    for provider_id, object_id in identities:
        directory_users += list(
            DirectoryUser.objects.filter(
                client_id=client_id, provider_id=provider_id, object_id=object_id, removed_at__isnull=True
            )
        )
    groups = sorted(
        set(
            DirectoryMembership.objects.filter(
                user__in=directory_users, group__removed_at__isnull=True, group__client_id=client_id
            ).values_list("group__object_id", flat=True)
        )
    )
    attributes: dict[str, str] = {}
    for directory_user in directory_users:
        for name, value in (directory_user.attributes or {}).items():
            text = _scalar(value)
            if text is not None and isinstance(name, str):
                attributes.setdefault(name, text)
    if user.email:
        attributes["email"] = user.email
    attributes["username"] = user.get_username()
    return Principal(
        user_id=user.pk,
        username=user.get_username(),
        role=role,
        group_ids=tuple(groups),
        attributes=tuple(sorted(attributes.items())),
    )


def member_find(*, client_id: int, user: str | int) -> Principal | None:
    """A member of `client_id` by user id or username (None: no such member)."""
    users = get_user_model().objects.filter(memberships__client_id=client_id)
    text = str(user).strip()
    found = users.filter(pk=int(text)).first() if text.isdigit() else None
    if found is None:
        found = users.filter(username=text).first()
    return principal_read(client_id=client_id, user_id=found.pk) if found is not None else None
