"""Events the warehouse consumes: archival confirmations (drop the chunk when
it was archived exactly and completely) and archival failures (mark the chunk
failed with the worker's error). The handler runs inside the
consumer's transaction and is idempotent: the ledger row of the chunk says
whether there is anything left to do."""

import logging

from apps.messaging.services import handler
from apps.messaging.types import Envelope
from apps.warehouse.retention import archival_confirmation_apply, archival_failure_apply
from apps.warehouse.types import (
    ARCHIVAL_CONFIRMATIONS_TOPIC,
    ARCHIVAL_FAILURES_TOPIC,
    ArchivalConfirmation,
    ArchivalFailure,
)

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


@handler(ARCHIVAL_FAILURES_TOPIC, group="warehouse")
def archival_failed(envelope: Envelope) -> None:
    failure = ArchivalFailure.model_validate(envelope.payload)
    outcome = archival_failure_apply(failure)
    logger.info("Archival failure %s for chunk %s: %s", envelope.event_id, failure.chunk_name, outcome.status)
