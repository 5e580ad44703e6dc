"""The dataclasses identity exchanges with other apps."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RoleInfo:
    """A client's role: a named set of permissions (apps.core.access.Permission)."""

    id: int
    client_id: int
    code: str
    name: str
    description: str
    permissions: tuple[str, ...]  # sorted
    is_seeded: bool
    member_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class MemberInfo:
    """A member of a client and the code of their role there."""

    membership_id: int
    user_id: int
    username: str
    email: str
    role: str
    is_default: bool
