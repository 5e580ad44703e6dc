"""Reads for sign-in: who a provider's token stands for, and whether a
user may sign in with a password."""

from django.contrib.auth.models import AbstractBaseUser

from apps.core.selectors import user_password_login_disabled_clients
from apps.identity.models import ExternalIdentity


def external_identity_user(*, tenant_id: str, object_id: str) -> AbstractBaseUser | None:
    """The active user keyed on (tid, oid), or None when that person never
    signed in here (or was deactivated)."""
    identity = ExternalIdentity.objects.select_related("user").filter(tenant_id=tenant_id, object_id=object_id).first()
    return identity.user if identity and identity.user.is_active else None


def password_login_refusal(*, user: AbstractBaseUser) -> str | None:
    """Why `user` may not sign in with a password, or None when they may.

    The rule (docs/identity.md, "Password sign-in"): superusers always may
    (the break-glass accounts); anyone else may not when ANY active client
    they belong to has `password_login_enabled` off: a client that requires
    its identity provider is not entered through a password, even by a
    member of other clients. A user of no client may (they reach nothing)."""
    if user.is_superuser:
        return None
    names = user_password_login_disabled_clients(user_id=user.pk)
    if not names:
        return None
    listed = ", ".join(names)
    return (
        f"Password sign-in is switched off for {listed}. "
        "Sign in with your organisation's account: enter your work e-mail address above."
    )
