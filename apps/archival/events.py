"""The archival worker: `archival.events` in the `archival` consumer group.

Each chunk of the event gets a durable ArchivalJob and is archived in turn
(apps.archival.services.chunk_archive). A chunk that fails raises: the bus
retries the whole event (chunks already COMPLETED and confirmed are skipped)
and parks it after MESSAGING_MAX_ATTEMPTS; the job ends FAILED with the error
and no confirmation is sent, so the database side drops nothing."""

from opentelemetry import trace

from apps.archival.services import chunk_archive, job_ensure
from apps.messaging.services import handler
from apps.messaging.types import Envelope
from apps.warehouse.types import ARCHIVAL_EVENTS_TOPIC, ArchivalEvent

tracer = trace.get_tracer("apps.archival")


@handler(ARCHIVAL_EVENTS_TOPIC, group="archival")
def archival_event_handle(envelope: Envelope) -> None:
    event = ArchivalEvent.model_validate(envelope.payload)
    attributes = {
        "correlation_id": envelope.correlation_id,
        "archival.event_id": str(event.event_id),
        "archival.table": f"{event.table_schema}.{event.table_name}",
        "archival.chunks": len(event.chunks),
    }
    with tracer.start_as_current_span("archival.event", attributes=attributes):
        for chunk in event.chunks:
            job = job_ensure(event=event, chunk=chunk, correlation_id=envelope.correlation_id, tenant=envelope.tenant)
            chunk_archive(job=job)
