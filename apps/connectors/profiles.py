"""What services and selectors share about a stored connection profile: the
view other apps see, and the spec (with its decrypted credentials) an
adapter is made from. Credentials are decrypted here only."""

import json

from apps.connectors.adapters.base import ConnectionSpec
from apps.connectors.adapters.sql import DRIVERS
from apps.connectors.models import ConnectionProfile
from apps.connectors.network import destination_check
from apps.connectors.types import ConnectionView
from apps.core.crypto import secret_decrypt, secret_encrypt
from apps.core.errors import NotFound
from apps.core.secret_fields import secret_purpose

CREDENTIALS_PURPOSE = secret_purpose(model="connectors.ConnectionProfile", field="credentials_encrypted")
SQL_KINDS = ("postgresql", "mysql", "mssql", "oracle")


def profile_get(*, client_id: int, code: str, for_update: bool = False) -> ConnectionProfile:
    queryset = ConnectionProfile.objects.select_related("owner")
    if for_update:
        queryset = queryset.select_for_update(of=("self",))
    profile = queryset.filter(client_id=client_id, code=code).first()
    if profile is None:
        raise NotFound(f"No connection {code!r} in this client.", code="not_found", details={"code": code})
    return profile


def credentials_encrypt(credentials: dict[str, str]) -> str:
    return secret_encrypt(json.dumps(credentials), purpose=CREDENTIALS_PURPOSE) if credentials else ""


def credentials_decrypt(profile: ConnectionProfile) -> dict[str, str]:
    if not profile.credentials_encrypted:
        return {}
    return json.loads(secret_decrypt(profile.credentials_encrypted, purpose=CREDENTIALS_PURPOSE))


def profile_spec(profile: ConnectionProfile) -> ConnectionSpec:
    return ConnectionSpec(
        kind=profile.kind,
        settings=dict(profile.settings or {}),
        credentials=credentials_decrypt(profile),
        key=f"{profile.client_id}:{profile.code}",
    )


def profile_view(profile: ConnectionProfile) -> ConnectionView:
    owner = profile.owner
    return ConnectionView(
        id=profile.pk,
        code=profile.code,
        name=profile.name,
        kind=profile.kind,
        settings=dict(profile.settings or {}),
        credentials_set=bool(profile.credentials_encrypted),
        owner=(owner.get_username() if owner is not None else ""),
        last_test_ok=profile.last_test_ok,
        last_test_stage=profile.last_test_stage,
        last_test_message=profile.last_test_message,
        last_tested_at=profile.last_tested_at,
        last_discovered_at=profile.last_discovered_at,
        created_at=profile.created_at,
        updated_at=profile.updated_at,
    )


def sql_destination_check(spec: ConnectionSpec) -> None:
    """The destination rule for a SQL connection's host and port (other
    kinds check each URL they call in their own client)."""
    if spec.kind in SQL_KINDS:
        destination_check(str(spec.settings.get("host") or ""), int(spec.settings.get("port") or DRIVERS[spec.kind][1]))
