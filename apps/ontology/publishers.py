"""Events the ontology publishes: each is one function that records what
happened, writes the durable event to the bus's outbox in the same
transaction (messaging relays it after commit, however long Redis is away)
and calls the in-process hooks higher layers registered (services/hooks.py)
after commit. The topics and payload models are in types/ (the face: other
apps' bus handlers read them); their schemas are registered here, imported at
start (apps.py)."""

from datetime import datetime

from django_guid import get_guid

from apps.core.transactions import after_commit
from apps.messaging.services import publish_on_commit, register_schema
from apps.ontology.models import DataLoad, EntityDefinition
from apps.ontology.services.hooks import rows_loaded_listeners
from apps.ontology.types import INGESTION_COMPLETED, IngestionCompletedV1, RowsLoaded
from apps.ontology.types.client_config import CLIENT_CONFIG_CHANGED, ClientConfigChangedV1

register_schema(INGESTION_COMPLETED, 1, IngestionCompletedV1)


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
    """`ingestion.completed`: record the load (`DataLoad`) and its event (the
    outbox) in the caller's transaction; once it commits, the event is relayed
    to the bus and every in-process rows-loaded listener is told (same
    event_id). A rolled-back load records, publishes and tells nothing; a
    failing listener or an absent Redis is logged and never raised: the load
    has committed (apps.core.transactions.after_commit)."""
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
    payload = IngestionCompletedV1(
        entity=entity.code,
        load_id=load.pk,
        inserted=inserted,
        rejected=rejected,
        time_min=time_min,
        time_max=time_max,
        source=source,
    )
    envelope = publish_on_commit(
        INGESTION_COMPLETED,
        payload.model_dump(mode="json"),
        event_type=INGESTION_COMPLETED,
        tenant=entity.client.code,
        correlation_id=correlation_id or None,
    )
    event = RowsLoaded(
        event_id=str(envelope.event_id),
        client_id=entity.client_id,
        entity=entity.code,
        inserted=inserted,
        time_min=time_min,
        time_max=time_max,
        correlation_id=correlation_id,
    )
    for listener in rows_loaded_listeners():
        after_commit(listener, event)
    return load


register_schema(CLIENT_CONFIG_CHANGED, 1, ClientConfigChangedV1)


def client_config_changed_publish(*, client_code: str, change: ClientConfigChangedV1) -> None:
    """`client_config.changed`: written to the outbox in the caller's
    transaction, relayed after it commits; the layers above follow it in
    their bus handlers (calculations: live pushes; docs/client-config.md)."""
    publish_on_commit(
        CLIENT_CONFIG_CHANGED,
        change.model_dump(mode="json"),
        event_type=CLIENT_CONFIG_CHANGED,
        tenant=client_code,
        correlation_id=get_guid() or None,
    )
