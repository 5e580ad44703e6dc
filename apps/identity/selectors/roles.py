"""Reads of a client's roles, and the role directory core asks for a
membership's permissions (registered in IdentityConfig.ready)."""

from django.db import connection
from django.db.models import OuterRef, Subquery

from apps.core.access import RoleDirectory
from apps.core.errors import NotFound
from apps.core.selectors import client_members
from apps.identity.models import Role
from apps.identity.types import MemberInfo, RoleInfo


def role_permissions_expression(client_field: str, role_field: str) -> Subquery:
    """The permissions array of the role `role_field` of client `client_field`
    (NULL when the client has no such role), as a correlated subquery: the
    caller's one query reads memberships and permissions together."""
    return Subquery(
        Role.objects.filter(client_id=OuterRef(client_field), code=OuterRef(role_field)).values("permissions")[:1]
    )


def role_codes(client_id: int) -> list[str]:
    return list(Role.objects.filter(client_id=client_id).order_by("code").values_list("code", flat=True))


def role_hold(client_id: int, code: str) -> bool:
    """Whether the client has the role `code`, its row locked FOR KEY SHARE
    until the caller's transaction ends. role_delete locks the row FOR UPDATE
    (which waits for, and makes wait, this lock): a grant that holds it commits
    before the deletion counts the role's members (and is counted: role_in_use),
    and a grant that waited for a deletion finds no row (unknown_role). Grants
    do not wait for one another (KEY SHARE locks do not conflict)."""
    table = connection.ops.quote_name(Role._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE client_id = %s AND code = %s FOR KEY SHARE", [client_id, code])  # noqa: S608 - the table name is the model's
        return cursor.fetchone() is not None


ROLE_DIRECTORY = RoleDirectory(
    permissions_expression=role_permissions_expression, role_codes=role_codes, role_hold=role_hold
)


def _info(role: Role, member_count: int) -> RoleInfo:
    return RoleInfo(
        id=role.pk,
        client_id=role.client_id,
        code=role.code,
        name=role.name,
        description=role.description,
        permissions=tuple(sorted(role.permissions)),
        is_seeded=role.is_seeded,
        member_count=member_count,
        created_at=role.created_at,
        updated_at=role.updated_at,
    )


def role_list(*, client_id: int) -> list[RoleInfo]:
    counts = _member_counts(client_id)
    return [_info(role, counts.get(role.code, 0)) for role in Role.objects.filter(client_id=client_id).order_by("code")]


def role_get(*, client_id: int, code: str) -> RoleInfo:
    role = Role.objects.filter(client_id=client_id, code=code).first()
    if role is None:
        raise NotFound(f"No role {code!r} in this client.", details={"role": code})
    return _info(role, _member_counts(client_id).get(code, 0))


def _member_counts(client_id: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for member in client_members(client_id=client_id):
        counts[member.role] = counts.get(member.role, 0) + 1
    return counts


def member_list(*, client_id: int, membership_id: int | None = None) -> list[MemberInfo]:
    """The client's members (only member `membership_id` when given)."""
    return [
        MemberInfo(
            membership_id=m.membership_id,
            user_id=m.user_id,
            username=m.username,
            email=m.email,
            role=m.role,
            is_default=m.is_default,
        )
        for m in client_members(client_id=client_id, membership_id=membership_id)
    ]
