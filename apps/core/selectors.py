"""Reads of tenants and memberships."""

from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Value

from apps.core.access import access_roles_directory, permissions_of
from apps.core.errors import AppError, PermissionDenied
from apps.core.models import Client, Membership, TokenGeneration


@dataclass(frozen=True)
class ClientAccess:
    client_id: int
    code: str
    name: str
    role: str  # the role's code within the client
    is_default: bool
    # What the role allows (apps.core.access.Permission values), read with the membership.
    permissions: frozenset[str] = field(default=frozenset())

    def has(self, permission: str) -> bool:
        return permission in self.permissions


def user_clients(*, user: AbstractBaseUser) -> list[ClientAccess]:
    """The active clients a user belongs to, default first, each with its
    role's permissions (one query: the role directory's expression annotates
    the memberships)."""
    directory = access_roles_directory()
    expression = directory.permissions_expression("client_id", "role") if directory else Value(None)
    memberships = (
        Membership.objects.filter(user=user, client__is_active=True)
        .select_related("client")
        .annotate(role_permissions=expression)
        .order_by("-is_default", "client__code")
    )
    return [
        ClientAccess(
            m.client_id,
            m.client.code,
            m.client.name,
            m.role,
            m.is_default,
            permissions_of(role=m.role, annotated=m.role_permissions),
        )
        for m in memberships
    ]


def client_resolve(*, user: AbstractBaseUser, code: str | None = None) -> ClientAccess:
    """The client a request acts for: the one named (`X-Client` header or
    `?client=`), else the user's default, else their only one."""
    clients = user_clients(user=user)
    if code:
        for access in clients:
            if access.code == code:
                return access
        # Same answer whether the client exists or not: no tenant enumeration.
        raise PermissionDenied(f"You are not a member of client '{code}'.", code="client_forbidden")
    if not clients:
        raise PermissionDenied("Your account belongs to no client yet; ask an administrator.", code="no_client")
    if len(clients) > 1 and not clients[0].is_default:
        raise AppError(
            "You belong to several clients; name one with the X-Client header.",
            code="client_required",
            details={"clients": [c.code for c in clients]},
        )
    return clients[0]


def active_client_ids() -> list[int]:
    """Every active client, for sweeps that run per tenant."""
    return list(Client.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True))


def client_id_for_code(*, code: str) -> int | None:
    return Client.objects.filter(code=code).values_list("pk", flat=True).first()


def client_code_for_id(*, client_id: int) -> str | None:
    return Client.objects.filter(pk=client_id).values_list("code", flat=True).first()


def token_generation(*, user_id: int) -> int:
    """The generation a user's tokens must carry to be accepted (0 until the
    first revocation)."""
    return TokenGeneration.objects.filter(user_id=user_id).values_list("generation", flat=True).first() or 0


@dataclass(frozen=True)
class ClientMember:
    membership_id: int
    user_id: int
    username: str
    email: str
    role: str
    is_default: bool


def client_members(*, client_id: int, membership_id: int | None = None) -> list[ClientMember]:
    """A client's members, by username (only member `membership_id` when given)."""
    rows = Membership.objects.filter(client_id=client_id).select_related("user").order_by("user__username")
    if membership_id is not None:
        rows = rows.filter(pk=membership_id)
    return [ClientMember(m.pk, m.user_id, m.user.get_username(), m.user.email, m.role, m.is_default) for m in rows]


def role_member_count(*, client_id: int, role: str) -> int:
    return Membership.objects.filter(client_id=client_id, role=role).count()


def client_password_login_enabled(*, client_id: int) -> bool:
    """Whether the client's members may sign in with a password."""
    return bool(Client.objects.filter(pk=client_id).values_list("password_login_enabled", flat=True).first())


def user_password_login_disabled_clients(*, user_id: int) -> list[str]:
    """Names of the user's active clients that switched password sign-in off
    (`Client.password_login_enabled`): their members sign in through the
    client's identity provider."""
    return list(
        Membership.objects.filter(user_id=user_id, client__is_active=True, client__password_login_enabled=False)
        .order_by("client__name")
        .values_list("client__name", flat=True)
    )
