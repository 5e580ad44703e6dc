"""Event handlers of the calculation engine (consumer group `calculations`).

Loads done in other processes (Celery workers, other web processes) reach this
process's cache only through the bus; loads done here were already handled by
the rows-loaded hook in cache.py, and invalidating twice is harmless."""

import logging

from apps.calculations.cache import results_invalidate
from apps.core.selectors import client_id_for_code
from apps.messaging.envelope import Envelope
from apps.messaging.registry import handler
from apps.ontology.events import INGESTION_COMPLETED, IngestionCompletedV1

logger = logging.getLogger(__name__)


@handler(INGESTION_COMPLETED, group="calculations")
def ingestion_completed_invalidate(envelope: Envelope) -> None:
    """Drop the cached results the load touched. Idempotent by nature: a
    replayed event bumps a generation again and deletes nothing new."""
    payload = IngestionCompletedV1.model_validate(envelope.payload)
    client_id = client_id_for_code(code=envelope.tenant) if envelope.tenant else None
    if client_id is None:
        logger.warning(
            "ingestion.completed %s names no known client (tenant %r); no cache to invalidate",
            envelope.event_id,
            envelope.tenant,
        )
        return
    results_invalidate(client_id=client_id, entity=payload.entity, time_min=payload.time_min, time_max=payload.time_max)
