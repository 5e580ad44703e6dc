"""Reading a client's connections: the profiles (never their credentials),
the objects their last discovery found (no network), and a preview of live
rows (the network, through the same destination rule as extraction)."""

from django.conf import settings

from apps.connectors.adapters import adapter_for
from apps.connectors.models import ConnectionProfile
from apps.connectors.profiles import profile_get, profile_spec, profile_view, sql_destination_check
from apps.connectors.types import ConnectionView, Preview, SourceColumn, SourceError, SourceObject
from apps.core.errors import AppError
from apps.ontology.selectors.data_sources import data_source_get


def connections_list(*, client_id: int) -> list[ConnectionView]:
    profiles = ConnectionProfile.objects.filter(client_id=client_id).select_related("owner").order_by("code")
    return [profile_view(p) for p in profiles]


def connection_get(*, client_id: int, code: str) -> ConnectionView:
    """The connection `code` of the client (404 `not_found`)."""
    return profile_view(profile_get(client_id=client_id, code=code))


def connection_objects(*, client_id: int, code: str) -> list[SourceObject]:
    """What the connection's last discovery recorded; [] before any."""
    profile_get(client_id=client_id, code=code)
    source = data_source_get(client_id=client_id, code=code)
    if source is None or source.settings.get("connection") != code:
        return []
    return [
        SourceObject(
            name=o["name"],
            kind=o.get("kind", "table"),
            columns=tuple(
                SourceColumn(
                    name=c["name"],
                    type=c.get("type", "string"),
                    nullable=bool(c.get("nullable", True)),
                    primary_key=bool(c.get("primary_key", False)),
                    source_type=c.get("source_type", ""),
                )
                for c in o.get("columns", ())
            ),
        )
        for o in source.settings.get("objects", ())
    ]


def preview_limit_check(limit: object) -> int:
    cap = settings.SOURCES_PREVIEW_MAX_ROWS
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise AppError(f"limit must be a whole number from 1 to {cap}.", code="invalid_limit", details={"max": cap})
    if limit > cap:
        raise AppError(
            f"limit {limit} is over the cap of {cap} rows (SOURCES_PREVIEW_MAX_ROWS).",
            code="invalid_limit",
            details={"limit": limit, "max": cap},
        )
    return limit


def connection_preview(
    *, client_id: int, code: str, source_object: str = "", source_query: str = "", limit: int = 20
) -> Preview:
    """The first `limit` rows (capped at SOURCES_PREVIEW_MAX_ROWS) of an
    object or a SELECT, values JSON-ready."""
    limit = preview_limit_check(limit)
    if bool(source_object) == bool(source_query):
        raise SourceError("Name either an object or a query to preview.", code="invalid_source")
    spec = profile_spec(profile_get(client_id=client_id, code=code))
    sql_destination_check(spec)
    return adapter_for(spec).preview(source_object=source_object, source_query=source_query, limit=limit)
