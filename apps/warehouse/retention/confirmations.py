"""Drop an archived chunk only on a confirmation that matches it exactly; a
refused chunk (its confirmation did not match) is requested again by the next
scan, since its data is still here and still too old."""

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from apps.warehouse.alerts import alert_raise
from apps.warehouse.models import ChunkArchival
from apps.warehouse.retention.chunks import chunk_drop, chunk_dropped_tell, chunk_exists, chunk_lock, chunk_row_count
from apps.warehouse.types import (
    ArchivalConfirmation,
    ArchivalFailure,
    ChunkRef,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConfirmationOutcome:
    status: str  # dropped | refused | confirmed | ignored
    reason: str = ""


def archival_confirmation_apply(confirmation: ArchivalConfirmation) -> ConfirmationOutcome:
    """Drop the confirmed chunk if, and only if, the confirmation names exactly
    a chunk we requested (event, chunk name and range) and its verified row
    count equals the chunk's current row count. Anything else keeps the chunk;
    a mismatch marks it refused and raises an alert. Repeats are no-ops."""
    c = confirmation
    where = f"{c.chunk_schema}.{c.chunk_name} of {c.table_schema}.{c.table_name}"
    with transaction.atomic():
        entry = (
            ChunkArchival.objects.select_for_update()
            .filter(chunk_schema=c.chunk_schema, chunk_name=c.chunk_name)
            .first()
        )
        if entry is None:
            alert_raise("archival_unknown_chunk", f"Confirmation for {where}, which was never requested; kept.",
                        event_id=str(c.event_id), chunk=c.chunk_name)  # fmt: skip
            return ConfirmationOutcome("ignored", "not requested")
        if entry.event_id != c.event_id:
            # A confirmation of an older request (since refused and requested again), or a stray one.
            logger.warning("Confirmation for %s refers to event %s, the chunk's request is %s: ignored",
                           where, c.event_id, entry.event_id)  # fmt: skip
            return ConfirmationOutcome("ignored", "another request")
        # A FAILED chunk may still be confirmed: a replay of the parked event succeeded.
        if entry.status not in (ChunkArchival.Status.REQUESTED, ChunkArchival.Status.FAILED):
            logger.info("Confirmation for %s again (status %s): nothing to do", where, entry.status)
            return ConfirmationOutcome("ignored", f"already {entry.status}")

        entry.verified_row_count = c.verified_row_count
        entry.files = c.files
        entry.checksum = c.checksum
        entry.confirmed_at = c.confirmed_at

        problem = _mismatch(entry, c)
        if problem is None and not chunk_exists(chunk_schema=c.chunk_schema, chunk_name=c.chunk_name):
            entry.status = ChunkArchival.Status.CONFIRMED
            entry.error = "The chunk no longer exists; nothing to drop."
            entry.save()
            logger.warning("Confirmation for %s: the chunk is already gone", where)
            return ConfirmationOutcome("confirmed", entry.error)
        if problem is None:
            chunk_lock(chunk_schema=c.chunk_schema, chunk_name=c.chunk_name)
            current = chunk_row_count(chunk_schema=c.chunk_schema, chunk_name=c.chunk_name)
            if current != c.verified_row_count:
                problem = f"verified {c.verified_row_count} rows but the chunk has {current} now"
        if problem is not None:
            entry.status = ChunkArchival.Status.REFUSED
            entry.error = problem
            entry.save()
            alert_raise("archival_confirmation_refused", f"Chunk {where} kept: {problem}.",
                        event_id=str(c.event_id), chunk=c.chunk_name, table=f"{c.table_schema}.{c.table_name}",
                        verified_row_count=c.verified_row_count, files=c.files)  # fmt: skip
            return ConfirmationOutcome("refused", problem)

        chunk_drop(chunk_schema=c.chunk_schema, chunk_name=c.chunk_name)
        entry.status = ChunkArchival.Status.DROPPED
        entry.error = ""
        entry.dropped_at = timezone.now()
        entry.save()
        chunk_dropped_tell(
            table_schema=c.table_schema,
            table_name=c.table_name,
            ref=ChunkRef(chunk_schema=c.chunk_schema, chunk_name=c.chunk_name, range_start=entry.range_start,
                         range_end=entry.range_end, row_count=c.verified_row_count),
        )  # fmt: skip
        logger.info("Archived chunk %s dropped (%d rows, files %s)", where, c.verified_row_count, c.files)
        return ConfirmationOutcome("dropped")


def archival_failure_apply(failure: ArchivalFailure) -> ConfirmationOutcome:
    """The worker gave up on a chunk we requested: mark it failed with the
    worker's error (the chunk is kept; the next scan requests it again).
    A failure of another request, or of a chunk no longer requested, is ignored."""
    f = failure
    where = f"{f.chunk_schema}.{f.chunk_name} of {f.table_schema}.{f.table_name}"
    with transaction.atomic():
        entry = (
            ChunkArchival.objects.select_for_update()
            .filter(chunk_schema=f.chunk_schema, chunk_name=f.chunk_name, event_id=f.event_id)
            .first()
        )
        if entry is None or entry.status not in (ChunkArchival.Status.REQUESTED, ChunkArchival.Status.FAILED):
            logger.info("Archival failure for %s ignored (%s)", where, entry.status if entry else "not requested")
            return ConfirmationOutcome("ignored", entry.status if entry else "not requested")
        entry.status = ChunkArchival.Status.FAILED
        entry.error = f"archival failed after {f.attempts} attempt(s): {f.error}"[:4000]
        entry.save()
    alert_raise("archival_failed", f"Chunk {where} could not be archived: {f.error}",
                event_id=str(f.event_id), chunk=f.chunk_name, table=f"{f.table_schema}.{f.table_name}")  # fmt: skip
    return ConfirmationOutcome("failed", entry.error)


def _mismatch(entry: ChunkArchival, c: ArchivalConfirmation) -> str | None:
    if (entry.table_schema, entry.table_name) != (c.table_schema, c.table_name):
        return f"the chunk belongs to {entry.table_schema}.{entry.table_name}"
    if entry.range_start != c.range_start or entry.range_end != c.range_end:
        return (
            f"range [{c.range_start.isoformat()}, {c.range_end.isoformat()}) is not the chunk's "
            f"[{entry.range_start.isoformat()}, {entry.range_end.isoformat()})"
        )
    if not c.files:
        return "no files were reported"
    return None


# -- status -------------------------------------------------------------------
