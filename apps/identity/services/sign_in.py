"""A provider sign-in completed: the user keyed on (`tid`, `oid`), their
external identity refreshed from the verified ID token's claims, and the
token's groups handed on in one place.

Users are never matched by e-mail: the same person's local account and their
provider identity stay two accounts, the same `oid` in two tenants is two
users, and a token without an `email` claim signs in like any other.
"""

import re
import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.identity.models import ExternalIdentity, IdentityProvider
from apps.identity.services.role_mapping import sign_in_role_apply
from apps.identity.types import SignInRefused, SignInResult

# Claims kept in ExternalIdentity.last_claims: what the console and the
# directory need, not the token's one-time values.
_NOT_KEPT = {"nonce", "aio", "uti", "rh", "at_hash", "c_hash", "sid"}
_USERNAME_UNSAFE = re.compile(r"[^\w.@+-]")


def _username(claims: dict[str, Any]) -> str:
    users = get_user_model().objects
    base = _USERNAME_UNSAFE.sub("_", str(claims.get("preferred_username") or claims["oid"]))[:120] or "user"
    if not users.filter(username=base).exists():
        return base
    return f"{base}~{uuid.uuid4().hex[:8]}"


def _names(claims: dict[str, Any]) -> dict[str, str]:
    name = str(claims.get("name") or "").strip()
    first = str(claims.get("given_name") or "").strip()
    last = str(claims.get("family_name") or "").strip()
    if name and not (first or last):
        first, _, last = name.partition(" ")
    return {"first_name": first[:150], "last_name": last[:150]}


def _user_update(user, claims: dict[str, Any]) -> None:
    changes = _names(claims)
    email = str(claims.get("email") or "").strip()
    if email:
        changes["email"] = email[:254]
    changed = [field for field, value in changes.items() if getattr(user, field) != value]
    for field in changed:
        setattr(user, field, changes[field])
    if changed:
        user.save(update_fields=changed)


def sign_in_complete(*, provider: IdentityProvider, claims: dict[str, Any]) -> SignInResult:
    """The user the verified ID token `claims` stand for, created at the
    first sign-in, updated at every later one (names, e-mail,
    preferred_username, the claims kept)."""
    tid, oid = claims.get("tid"), claims.get("oid")
    if not (isinstance(tid, str) and tid and isinstance(oid, str) and oid):
        raise SignInRefused("The token lacks the tid and oid claims that identify a user.", code="missing_claim")
    kept = {k: v for k, v in claims.items() if k not in _NOT_KEPT}
    now = timezone.now()
    for attempt in range(2):
        try:
            with transaction.atomic():
                identity = (
                    ExternalIdentity.objects.select_for_update()
                    .select_related("user")
                    .filter(tenant_id=tid, object_id=oid)
                    .first()
                )
                created = identity is None
                if created:
                    user = get_user_model().objects.create_user(_username(claims))  # no usable password
                    identity = ExternalIdentity(user=user, tenant_id=tid, object_id=oid)
                user = identity.user
                if not user.is_active:
                    raise SignInRefused("This account is deactivated; ask an administrator.", code="user_inactive")
                _user_update(user, claims)
                identity.provider = provider
                identity.preferred_username = str(claims.get("preferred_username") or "")[:320]
                identity.last_claims = kept
                identity.last_sign_in_at = now
                identity.save()
            break
        except IntegrityError:
            # Two first sign-ins of the same person at once: the other one created
            # the identity; read it on the second pass.
            if attempt:
                raise
    result = SignInResult(
        user_id=user.pk,
        username=user.get_username(),
        provider_id=provider.pk,
        client_id=provider.client_id,
        tenant_id=tid,
        object_id=oid,
        external_identity_id=identity.pk,
        created=created,
    )
    # The provider's role mappings turn the token's groups (or Graph's, on
    # overage) into the client role, audited with source sign_in.
    sign_in_role_apply(user=user, provider=provider, claims=claims)
    return result
