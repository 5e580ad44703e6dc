"""Events the ontology publishes. For now each is one function that records
what happened and calls the hooks higher layers registered (hooks.py); the
event bus (messaging) will carry them later without changing the callers."""

import uuid
from datetime import datetime
from functools import partial

from django.db import transaction
from django_guid import get_guid

from apps.ontology.hooks import RowsLoaded, rows_loaded_listeners
from apps.ontology.models import DataLoad, EntityDefinition


def ingestion_completed_publish(
    *,
    entity: EntityDefinition,
    inserted: int,
    rejected: int = 0,
    time_min: datetime | None = None,
    time_max: datetime | None = None,
    source: str = "api",
    user=None,
) -> DataLoad:
    """`ingestion.completed`: record the load (`DataLoad`) in the caller's
    transaction and, once it commits, tell every rows-loaded listener. A
    rolled-back load records nothing and tells no one; a failing listener is
    logged and does not stop the others (robust on_commit)."""
    correlation_id = get_guid() or ""
    load = DataLoad.objects.create(
        client_id=entity.client_id,
        entity=entity,
        inserted=inserted,
        rejected=rejected,
        time_min=time_min,
        time_max=time_max,
        source=source,
        correlation_id=correlation_id,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    event = RowsLoaded(
        event_id=str(uuid.uuid4()),
        client_id=entity.client_id,
        entity=entity.code,
        inserted=inserted,
        time_min=time_min,
        time_max=time_max,
        correlation_id=correlation_id,
    )
    for listener in rows_loaded_listeners():
        transaction.on_commit(partial(listener, event), robust=True)
    return load
