"""Events the warehouse consumes: archival confirmations (drop the chunk when
it was archived exactly and completely). The handler runs inside the
consumer's transaction and is idempotent: the ledger row of the chunk says
whether there is anything left to do."""

import logging

from apps.messaging.envelope import Envelope
from apps.messaging.registry import handler
from apps.warehouse.archival_events import ARCHIVAL_CONFIRMATIONS_TOPIC, ArchivalConfirmation
from apps.warehouse.retention import archival_confirmation_apply

logger = logging.getLogger(__name__)


@handler(ARCHIVAL_CONFIRMATIONS_TOPIC, group="warehouse")
def archival_confirmed(envelope: Envelope) -> None:
    confirmation = ArchivalConfirmation.model_validate(envelope.payload)
    outcome = archival_confirmation_apply(confirmation)
    logger.info(
        "Confirmation %s for chunk %s: %s %s",
        envelope.event_id,
        confirmation.chunk_name,
        outcome.status,
        outcome.reason,
    )
