"""Writes for tenants and memberships, and the local demo bootstrap."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from apps.core.access import DEFAULT_ROLE, role_codes, role_held
from apps.core.errors import AppError, NotFound
from apps.core.models import Client, Membership, TokenGeneration
from apps.core.ws_revocation import user_sockets_recheck


def _role_check(*, client_id: int, role: str) -> None:
    """Refuse a role code the client has no role for (400 naming it). Called
    inside the transaction that writes the membership: the role is held
    against a concurrent deletion until it commits (role_held)."""
    if not role_held(client_id=client_id, role=role):
        codes = role_codes(client_id=client_id)
        raise AppError(
            f"This client has no role {role!r}; its roles are {', '.join(codes) or 'none'}.",
            code="unknown_role",
            details={"role": role, "roles": codes},
        )


@transaction.atomic
def membership_grant(*, user, client: Client, role: str = DEFAULT_ROLE, is_default: bool = False) -> Membership:
    _role_check(client_id=client.pk, role=role)
    if is_default:
        Membership.objects.filter(user=user, is_default=True).exclude(client=client).update(is_default=False)
    membership, created = Membership.objects.update_or_create(
        user=user, client=client, defaults={"role": role, "is_default": is_default}
    )
    if not created:
        user_sockets_recheck(user_id=user.pk)  # the role may have changed
    return membership


@transaction.atomic
def membership_role_set(*, membership: Membership, role: str, is_default: bool | None = None) -> Membership:
    """Change a member's role; their open sockets drop the subscriptions the
    new role may not see."""
    _role_check(client_id=membership.client_id, role=role)
    membership.role = role
    fields = ["role", "updated_at"]
    if is_default is not None:
        if is_default:
            Membership.objects.filter(user_id=membership.user_id, is_default=True).exclude(pk=membership.pk).update(
                is_default=False
            )
        membership.is_default = is_default
        fields.append("is_default")
    membership.save(update_fields=fields)
    user_sockets_recheck(user_id=membership.user_id)
    return membership


def membership_role_change(*, client_id: int, membership_id: int, role: str) -> Membership:
    """`membership_role_set` for the membership `membership_id` of client
    `client_id` (another client's answers 404)."""
    membership = Membership.objects.filter(client_id=client_id, pk=membership_id).first()
    if membership is None:
        raise NotFound(f"No member {membership_id} in this client.", details={"member": membership_id})
    return membership_role_set(membership=membership, role=role)


def client_password_login_set(*, client_id: int, enabled: bool) -> bool:
    """Switch password sign-in on or off for the client's members
    (`Client.password_login_enabled`; docs/identity.md): off, they sign in
    through the client's identity provider only. Returns the new value."""
    updated = Client.objects.filter(pk=client_id).update(password_login_enabled=bool(enabled))
    if not updated:
        raise NotFound(f"No client {client_id}.")
    return bool(enabled)


def role_members_recheck(*, client_id: int, role: str) -> None:
    """A role's permissions changed: the open sockets of its members re-check
    their subscriptions (after commit)."""
    for user_id in Membership.objects.filter(client_id=client_id, role=role).values_list("user_id", flat=True):
        user_sockets_recheck(user_id=user_id)


@transaction.atomic
def membership_revoke(*, membership: Membership) -> None:
    """Remove a member from a client. Their sockets on that client close (4403)
    at once; the client's data answers 403 to their next request (membership
    is read on every request). Tokens are per user, not per client: they are
    revoked when this was the user's last membership, and stay good for the
    user's other clients otherwise."""
    user_id = membership.user_id
    membership.delete()
    if not Membership.objects.filter(user_id=user_id).exists():
        user_tokens_revoke(user_id=user_id)
    else:
        user_sockets_recheck(user_id=user_id)


@transaction.atomic
def user_tokens_revoke(*, user_id: int) -> None:
    """Every token the user holds stops working now, access and refresh alike:
    their generation moves on (apps.core.api.authentication), their
    outstanding refresh tokens join the deny list, and their open sockets
    re-check (token sockets close with 4401)."""
    TokenGeneration.objects.get_or_create(user_id=user_id)
    TokenGeneration.objects.filter(user_id=user_id).update(generation=F("generation") + 1, changed_at=timezone.now())
    outstanding = OutstandingToken.objects.filter(
        user_id=user_id, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    )
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=t) for t in outstanding], ignore_conflicts=True)
    user_sockets_recheck(user_id=user_id)


def user_credentials_changed(*, user) -> None:
    """A user record was saved: whatever changed (password, active flag), their
    sockets re-check. A deactivated user's tokens are revoked too, so that
    reactivation does not bring them back. Called on every save of a user
    (apps.core.apps), the one place no password-change path can bypass."""
    if not user.is_active:
        user_tokens_revoke(user_id=user.pk)
    else:
        user_sockets_recheck(user_id=user.pk)


@dataclass(frozen=True)
class DemoSetup:
    client_code: str
    username: str
    created_client: bool
    created_user: bool


DEMO_CLIENT_CODE = "demo"
DEMO_ADMIN_USERNAME = "admin"


@transaction.atomic
def demo_bootstrap(*, admin_password: str) -> DemoSetup:
    """The demo client and its administrator, for local demos only. Idempotent:
    a second run keeps what exists and resets the password to the one given."""
    client, created_client = Client.objects.get_or_create(
        code=DEMO_CLIENT_CODE, defaults={"name": "Demo Health Insurer"}
    )
    user_model = get_user_model()
    user, created_user = user_model.objects.get_or_create(
        username=DEMO_ADMIN_USERNAME, defaults={"email": "admin@example.com"}
    )
    user.is_staff = True
    user.is_superuser = True
    user.set_password(admin_password)
    user.save()
    membership_grant(user=user, client=client, role="admin", is_default=True)
    return DemoSetup(client.code, user.username, created_client, created_user)


def tokens_flush_expired() -> int:
    """Delete expired refresh tokens from the outstanding list and, by cascade,
    from the deny list (simplejwt's `flushexpiredtokens`, as a service the beat
    schedule runs). Returns how many went."""
    _, per_model = OutstandingToken.objects.filter(expires_at__lte=timezone.now()).delete()
    return per_model.get(OutstandingToken._meta.label, 0)
