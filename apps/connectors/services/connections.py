"""Connection profiles: create, change, delete, test and discover
(docs/sources.md, "Connections"). Settings are checked per kind (SQL kinds
here, the others by their adapter's `validate_settings`); credentials are
one JSON object of strings, stored encrypted and never returned."""

import hashlib
import json
import re
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from apps.connectors.adapters import adapter_class_for, adapter_for
from apps.connectors.adapters.base import ConnectionSpec
from apps.connectors.models import ConnectionProfile
from apps.connectors.network import host_validate
from apps.connectors.profiles import (
    SQL_KINDS,
    credentials_decrypt,
    credentials_encrypt,
    profile_get,
    profile_spec,
    profile_view,
    sql_destination_check,
)
from apps.connectors.types import ConnectionView, SourceObject, TestOutcome
from apps.core.errors import AppError, Conflict
from apps.ontology.services.data_sources import data_source_record

CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_CODE = 63  # the code of the data source definition discovery records
KINDS = tuple(ConnectionProfile.Kind.values)
# libpq's sslmode values.
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# The settings each SQL kind understands (anything else is refused by name).
_SQL_COMMON = ("host", "port", "database", "schemas", "username")
SQL_SETTINGS: dict[str, tuple[str, ...]] = {
    "postgresql": (*_SQL_COMMON, "sslmode"),
    "mysql": _SQL_COMMON,
    "mssql": (*_SQL_COMMON, "odbc_driver", "encrypt", "trust_server_certificate"),
    "oracle": (*_SQL_COMMON, "service_name"),
}
# Fields a caller may give; `code` is fixed at creation.
FIELDS = ("code", "name", "kind", "settings", "credentials")


def _invalid(message: str, *, code: str = "invalid_settings", **details: Any) -> AppError:
    return AppError(message, code=code, details=details)


def _code_check(code: Any) -> str:
    if not isinstance(code, str) or not code:
        raise AppError("The connection's code is required.", code="invalid_code", details={"code": code})
    if not CODE_PATTERN.match(code) or len(code) > MAX_CODE:
        raise AppError(
            f"The connection code {code!r} must be lower snake case (a letter, then letters, digits or "
            f"underscores), at most {MAX_CODE} characters.",
            code="invalid_code",
            details={"code": code},
        )
    return code


def _kind_check(kind: Any) -> str:
    if kind not in KINDS:
        raise AppError(
            f"Unknown kind {kind!r}; use one of {', '.join(KINDS)}.", code="invalid_kind", details={"kind": kind}
        )
    return kind


def _credentials_check(credentials: Any) -> dict[str, str]:
    if not isinstance(credentials, dict) or any(
        not isinstance(k, str) or not isinstance(v, str) for k, v in credentials.items()
    ):
        raise AppError(
            'credentials must be a JSON object of strings (for example {"username": ..., "password": ...}).',
            code="invalid_credentials",
        )
    return credentials


def _sql_settings_check(kind: str, settings: dict[str, Any]) -> None:
    unknown = sorted(set(settings) - set(SQL_SETTINGS[kind]))
    if unknown:
        raise _invalid(
            f"Unknown setting(s) {', '.join(map(repr, unknown))} for a {kind} connection; it takes "
            f"{', '.join(SQL_SETTINGS[kind])}.",
            keys=unknown,
        )
    host_validate(settings.get("host"))
    port = settings.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
        raise _invalid(f"settings.port must be a number from 1 to 65535, not {port!r}.", field="port")
    if kind == "oracle":
        if not settings.get("database") and not settings.get("service_name"):
            raise _invalid("An Oracle connection needs settings.database or settings.service_name.", field="database")
    elif not isinstance(settings.get("database"), str) or not settings["database"].strip():
        raise _invalid("settings.database is required: the name of the database to read.", field="database")
    sslmode = settings.get("sslmode")
    if sslmode is not None and sslmode not in SSL_MODES:
        raise _invalid(f"settings.sslmode {sslmode!r} is not one of {', '.join(SSL_MODES)}.", field="sslmode")
    schemas = settings.get("schemas")
    if schemas is not None and (
        not isinstance(schemas, list) or any(not isinstance(s, str) or not s.strip() for s in schemas)
    ):
        raise _invalid("settings.schemas must be a list of schema names.", field="schemas")


def settings_validate(kind: str, settings: Any, credentials: dict[str, str]) -> dict[str, Any]:
    """The settings, checked for `kind` (AppError 400 naming the field)."""
    if not isinstance(settings, dict):
        raise _invalid("settings must be a JSON object.")
    if kind in SQL_KINDS:
        _sql_settings_check(kind, settings)
    else:
        try:
            adapter = adapter_class_for(kind)
        except LookupError:
            adapter = None  # no adapter for this kind in this deployment: nothing to check against
        if adapter is not None:
            adapter.validate_settings(settings, credentials)
    return settings


@transaction.atomic
def connection_create(*, client_id: int, user, fields: dict[str, Any]) -> ConnectionView:
    code = _code_check(fields.get("code"))
    kind = _kind_check(fields.get("kind"))
    credentials = _credentials_check(fields.get("credentials") or {})
    settings = settings_validate(kind, fields.get("settings") or {}, credentials)
    if ConnectionProfile.objects.filter(client_id=client_id, code=code).exists():
        raise Conflict(
            f"A connection with code {code!r} already exists.", code="duplicate_code", details={"code": code}
        )
    profile = ConnectionProfile.objects.create(
        client_id=client_id,
        code=code,
        name=str(fields.get("name") or ""),
        kind=kind,
        settings=settings,
        credentials_encrypted=credentials_encrypt(credentials),
        owner=user if getattr(user, "is_authenticated", False) else None,
    )
    return profile_view(profile)


@transaction.atomic
def connection_update(*, client_id: int, code: str, fields: dict[str, Any], partial: bool) -> ConnectionView:
    """Change a connection. `partial`: fields not given keep their value;
    otherwise `kind` and `settings` are required. Credentials not given are
    kept in both cases; given, they replace the stored ones ({} clears them)."""
    profile = profile_get(client_id=client_id, code=code, for_update=True)
    if "code" in fields and fields["code"] != profile.code:
        raise AppError("A connection's code cannot change.", code="immutable_field", details={"code": fields["code"]})
    if not partial:
        missing = [f for f in ("kind", "settings") if f not in fields]
        if missing:
            raise AppError(f"A full update needs {', '.join(missing)}.", code="required", details={"fields": missing})
    kind = _kind_check(fields.get("kind", profile.kind))
    credentials = _credentials_check(fields["credentials"]) if "credentials" in fields else credentials_decrypt(profile)
    settings = settings_validate(kind, fields.get("settings", profile.settings), credentials)
    profile.kind, profile.settings = kind, settings
    if "name" in fields or not partial:
        profile.name = str(fields.get("name") or "")
    if "credentials" in fields:
        profile.credentials_encrypted = credentials_encrypt(credentials)
    profile.save()
    return profile_view(profile)


@transaction.atomic
def connection_delete(*, client_id: int, code: str) -> None:
    """Delete a connection no ingestion job reads from (409 naming the jobs)."""
    profile = profile_get(client_id=client_id, code=code, for_update=True)
    try:
        with transaction.atomic():
            profile.delete()
    except models.ProtectedError as exc:
        jobs = sorted(str(getattr(obj, "code", obj)) for obj in exc.protected_objects)
        raise Conflict(
            f"The connection {code!r} is used by ingestion job(s) {', '.join(map(repr, jobs))}: delete or move "
            "them first.",
            code="connection_in_use",
            details={"jobs": jobs},
        ) from None


def connection_test(*, client_id: int, code: str) -> TestOutcome:
    """Try the connection and record the outcome on the profile."""
    profile = profile_get(client_id=client_id, code=code)
    outcome = adapter_for(profile_spec(profile)).test()
    ConnectionProfile.objects.filter(pk=profile.pk).update(
        last_test_ok=outcome.ok,
        last_test_stage=outcome.stage,
        last_test_message=outcome.message,
        last_tested_at=timezone.now(),
        updated_at=timezone.now(),
    )
    return outcome


def connection_settings_test(*, client_id: int, fields: dict[str, Any], code: str = "") -> TestOutcome:
    """Try settings that are not saved (the form before Save, `POST
    .../connections/test`): `kind`, `settings` and `credentials` checked as
    connection_create checks them (AppError 400 naming the field), then the
    adapter's test with its destination and network rules. Nothing is stored,
    not even the outcome. Credentials left out are those of the saved
    connection `code` of the same kind, as an update keeps them (none when
    there is no such connection); `code` need not exist."""
    kind = _kind_check(fields.get("kind"))
    if "credentials" in fields:
        credentials = _credentials_check(fields.get("credentials") or {})
    else:
        saved = ConnectionProfile.objects.filter(client_id=client_id, code=code, kind=kind).first() if code else None
        credentials = credentials_decrypt(saved) if saved is not None else {}
    settings = settings_validate(kind, fields.get("settings") or {}, credentials)
    spec = ConnectionSpec(
        kind=kind, settings=settings, credentials=credentials, key=_unsaved_key(client_id, kind, settings, code)
    )
    return adapter_for(spec).test()


def _unsaved_key(client_id: int, kind: str, settings: dict[str, Any], code: str) -> str:
    """The circuit breaker's key of an unsaved test: its own per settings, so
    failures while a form is being fixed never open the saved connection's
    breaker (a file connection's key names its folder: the code's)."""
    if kind == "file":
        return f"{client_id}:{code}" if code else ""
    digest = hashlib.sha256(json.dumps([kind, settings], sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{client_id}:unsaved-{digest}"


def _data_source_kind(kind: str) -> str:
    return "sql" if kind in SQL_KINDS else kind


def objects_settings(code: str, objects: list[SourceObject]) -> dict[str, Any]:
    """What a discovery is recorded as in the data source definition."""
    return {
        "connection": code,
        "objects": [
            {
                "name": o.name,
                "kind": o.kind,
                "columns": [
                    {
                        "name": c.name,
                        "type": c.type,
                        "nullable": c.nullable,
                        "primary_key": c.primary_key,
                        "source_type": c.source_type,
                    }
                    for c in o.columns
                ],
            }
            for o in objects
        ],
    }


def connection_discover(*, client_id: int, code: str) -> list[SourceObject]:
    """The source's objects and columns, recorded as the client's data
    source definition of the same code (no secrets), and the time of it."""
    profile = profile_get(client_id=client_id, code=code)
    spec = profile_spec(profile)
    sql_destination_check(spec)
    objects = adapter_for(spec).discover()
    with transaction.atomic():
        data_source_record(
            client_id=client_id,
            code=profile.code,
            name=profile.name or profile.code,
            kind=_data_source_kind(profile.kind),
            settings=objects_settings(profile.code, objects),
        )
        ConnectionProfile.objects.filter(pk=profile.pk).update(last_discovered_at=timezone.now())
    return objects
