"""The Data Source page's forms (`/sources/`): what a connection form or a
job form posts, turned into the fields the connectors and ingestion
services take, and a refusal of those services turned into the field it
concerns. No rule is checked here that the services check themselves."""

import json
import re
from dataclasses import dataclass, field
from typing import Any

from apps.core.errors import AppError

SQL_KINDS = ("postgresql", "mysql", "mssql", "oracle")
KIND_LABELS = {
    "postgresql": "PostgreSQL",
    "mysql": "MySQL / MariaDB",
    "mssql": "SQL Server",
    "oracle": "Oracle",
    "rest": "REST API",
    "graphql": "GraphQL API",
    "file": "File (upload or lakehouse)",
}
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433, "oracle": 1521}
SSL_MODES = ("", "disable", "allow", "prefer", "require", "verify-ca", "verify-full")
AUTH_TYPES = ("none", "api_key", "basic", "bearer", "oauth2_client_credentials")
# The secrets each auth type needs (write-only fields of the form).
AUTH_SECRETS = {
    "none": (),
    "api_key": ("api_key",),
    "basic": ("username", "password"),
    "bearer": ("token",),
    "oauth2_client_credentials": ("client_id", "client_secret"),
}
SECRET_FIELDS = ("password", "api_key", "token", "client_id", "client_secret")

# Schedule presets of the job form: (label, cron).
SCHEDULE_PRESETS = (
    ("No schedule", ""),
    ("Every hour", "0 * * * *"),
    ("Daily at 02:00", "0 2 * * *"),
    ("Weekly on Monday at 06:00", "0 6 * * 1"),
    ("Monthly on the 1st at 03:00", "0 3 1 * *"),
)
PREVIEW_LIMITS = (20, 100)

# A service's error code -> the form field it concerns (when its details name none).
CONNECTION_FIELDS_BY_CODE = {
    "invalid_code": "code",
    "duplicate_code": "code",
    "invalid_kind": "kind",
    "invalid_credentials": "password",
    "file_too_large": "upload",
    "invalid_file": "upload",
}
JOB_FIELDS_BY_CODE = {
    "invalid_code": "code",
    "duplicate_code": "code",
    "invalid_source": "object",
    "unknown_entity": "entity",
    "invalid_schedule": "schedule",
    "invalid_batch_size": "batch_size",
    "unknown_incremental_column": "incremental",
    "invalid_mapping": "mapping",
    "expression_not_supported": "mapping",
    "unknown_connection": "object",
}


@dataclass
class FormState:
    """What the form shows back: the values as posted and the errors by field
    ("" for the form as a whole)."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def _text(post, name: str) -> str:
    return (post.get(name) or "").strip()


def connection_values(post, *, kind: str | None = None) -> dict[str, Any]:
    """The posted connection form as it is shown back (secrets never)."""
    values = {name: _text(post, name) for name in (
        "code", "name", "kind", "host", "port", "database", "username", "sslmode", "base_url", "endpoint",
        "auth_type", "auth_header", "auth_query_param", "auth_token_url", "auth_scope", "endpoints", "queries",
        "auth_username", "delimiter", "location", "folder", "target",
    )}  # fmt: skip
    if kind:
        values["kind"] = kind
    return values


def connection_values_from(view) -> dict[str, Any]:
    """A saved connection (ConnectionView) as the edit form shows it."""
    s = view.settings or {}
    auth = s.get("auth") or {}
    return {
        "code": view.code,
        "name": view.name,
        "kind": view.kind,
        "host": s.get("host", ""),
        "port": str(s.get("port", "")),
        "database": s.get("database", "") or s.get("service_name", ""),
        "username": s.get("username", ""),
        "sslmode": s.get("sslmode", ""),
        "base_url": s.get("base_url", ""),
        "endpoint": s.get("endpoint", ""),
        "auth_type": auth.get("type", "none"),
        "auth_header": auth.get("header", ""),
        "auth_query_param": auth.get("query_param", ""),
        "auth_token_url": auth.get("token_url", ""),
        "auth_scope": auth.get("scope", ""),
        "endpoints": json.dumps(s.get("endpoints") or [], indent=2) if view.kind == "rest" else "",
        "queries": json.dumps(s.get("queries") or [], indent=2) if view.kind == "graphql" else "",
        "auth_username": "",
        "delimiter": s.get("delimiter", ""),
        "location": s.get("location", "upload") if view.kind == "file" else "",
        "folder": s.get("folder", ""),
        "target": s.get("target", ""),
    }


def _json_list(text: str, name: str, errors: dict[str, str]) -> list:
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError as exc:
        errors[name] = f"This is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        return []
    if not isinstance(value, list):
        errors[name] = "Give a JSON list ([...]) of objects."
        return []
    return value


def _auth(values: dict, post) -> tuple[dict | None, dict[str, str]]:
    kind = values["auth_type"] or "none"
    auth: dict[str, str] = {"type": kind}
    if kind == "api_key":
        if values["auth_header"]:
            auth["header"] = values["auth_header"]
        if values["auth_query_param"]:
            auth["query_param"] = values["auth_query_param"]
    if kind == "oauth2_client_credentials":
        auth["token_url"] = values["auth_token_url"]
        if values["auth_scope"]:
            auth["scope"] = values["auth_scope"]
    secrets = {}
    for name in AUTH_SECRETS.get(kind, ()):
        given = values["auth_username"] if name == "username" else post.get(name) or ""
        if given:
            secrets[name] = given
    return (auth if kind != "none" else None), secrets


def connection_parse(post, *, kind: str, creating: bool) -> tuple[dict[str, Any], FormState]:
    """The service's fields from a posted connection form. Secrets left blank
    are not sent (the stored ones are kept); `credentials` is sent only when
    a secret was typed."""
    values = connection_values(post, kind=kind)
    state = FormState(values=values)
    fields: dict[str, Any] = {"name": values["name"], "kind": kind}
    if creating:
        fields["code"] = values["code"]
    settings: dict[str, Any] = {}
    credentials: dict[str, str] = {}
    if kind in SQL_KINDS:
        for name in ("host", "database", "username"):
            if values[name]:
                settings[name] = values[name]
        if values["port"]:
            try:
                settings["port"] = int(values["port"])
            except ValueError:
                state.errors["port"] = f"The port must be a number from 1 to 65535, not {values['port']!r}."
        if kind == "postgresql" and values["sslmode"]:
            settings["sslmode"] = values["sslmode"]
        password = post.get("password") or ""
        if password:
            credentials = {"password": password}
            if values["username"]:
                credentials["username"] = values["username"]
    elif kind in ("rest", "graphql"):
        settings["base_url" if kind == "rest" else "endpoint"] = values["base_url" if kind == "rest" else "endpoint"]
        auth, credentials = _auth(values, post)
        if auth:
            settings["auth"] = auth
        if kind == "rest":
            settings["endpoints"] = _json_list(values["endpoints"], "endpoints", state.errors)
        else:
            settings["queries"] = _json_list(values["queries"], "queries", state.errors)
    elif kind == "file":
        settings["location"] = values["location"] or "upload"
        if settings["location"] == "lake":
            settings["folder"] = values["folder"]
            if values["target"]:
                settings["target"] = values["target"]
        if values["delimiter"]:
            settings["delimiter"] = values["delimiter"]
    fields["settings"] = settings
    if credentials:
        fields["credentials"] = credentials
    return fields, state


_SETTING_NAMED = re.compile(r"settings\.(\w+)")
_SETTING_TO_FIELD = {"base_url": "base_url", "endpoint": "endpoint", "endpoints": "endpoints", "queries": "queries",
                     "auth": "auth_type", "service_name": "database"}  # fmt: skip


def connection_error_field(exc: AppError) -> str:
    """The form field a connectors service's refusal concerns ("" for none)."""
    named = (exc.details or {}).get("field")
    if isinstance(named, str) and named:
        return named
    found = _SETTING_NAMED.search(exc.message)
    if found:
        return _SETTING_TO_FIELD.get(found.group(1), found.group(1))
    if exc.code == "invalid_credentials":
        return "auth_type" if "auth type" in exc.message else "password"
    return CONNECTION_FIELDS_BY_CODE.get(exc.code, "")


def job_error_field(exc: AppError) -> str:
    if exc.code == "invalid_schedule":
        return "schedule"
    return JOB_FIELDS_BY_CODE.get(exc.code, "")


def job_values(post) -> dict[str, Any]:
    names = ("code", "name", "object", "query", "entity", "incremental", "batch_size", "schedule", "mapping")
    values = {name: _text(post, name) for name in names}
    values["enabled"] = post.get("enabled") == "on"
    return values


def job_values_from(view) -> dict[str, Any]:
    return {
        "code": view.code,
        "name": view.name,
        "object": view.object,
        "query": view.query,
        "entity": view.entity,
        "incremental": (view.incremental or {}).get("column", ""),
        "batch_size": str(view.batch_size),
        "schedule": view.schedule,
        "mapping": json.dumps(view.mapping or {}, indent=2),
        "enabled": view.enabled,
    }


def job_parse(post, *, connection: str, creating: bool) -> tuple[dict[str, Any], FormState]:
    values = job_values(post)
    state = FormState(values=values)
    fields: dict[str, Any] = {
        "name": values["name"],
        "connection": connection,
        "object": values["object"],
        "query": values["query"],
        "entity": values["entity"],
        "schedule": values["schedule"],
        "incremental": {"column": values["incremental"]} if values["incremental"] else None,
        "enabled": values["enabled"],
    }
    if creating:
        fields["code"] = values["code"]
    try:
        fields["batch_size"] = int(values["batch_size"] or 10_000)
    except ValueError:
        state.errors["batch_size"] = f"The batch size must be a whole number, not {values['batch_size']!r}."
    if values["mapping"]:
        try:
            mapping = json.loads(values["mapping"])
        except ValueError as exc:
            state.errors["mapping"] = f"The mapping is not valid JSON: {exc.msg} (line {exc.lineno})."
        else:
            if isinstance(mapping, dict):
                fields["mapping"] = mapping
            else:
                state.errors["mapping"] = 'The mapping is a JSON object such as {"fields": {...}}.'
    else:
        fields["mapping"] = {}
    return fields, state


def mapping_suggest(entity, columns: list[str]) -> dict[str, Any]:
    """A first mapping for the chosen columns: each column whose name is an
    attribute's code (case and spacing aside) is that attribute's source."""
    if entity is None:
        return {}
    by_key = {re.sub(r"[^a-z0-9]", "", c.lower()): c for c in columns}
    fields = {}
    for attribute in entity.attributes:
        source = by_key.get(re.sub(r"[^a-z0-9]", "", attribute.code.lower()))
        if source:
            fields[attribute.code] = {"source": source}
    return {"fields": fields} if fields else {}
