"""Reads of retention's progress, per chunk: the ledger (ChunkArchival) joined
with the archival worker's job of the chunk's current request (through
apps.warehouse.services.hooks), so a failure is visible through the API, not only in
the worker's log.

One state per chunk:
- requested: an archival event was published; no worker has picked it up yet
- archiving: the worker is at it (pending or processing, maybe between retries)
- failed: the worker gave up (its attempts and last error say why); the chunk is kept
- archived: written and verified in the lakehouse; the drop waits for the confirmation
- refused: the confirmation did not match the chunk (the error says how); the chunk is kept
- dropped: archived and dropped, or dropped by an action=drop policy
- confirmed: archived, but the chunk was already gone when the confirmation came
"""

from dataclasses import dataclass
from datetime import datetime

from apps.warehouse.models import ChunkArchival
from apps.warehouse.services.hooks import chunk_jobs
from apps.warehouse.types import ChunkJob

STATES = ("requested", "archiving", "failed", "archived", "refused", "dropped", "confirmed")
FAILED_STATES = ("failed", "refused")
_WORKER_STATES = {"pending": "archiving", "processing": "archiving", "failed": "failed", "completed": "archived"}


@dataclass(frozen=True)
class RetentionJob:
    table_schema: str
    table_name: str
    chunk_schema: str
    chunk_name: str
    range_start: datetime
    range_end: datetime
    state: str
    attempts: int
    last_error: str
    event_id: str | None
    expected_row_count: int | None
    requested_at: datetime | None
    confirmed_at: datetime | None
    dropped_at: datetime | None
    updated_at: datetime


def _job_state(entry: ChunkArchival, job: ChunkJob | None) -> str:
    if entry.status != ChunkArchival.Status.REQUESTED:
        return entry.status
    return _WORKER_STATES.get(job.status, "archiving") if job is not None else "requested"


def retention_jobs_list(
    *, table_schema: str, table_names: list[str] | None = None, state: str | None = None
) -> list[RetentionJob]:
    """Every chunk retention has acted on (optionally of some tables, in one
    state), by table then time."""
    entries = ChunkArchival.objects.filter(table_schema=table_schema)
    if table_names is not None:
        entries = entries.filter(table_name__in=table_names)
    jobs = chunk_jobs(table_schema=table_schema, table_names=table_names)
    result = []
    for entry in entries.order_by("table_name", "range_start", "chunk_name"):
        job = jobs.get((str(entry.event_id), entry.chunk_schema, entry.chunk_name)) if entry.event_id else None
        job_state = _job_state(entry, job)
        if state is not None and job_state != state:
            continue
        errors = [text for text in (entry.error, job.error if job else "") if text]
        result.append(
            RetentionJob(
                table_schema=entry.table_schema,
                table_name=entry.table_name,
                chunk_schema=entry.chunk_schema,
                chunk_name=entry.chunk_name,
                range_start=entry.range_start,
                range_end=entry.range_end,
                state=job_state,
                attempts=job.attempts if job else 0,
                # The ledger's error (a refused confirmation) is the later word when both exist.
                last_error=errors[0] if errors else "",
                event_id=str(entry.event_id) if entry.event_id else None,
                expected_row_count=entry.expected_row_count,
                requested_at=entry.requested_at,
                confirmed_at=entry.confirmed_at,
                dropped_at=entry.dropped_at,
                updated_at=max(entry.updated_at, job.updated_at) if job else entry.updated_at,
            )
        )
    return result


def retention_jobs_summary(*, table_schema: str, table_names: list[str]) -> dict[str, dict]:
    """Per table: how many chunks are in each state, and the failed ones."""
    summary = {name: {"states": dict.fromkeys(STATES, 0), "failed_chunks": []} for name in table_names}
    for job in retention_jobs_list(table_schema=table_schema, table_names=table_names):
        table = summary[job.table_name]
        table["states"][job.state] += 1
        if job.state in FAILED_STATES:
            table["failed_chunks"].append(job)
    return summary
