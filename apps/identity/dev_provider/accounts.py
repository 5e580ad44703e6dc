"""The Django user that stands for a development identity as
django-oauth-toolkit's resource owner (its grants and tokens point at
AUTH_USER_MODEL). One per (tid, oid), inactive and without a usable password,
so it can never sign in to the platform: the platform's own user for that
person is made by the relying party from the token's (tid, oid)."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from apps.identity.dev_provider.directory import DevUser, user_get
from apps.identity.models import DevProviderAccount

USERNAME_PREFIX = "dev-idp:"  # 8 + 36 + 1 + 36 characters: within the username's 150


def account_user(person: DevUser):
    """The resource owner for `person` (created on first use)."""
    account = (
        DevProviderAccount.objects.select_related("user")
        .filter(tenant_id=person.tenant_id, object_id=person.object_id)
        .first()
    )
    if account is not None:
        return account.user
    with transaction.atomic():
        user_model = get_user_model()
        user, _ = user_model.objects.get_or_create(
            username=f"{USERNAME_PREFIX}{person.tenant_id}:{person.object_id}", defaults={"is_active": False}
        )
        if user.has_usable_password() or user.is_active:
            user.set_unusable_password()
            user.is_active = False
            user.save(update_fields=["password", "is_active"])
        account, _ = DevProviderAccount.objects.get_or_create(
            tenant_id=person.tenant_id, object_id=person.object_id, defaults={"user": user}
        )
    return account.user


def account_signed_in(person: DevUser):
    """The resource owner, its `last_login` (the ID token's auth_time) set to now."""
    user = account_user(person)
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    return user


def person_of(user) -> DevUser | None:
    """The development identity a resource owner stands for (None for any other user)."""
    account = DevProviderAccount.objects.filter(user_id=getattr(user, "pk", None)).first()
    return user_get(account.tenant_id, account.object_id) if account else None
