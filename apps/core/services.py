"""Writes for tenants and memberships, and the local demo bootstrap."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from apps.core.models import Client, Membership


@transaction.atomic
def membership_grant(
    *, user, client: Client, role: str = Membership.Role.VIEWER, is_default: bool = False
) -> Membership:
    if is_default:
        Membership.objects.filter(user=user, is_default=True).exclude(client=client).update(is_default=False)
    membership, _ = Membership.objects.update_or_create(
        user=user, client=client, defaults={"role": role, "is_default": is_default}
    )
    return membership


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
    membership_grant(user=user, client=client, role=Membership.Role.ADMIN, is_default=True)
    return DemoSetup(client.code, user.username, created_client, created_user)
