"""Payload schemas: a Pydantic model per event type and version.

The app that owns an event registers its payload model through
apps.messaging.services.register_schema (in the module that publishes it, or
from its AppConfig.ready); publishing then validates every payload of that
type and version against it, and the consumer's handlers can trust the shape:

    class IngestionCompleted(BaseModel):
        entity: str
        inserted: int

    register_schema("ingestion.completed", 1, IngestionCompleted)

Events of unregistered types are published as given. A new, incompatible
payload is a new version: register it beside the old one and have handlers
look at `envelope.version`.
"""

import threading
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from apps.messaging.types import PayloadInvalid

M = TypeVar("M", bound=type[BaseModel])

_schemas: dict[tuple[str, int], type[BaseModel]] = {}
_lock = threading.Lock()


def register_schema(event_type: str, version: int, model: M) -> M:
    """Validate payloads of `event_type` at `version` with `model`. Registering
    the same model again is a no-op; a different one for the same key is an
    error (two owners for one event)."""
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"register_schema({event_type!r}, {version}) needs a Pydantic model class, got {model!r}")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"Schema versions are positive integers, got {version!r}")
    with _lock:
        current = _schemas.get((event_type, version))
        if current is not None and _name(current) != _name(model):
            raise ValueError(f"{event_type!r} version {version} already has the schema {_name(current)}")
        _schemas[(event_type, version)] = model
    return model


def _name(model: type) -> str:
    return f"{model.__module__}.{model.__qualname__}"


def unregister_schema(event_type: str, version: int) -> None:
    with _lock:
        _schemas.pop((event_type, version), None)


def schema_for(event_type: str, version: int) -> type[BaseModel] | None:
    return _schemas.get((event_type, version))


def payload_validate(event_type: str, version: int, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as its registered model dumps it (JSON form: defaults filled
    in, types coerced), or unchanged when no model is registered."""
    model = schema_for(event_type, version)
    if model is None:
        return payload
    try:
        return model.model_validate(payload).model_dump(mode="json")
    except ValidationError as exc:
        errors = [
            {"loc": ".".join(str(part) for part in error["loc"]), "message": error["msg"], "type": error["type"]}
            for error in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        first = errors[0]
        where = f" at {first['loc']}" if first["loc"] else ""
        raise PayloadInvalid(
            f"The payload does not match the schema of {event_type!r} version {version}{where}: {first['message']}.",
            details={"type": event_type, "version": version, "errors": errors},
        ) from None
