"""Role mapping: a user's directory groups decide their role in the client,
at every directory sync and at sign-in (from the token's groups).

The rules (RoleMapping): members of group G get role R; of several groups
that map, the lowest priority number wins; none maps: no mapped role.
Mapping grants, changes and revokes only the memberships it granted itself
(MappedMembership marks them): a membership an administrator granted by hand
is never touched, and one whose role an administrator changed by hand leaves
mapping's care. Every grant, change and revoke writes an AccessAuditEntry."""

import logging
import re
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from apps.core.errors import AppError
from apps.core.services import membership_grant, membership_revoke, membership_role_set, user_tokens_revoke
from apps.identity.graph.client import GraphError
from apps.identity.models import (
    AccessAuditEntry,
    DirectoryGroup,
    DirectoryMembership,
    DirectoryUser,
    ExternalIdentity,
    IdentityProvider,
    MappedMembership,
    Role,
    RoleMapping,
)
from apps.identity.services.directory import user_group_ids_fetch

logger = logging.getLogger(__name__)
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
Action = AccessAuditEntry.Action
Source = AccessAuditEntry.Source


@dataclass(frozen=True)
class MappedRoleOutcome:
    """What mapping did to one user's membership: `action` grant, change,
    revoke, or None (nothing to do, or a membership mapping does not manage)."""

    action: str | None
    role: str | None
    previous_role: str | None = None


NOTHING = MappedRoleOutcome(action=None, role=None)


def mapped_role_for(*, provider: IdentityProvider, group_ids: Collection[str]) -> RoleMapping | None:
    """The mapping that decides a user's role: of those whose group the user
    is in (and whose role still exists in the client), the lowest priority
    number, then the oldest."""
    if not group_ids:
        return None
    role_codes = Role.objects.filter(client_id=provider.client_id).values("code")
    return (
        RoleMapping.objects.filter(provider=provider, group_object_id__in=list(group_ids), role_code__in=role_codes)
        .order_by("priority", "id")
        .first()
    )


def _audit(*, provider: IdentityProvider, user, action: str, source: str, role: str, previous: str, details: dict):
    AccessAuditEntry.objects.create(
        client_id=provider.client_id,
        action=action,
        source=source,
        user=user,
        actor=None,
        role=role,
        previous_role=previous,
        details={"provider": provider.pk, **details},
    )


@transaction.atomic
def mapped_role_apply(
    *, user, provider: IdentityProvider, group_ids: Collection[str], source: str, reason: str = ""
) -> MappedRoleOutcome:
    """Give `user` (a platform user) the role their directory groups
    `group_ids` map to in the provider's client, through apps.core.services:
    grant, change or revoke, with an audit entry (actor: none). `source` is
    AccessAuditEntry.Source (sign_in or directory_sync); `reason` goes into
    the audit entry of a revoke."""
    client_id = provider.client_id
    mapping = mapped_role_for(provider=provider, group_ids=group_ids)
    marker = (
        MappedMembership.objects.select_related("membership")
        .filter(membership__user=user, membership__client_id=client_id)
        .first()
    )
    if marker is not None and marker.membership.role != marker.role_code:
        # An administrator changed the role by hand: theirs from now on.
        marker.delete()
        return NOTHING
    if mapping is None:
        if marker is None:
            return NOTHING
        previous = marker.membership.role
        membership_revoke(membership=marker.membership)  # the marker goes with it (cascade)
        details = {"reason": reason or "no group of the user maps to a role"}
        _audit(
            provider=provider,
            user=user,
            action=Action.REVOKE,
            source=source,
            role="",
            previous=previous,
            details=details,
        )
        return MappedRoleOutcome(action=Action.REVOKE, role=None, previous_role=previous)
    role = mapping.role_code
    details = {"group": mapping.group_object_id, "mapping": mapping.pk}
    if marker is not None:
        previous = marker.membership.role
        if previous == role:
            return MappedRoleOutcome(action=None, role=role)
        membership_role_set(membership=marker.membership, role=role)
        marker.role_code = role
        marker.save(update_fields=["role_code", "updated_at"])
        _audit(
            provider=provider,
            user=user,
            action=Action.CHANGE,
            source=source,
            role=role,
            previous=previous,
            details=details,
        )
        return MappedRoleOutcome(action=Action.CHANGE, role=role, previous_role=previous)
    if user.memberships.filter(client_id=client_id).exists():
        return NOTHING  # granted by hand: not mapping's to change
    first = not user.memberships.exists()
    membership = membership_grant(user=user, client=provider.client, role=role, is_default=first)
    MappedMembership.objects.create(membership=membership, provider=provider, role_code=role)
    _audit(provider=provider, user=user, action=Action.GRANT, source=source, role=role, previous="", details=details)
    return MappedRoleOutcome(action=Action.GRANT, role=role)


def _username_for(directory_user: DirectoryUser) -> str:
    user_model = get_user_model()
    preferred = (directory_user.user_principal_name or directory_user.mail or directory_user.object_id).lower()[:150]
    if not user_model.objects.filter(username=preferred).exists():
        return preferred
    return f"{preferred[:110]}#{directory_user.object_id}"[:150]


def directory_user_provision(*, provider: IdentityProvider, directory_user: DirectoryUser) -> ExternalIdentity:
    """A platform user for a directory user who never signed in, keyed on
    (tid, oid) like sign-in's, with no usable password: their mapped role is
    in place at their first sign-in, which finds this identity."""
    user_model = get_user_model()
    user = user_model(username=_username_for(directory_user), email=directory_user.mail or "")
    user.set_unusable_password()
    user.save()
    return ExternalIdentity.objects.create(
        user=user,
        provider=provider,
        tenant_id=provider.tenant_id,
        object_id=directory_user.object_id,
        preferred_username=directory_user.user_principal_name,
    )


def mapped_roles_sync(*, provider: IdentityProvider, deactivated: Collection[str] = ()) -> dict[str, int]:
    """Apply the provider's role mappings to every user of its mirrored
    directory: users who signed in (an ExternalIdentity with the same tid and
    oid) get, change or lose their mapped role; users who never signed in and
    whose groups map get a pre-provisioned platform user; users removed or
    disabled in the directory lose their mapped role, and those in
    `deactivated` (removed or disabled by this sync) their tokens too.
    Returns counts: roles_granted, roles_changed, roles_revoked, users_provisioned, tokens_revoked."""
    counts = dict.fromkeys(
        ("roles_granted", "roles_changed", "roles_revoked", "users_provisioned", "tokens_revoked"), 0
    )
    groups_of: dict[str, set[str]] = defaultdict(set)
    memberships = DirectoryMembership.objects.filter(user__provider=provider, group__removed_at__isnull=True)
    for user_oid, group_oid in memberships.values_list("user__object_id", "group__object_id"):
        groups_of[user_oid].add(group_oid)
    mapped_groups = set(RoleMapping.objects.filter(provider=provider).values_list("group_object_id", flat=True))
    identities = {
        identity.object_id: identity
        for identity in ExternalIdentity.objects.filter(tenant_id=provider.tenant_id).select_related("user")
    }
    deactivated = set(deactivated)
    for directory_user in DirectoryUser.objects.filter(provider=provider).order_by("pk"):
        active = directory_user.removed_at is None and directory_user.account_enabled
        groups = groups_of[directory_user.object_id] if active else set()
        identity = identities.get(directory_user.object_id)
        if identity is None:
            if not (groups & mapped_groups):
                continue
            identity = directory_user_provision(provider=provider, directory_user=directory_user)
            counts["users_provisioned"] += 1
        reason = ""
        if directory_user.removed_at is not None:
            reason = "removed from the directory"
        elif not directory_user.account_enabled:
            reason = "account disabled in the directory"
        outcome = mapped_role_apply(
            user=identity.user, provider=provider, group_ids=groups, source=Source.DIRECTORY_SYNC, reason=reason
        )
        if outcome.action is not None:
            counts[
                {"grant": "roles_granted", "change": "roles_changed", "revoke": "roles_revoked"}[outcome.action]
            ] += 1
        if directory_user.object_id in deactivated:
            user_tokens_revoke(user_id=identity.user_id)
            counts["tokens_revoked"] += 1
    return counts


# --- the rules themselves (API and admin) ---------------------------------------


def _invalid(field: str, message: str) -> AppError:
    return AppError(f"{field}: {message}", code="invalid", details={field: [message]})


def role_mapping_validate(
    *, client_id: int, provider: IdentityProvider, group_object_id: str, role_code: str, mapping_id=None
) -> None:
    """A 400 naming the field unless the role exists in the client and the
    group is known in the provider's directory (or GUID-shaped: a group the
    next sync brings) and has no other mapping of the provider."""
    if not Role.objects.filter(client_id=client_id, code=role_code).exists():
        codes = sorted(Role.objects.filter(client_id=client_id).values_list("code", flat=True))
        raise _invalid(
            "role_code", f"No role {role_code!r} in this client; its roles are {', '.join(codes) or 'none'}."
        )
    known = DirectoryGroup.objects.filter(provider=provider, object_id=group_object_id, removed_at__isnull=True)
    if not known.exists() and not GUID.match(group_object_id):
        raise _invalid(
            "group_object_id",
            f"{group_object_id!r} is neither a group of the provider's directory nor a group object id (a GUID).",
        )
    clash = RoleMapping.objects.filter(provider=provider, group_object_id=group_object_id).exclude(pk=mapping_id)
    if clash.exists():
        raise _invalid(
            "group_object_id", f"Group {group_object_id} already has a mapping ({clash.first().pk}) for this provider."
        )


def _group_id_normalized(value: str) -> str:
    """Graph's GUIDs in lower case (as tokens and Graph send them); any other id as given."""
    value = value.strip()
    return value.lower() if GUID.match(value.lower()) else value


def _provider_of(*, client_id: int, provider_id: int) -> IdentityProvider:
    provider = IdentityProvider.objects.filter(client_id=client_id, pk=provider_id).first()
    if provider is None:
        raise _invalid("provider", f"No identity provider {provider_id} in this client.")
    return provider


@transaction.atomic
def role_mapping_create(
    *,
    client_id: int,
    provider_id: int,
    group_object_id: str,
    role_code: str,
    priority: int = 100,
    description: str = "",
) -> RoleMapping:
    """A new rule: members of the group get the role (from the next sync or sign-in)."""
    provider = _provider_of(client_id=client_id, provider_id=provider_id)
    group_object_id = _group_id_normalized(group_object_id)
    role_mapping_validate(client_id=client_id, provider=provider, group_object_id=group_object_id, role_code=role_code)
    return RoleMapping.objects.create(
        client_id=client_id,
        provider=provider,
        group_object_id=group_object_id,
        role_code=role_code,
        priority=priority,
        description=description,
    )


@transaction.atomic
def role_mapping_update(*, mapping: RoleMapping, **changes) -> RoleMapping:
    """Change a rule's provider, group, role, priority or description."""
    if "provider_id" in changes:
        mapping.provider = _provider_of(client_id=mapping.client_id, provider_id=changes.pop("provider_id"))
    if "group_object_id" in changes:
        changes["group_object_id"] = _group_id_normalized(changes["group_object_id"])
    for field, value in changes.items():
        setattr(mapping, field, value)
    role_mapping_validate(
        client_id=mapping.client_id,
        provider=mapping.provider,
        group_object_id=mapping.group_object_id,
        role_code=mapping.role_code,
        mapping_id=mapping.pk,
    )
    mapping.save()
    return mapping


def role_mapping_delete(*, mapping: RoleMapping) -> None:
    """Remove a rule; the roles it gave go at the next sync or sign-in."""
    mapping.delete()


# --- at sign-in --------------------------------------------------------------------


def token_group_ids(*, provider: IdentityProvider, claims: Mapping[str, Any]) -> list[str] | None:
    """The user's group ids from verified ID token claims: the `groups` claim,
    or, when Azure AD left it out for overage (more than 200 groups:
    `_claim_names.groups`), Graph's getMemberObjects for the token's `oid`.
    None when the token says nothing about groups (the app registration emits
    no group claims) or Graph cannot answer: mapping then leaves the role as it is."""
    groups = claims.get("groups")
    if isinstance(groups, list):
        return [str(group) for group in groups]
    claim_names = claims.get("_claim_names")
    if isinstance(claim_names, dict) and "groups" in claim_names and claims.get("oid"):
        try:
            return user_group_ids_fetch(provider_id=provider.pk, object_id=str(claims["oid"]))
        except GraphError as exc:
            logger.warning("group overage lookup for %s failed; role left as it is: %s", claims["oid"], exc.message)
    return None


def sign_in_role_apply(*, user, provider: IdentityProvider, claims: Mapping[str, Any]) -> MappedRoleOutcome:
    """At sign-in: apply the provider's role mappings to the groups the
    verified ID token names (token_group_ids), with audit source sign_in."""
    group_ids = token_group_ids(provider=provider, claims=claims)
    if group_ids is None:
        return NOTHING
    return mapped_role_apply(user=user, provider=provider, group_ids=group_ids, source=Source.SIGN_IN)
