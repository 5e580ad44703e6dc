"""Writes of a client's roles: named sets of permissions (docs/access.md).
The seeded roles (admin, analyst, viewer) can be edited, not deleted; a role
still held by members cannot be deleted. A change of permissions applies to
the members' next request (permissions are read with the membership, never
cached) and their open sockets re-check their subscriptions."""

import re
from collections.abc import Iterable

from django.db import IntegrityError, transaction

from apps.core.access import SEEDED_ROLES, Permission, permissions_unknown
from apps.core.errors import AppError, Conflict, NotFound
from apps.core.selectors import client_members, role_member_count
from apps.core.services import membership_role_change, role_members_recheck
from apps.identity.models import AccessAuditEntry, Role
from apps.identity.selectors.roles import role_get
from apps.identity.types import RoleInfo


def _permissions_clean(permissions: Iterable[str]) -> list[str]:
    permissions = list(permissions)
    unknown = permissions_unknown(permissions)
    if unknown:
        raise AppError(
            f"Unknown permission {unknown[0]!r}; use one of {', '.join(Permission)}.",
            code="unknown_permission",
            details={"permissions": unknown, "known": list(Permission)},
        )
    return sorted(set(permissions))


_CODE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")  # as core's code_validator


def _code_check(code: str) -> None:
    if not isinstance(code, str) or not _CODE.match(code):
        raise AppError(
            f"A role code is lower snake case (a letter, then letters, digits or '_'; at most 63), not {code!r}.",
            code="invalid_code",
            details={"code": code},
        )


def roles_seed(*, client_id: int) -> list[str]:
    """Give the client the seeded roles it lacks (idempotent); the codes created."""
    existing = set(Role.objects.filter(client_id=client_id).values_list("code", flat=True))
    missing = [seed for code, seed in SEEDED_ROLES.items() if code not in existing]
    Role.objects.bulk_create(
        [
            Role(
                client_id=client_id,
                code=seed.code,
                name=seed.name,
                description=seed.description,
                permissions=sorted(seed.permissions),
                is_seeded=True,
            )
            for seed in missing
        ],
        ignore_conflicts=True,  # seeded meanwhile by another process
    )
    return [seed.code for seed in missing]


@transaction.atomic
def role_create(*, client_id: int, code: str, name: str, permissions: Iterable[str], description: str = "") -> RoleInfo:
    _code_check(code)
    cleaned = _permissions_clean(permissions)
    exists = Conflict(f"This client already has a role {code!r}.", code="role_exists", details={"role": code})
    if Role.objects.filter(client_id=client_id, code=code).exists():
        raise exists
    try:
        with transaction.atomic():
            Role.objects.create(
                client_id=client_id, code=code, name=name or code, description=description, permissions=cleaned
            )
    except IntegrityError:  # created meanwhile
        raise exists from None
    return role_get(client_id=client_id, code=code)


def _locked(client_id: int, code: str) -> Role:
    role = Role.objects.select_for_update().filter(client_id=client_id, code=code).first()
    if role is None:
        raise NotFound(f"No role {code!r} in this client.", details={"role": code})
    return role


@transaction.atomic
def role_update(
    *,
    client_id: int,
    code: str,
    name: str | None = None,
    description: str | None = None,
    permissions: Iterable[str] | None = None,
) -> RoleInfo:
    """Change a role's name, description or permissions (seeded roles too).
    Its members' open sockets re-check their subscriptions after commit."""
    role = _locked(client_id, code)
    fields = ["updated_at"]
    if name is not None:
        role.name = name
        fields.append("name")
    if description is not None:
        role.description = description
        fields.append("description")
    if permissions is not None:
        role.permissions = _permissions_clean(permissions)
        fields.append("permissions")
    role.save(update_fields=fields)
    if permissions is not None:
        role_members_recheck(client_id=client_id, role=code)
    return role_get(client_id=client_id, code=code)


@transaction.atomic
def role_delete(*, client_id: int, code: str) -> None:
    """Delete a role no member holds. Its row is locked FOR UPDATE first: a
    membership being granted the role at the same moment holds the row FOR KEY
    SHARE (core's role check, apps.identity.selectors.roles.role_hold), so
    either the grant commits first and is counted here (role_in_use), or it
    waits and then finds no such role (unknown_role); never a member holding a
    deleted role."""
    role = _locked(client_id, code)
    if role.is_seeded:
        raise AppError(
            f"The role {code!r} is one every client has; edit its permissions instead of deleting it.",
            code="seeded_role",
            details={"role": code},
        )
    held = role_member_count(client_id=client_id, role=code)
    if held:
        raise Conflict(
            f"{held} member{'s' if held != 1 else ''} still hold{'s' if held == 1 else ''} the role {code!r}; "
            "give them another role first.",
            code="role_in_use",
            details={"role": code, "members": held},
        )
    role.delete()


@transaction.atomic
def member_role_change(*, client_id: int, membership_id: int, role: str, actor_id: int | None) -> None:
    """An administrator gives member `membership_id` another role of the
    client (another client's member answers 404), audited with source admin."""
    previous = next(iter(client_members(client_id=client_id, membership_id=membership_id)), None)
    membership_role_change(client_id=client_id, membership_id=membership_id, role=role)
    if previous is not None and previous.role != role:
        AccessAuditEntry.objects.create(
            client_id=client_id,
            action=AccessAuditEntry.Action.CHANGE,
            source=AccessAuditEntry.Source.ADMIN,
            user_id=previous.user_id,
            actor_id=actor_id,
            role=role,
            previous_role=previous.role,
            details={"membership": membership_id},
        )
