"""Reads for the access console: a client's members with who manages their
role, and the display names of the directory groups role mappings name."""

from apps.core.selectors import client_members
from apps.identity.models import DirectoryGroup, MappedMembership, Role
from apps.identity.types import MemberAccess


def member_access_list(*, client_id: int) -> list[MemberAccess]:
    """The client's members by username. A membership role mapping granted
    and whose role is still the mapped one is managed by mapping (its
    provider named); any other was given by hand (role_mapping.py: mapping
    never touches those)."""
    names = dict(Role.objects.filter(client_id=client_id).values_list("code", "name"))
    mapped = {
        membership_id: (role_code, provider_name)
        for membership_id, role_code, provider_name in MappedMembership.objects.filter(
            membership__client_id=client_id
        ).values_list("membership_id", "role_code", "provider__name")
    }
    members = []
    for m in client_members(client_id=client_id):
        role_code, provider_name = mapped.get(m.membership_id, ("", ""))
        members.append(
            MemberAccess(
                membership_id=m.membership_id,
                user_id=m.user_id,
                username=m.username,
                email=m.email,
                role=m.role,
                role_name=names.get(m.role, m.role),
                is_default=m.is_default,
                mapped_by=provider_name if role_code == m.role else "",
            )
        )
    return members


def directory_group_names(*, client_id: int) -> dict[tuple[int, str], str]:
    """(provider id, group object id) -> the group's display name, for the
    client's groups still in the directory that have one."""
    rows = DirectoryGroup.objects.filter(client_id=client_id, removed_at__isnull=True).exclude(display_name="")
    return {(p, oid): name for p, oid, name in rows.values_list("provider_id", "object_id", "display_name")}
