"""One run of an ingestion job (docs/sources.md, "Runs and run history").

    lock the job (session advisory lock, held for the whole run)
    -> mark the run running (committed: the history shows it at once)
    -> extract in batches -> map each batch column by column (record by
       record when a record cannot be mapped, to name why) -> validate -> one binary COPY,
       all inside ONE transaction that also saves the new watermark and the
       run's counts: the rows and the watermark commit together or not at all.

Any failure (the source unreachable or gone mid-stream, a column dropped,
the load refused) rolls that transaction back: nothing is loaded, the
watermark stays, and the run is marked failed with a message (never a stack
trace or a secret). A worker that dies mid-run leaves its run `running`
with the lock free (the session ended): the next request for the job, or the
sweep, marks it failed. Progress goes to the WebSocket channel
`ingestion.<job code>` after every batch; the run row's counts are written
only at the end (with the commit, or with the failure)."""

import logging
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.connectors.services.extraction import records_extract
from apps.connectors.types import Extraction, ExtractRequest, RecordBatch
from apps.core.advisory_locks import advisory_lock_try
from apps.core.errors import AppError
from apps.core.realtime import realtime_publish
from apps.ingestion.mapping import Mapper
from apps.ingestion.models import IngestionJob, IngestionRun
from apps.ingestion.services.jobs import job_entity, source_columns
from apps.ontology.services.data_load import entity_batches_stream_load
from apps.ontology.types.loads import ColumnBatch

logger = logging.getLogger(__name__)

CHANNEL_FAMILY = "ingestion"
WORKER_LOST = "the worker stopped during the run; nothing was loaded"
# A mapped record that cannot be stored goes to the validator as a row with
# this key only: it rejects it at its own index; its errors are the mapping's.
_UNMAPPED = "__unmapped__"


# Progress of a run is published at most this often (and at its start and end).
PROGRESS_INTERVAL_SECONDS = 0.5


def job_lock_key(job_id: int) -> str:
    return f"ingestion.job:{job_id}"


def run_channel(job_code: str) -> str:
    return f"{CHANNEL_FAMILY}.{job_code}"


def _extraction(job: IngestionJob, request: ExtractRequest) -> Extraction:
    return records_extract(client_id=job.client_id, connection_code=job.connection.code, request=request)


def columns_read(job: IngestionJob) -> tuple[str, ...]:
    """The source columns the mapping reads (+ the watermark column); empty
    (all columns) when a field is an expression, which may read any."""
    fields = (job.mapping or {}).get("fields") or {}
    if any(isinstance(spec, dict) and "expression" in spec for spec in fields.values()):
        return ()
    names = [spec["source"] for spec in fields.values() if isinstance(spec, dict) and spec.get("source")]
    if job.incremental_column:
        names.append(job.incremental_column)
    return tuple(dict.fromkeys(str(n) for n in names))


def batch_columns(
    batch: RecordBatch | list[Any], fields: Sequence[str], mark_column: str
) -> tuple[dict[str, Sequence[Any]] | None, int]:
    """A batch of source records by field, and its size. None when it must
    go record by record: a record that is not an object, or one without the
    incremental column (which fails the run, naming it)."""
    if isinstance(batch, RecordBatch):
        if mark_column and mark_column not in batch.fields:
            return None, len(batch.rows)
        return batch.columns(), len(batch.rows)
    if not set(map(type, batch)) <= {dict} or (mark_column and not all(mark_column in r for r in batch)):
        return None, len(batch)
    return {name: [record.get(name) for record in batch] for name in fields}, len(batch)


def watermark_text(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def watermark_value(text: str) -> Any:
    """The stored watermark as the source's type: an integer, a decimal, a
    date or a timestamp when its text is one (watermark_text wrote it), else
    the text itself. The stored text is kept as it is."""
    if not text:
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d*\.\d+(E[-+]?\d+)?", text, flags=re.IGNORECASE):
        return Decimal(text)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return date.fromisoformat(text)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return text


def failure_message(exc: BaseException) -> str:
    """What a run's history says about a failure: the AppError's message, or
    the driver's first line; never a stack trace."""
    if isinstance(exc, AppError):
        return exc.message
    original = getattr(exc, "orig", None) or exc
    first = str(original).strip().splitlines()[0][:300] if str(original).strip() else type(original).__name__
    if type(exc).__module__.startswith("sqlalchemy"):  # the source's driver, part way through the stream
        return f"Reading from the source failed part way, nothing was loaded: {first}"
    return f"The run failed, nothing was loaded: {first}"


def progress_publish(run: IngestionRun, job_code: str, *, read: int, written: int, rejected: int) -> None:
    event = {"run": run.pk, "status": run.status, "rows_read": read, "rows_written": written, "rows_rejected": rejected}
    try:
        realtime_publish(client_id=run.client_id, channel=run_channel(job_code), event=event)
    except Exception as exc:  # progress is best effort: a run never fails for it
        logger.warning("ingestion progress of run %s not published: %s", run.pk, type(exc).__name__)


def run_fail(run: IngestionRun, message: str) -> None:
    run.status = IngestionRun.Status.FAILED
    run.error = message
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "finished_at", "updated_at"])


def _execute(job: IngestionJob, run: IngestionRun) -> None:
    entity = job_entity(job.client_id, job.entity_code)
    discovered_columns = source_columns(job)  # read once: the mapper's check and the retype check
    mapper = Mapper.build(entity=entity, mapping=job.mapping or {}, source_columns=discovered_columns)
    mark_column = job.incremental_column
    columns = columns_read(job)
    discovered = {column.name: column.type for column in discovered_columns or ()}
    request = ExtractRequest(
        source_object=job.source_object,
        source_query=job.source_query,
        columns=columns,
        watermark_column=mark_column,
        watermark_after=watermark_value(job.watermark) if mark_column else None,
        batch_size=job.batch_size,
        # Only the columns the job reads (all of them when it reads all).
        expected_types={n: t for n, t in discovered.items() if not columns or n in columns or n == mark_column},
        as_tuples=True,
    )
    extraction = _extraction(job, request)
    counts = {"read": 0, "unmapped": 0}
    unmapped_errors: dict[int, dict[str, str]] = {}
    last_mark: list[Any] = []
    published = [float("-inf")]  # when progress was last published (the first batch's always is)
    max_reported = settings.AE_MAX_REPORTED_REJECTIONS
    fields = tuple(dict.fromkeys((*mapper.source_fields, *((mark_column,) if mark_column else ()))))

    def mark_advance(marks: Iterable[Any]) -> None:
        # The highest value read, not the last: REST and GraphQL sources do not
        # order by it, and a NULL (sorted last by SQL) must not reset it.
        present = [mark for mark in marks if mark is not None]
        if present:
            top = max(present)
            if not last_mark or top > last_mark[0]:
                last_mark[:] = [top]

    def records_mapped(records: list[Any], start: int) -> Iterator[dict[str, Any]]:
        """Record by record: each mapped row, or a row the validator rejects
        at its index with the mapping's reasons."""
        for index, record in enumerate(records, start):
            if mark_column:
                if mark_column not in record:
                    raise AppError(
                        f"The source no longer has the incremental column {mark_column!r}.",
                        code="schema_changed",
                        details={"column": mark_column},
                    )
                mark_advance((record[mark_column],))
            mapped = mapper.apply(record)
            if mapped.values is None or mapped.errors:
                counts["unmapped"] += 1
                if len(unmapped_errors) < max_reported:
                    unmapped_errors[index] = dict(mapped.errors) or {"": "the record could not be mapped"}
                yield {_UNMAPPED: index}
            else:
                yield mapped.values

    def batches() -> Iterator[ColumnBatch | list[dict[str, Any]]]:
        for batch in extraction.batches:
            start = counts["read"]
            columns, size = batch_columns(batch, fields, mark_column)
            counts["read"] += size
            mapped = mapper.apply_columns(columns, size) if columns is not None else None
            if mapped is not None:
                if mark_column:
                    mark_advance(columns[mark_column])
                yield ColumnBatch(mapped, size)
            else:  # some record cannot be mapped (or is not a record): record by record, to name it
                records = batch.records() if isinstance(batch, RecordBatch) else batch
                yield list(records_mapped(records, start))
            run.rows_read = counts["read"]  # what the history shows should the run fail
            now = time.monotonic()
            if now - published[0] >= PROGRESS_INTERVAL_SECONDS:  # a page needs no more, and each costs a publish
                published[0] = now
                progress_publish(run, job.code, read=counts["read"], written=0, rejected=counts["unmapped"])

    try:
        with transaction.atomic():
            result = entity_batches_stream_load(
                entity=entity, batches=batches(), source="ingestion", user=run.requested_by
            )
            rejections = [
                {"row": entry["row"], "errors": unmapped_errors.get(entry["row"], entry["errors"])}
                for entry in result.rejected
            ]
            if mark_column and last_mark and last_mark[0] is not None:
                job.watermark = watermark_text(last_mark[0])
                IngestionJob.objects.filter(pk=job.pk).update(watermark=job.watermark, updated_at=timezone.now())
            run.status = IngestionRun.Status.SUCCEEDED
            run.rows_read = counts["read"]
            run.rows_written = result.inserted
            run.rows_rejected = result.rejected_count
            run.rejections = rejections
            run.watermark_after = job.watermark
            run.finished_at = timezone.now()
            run.error = ""
            run.save()
    finally:
        extraction.close()
    progress_publish(run, job.code, read=run.rows_read, written=run.rows_written, rejected=run.rows_rejected)


def job_run(*, client_id: int, code: str, run_id: int | None = None) -> IngestionRun | None:
    """Run the job (the Celery task's body). Without `run_id` (beat), a
    `schedule` run is made first, unless one is active already. Returns the
    run, or None when there was nothing to do (another worker holds the job,
    or the run was finished or failed meanwhile)."""
    from apps.ingestion.services.runs import run_create

    job = IngestionJob.objects.filter(client_id=client_id, code=code).select_related("connection").first()
    if job is None:
        return None
    if run_id is None:
        if not job.is_enabled:
            return None
        try:
            run_id = run_create(job=job, user=None, trigger=IngestionRun.Trigger.SCHEDULE).pk
        except AppError as exc:
            logger.info("scheduled run of job %s skipped: %s", code, exc.message)
            return None
    with advisory_lock_try(job_lock_key(job.pk)) as acquired:
        if not acquired:
            return None  # another worker runs this job (a redelivered duplicate): leave it
        run = IngestionRun.objects.filter(pk=run_id, job=job).select_related("requested_by").first()
        if run is None or run.status not in (IngestionRun.Status.QUEUED, IngestionRun.Status.RUNNING):
            return run
        # RUNNING here means a worker died on it and the task came back: nothing of it
        # was committed, so it runs again from the job's watermark.
        run.status = IngestionRun.Status.RUNNING
        run.started_at = timezone.now()
        run.watermark_before = job.watermark
        run.save(update_fields=["status", "started_at", "watermark_before", "updated_at"])
        progress_publish(run, job.code, read=0, written=0, rejected=0)
        try:
            _execute(job, run)
        except Exception as exc:
            message = failure_message(exc)
            if run.rows_read and "nothing was loaded" not in message:
                message = f"{message.rstrip('.')} (after {run.rows_read} rows read; nothing was loaded)."
            logger.warning("ingestion run %s of job %s failed: %s", run.pk, code, message)
            run.rows_written = run.rows_rejected = 0
            run.watermark_after = ""
            run.rejections = []
            run.save(update_fields=["rows_read", "rows_written", "rows_rejected", "watermark_after", "rejections"])
            run_fail(run, message)
            progress_publish(run, job.code, read=run.rows_read, written=0, rejected=run.rows_rejected)
        return run


def run_channel_authorize(request) -> None:
    """`ingestion.<job code>`: a member with manage_sources (checked by the
    family) may follow the runs of one of the client's jobs."""
    parts = request.channel.split(".")
    if len(parts) != 2 or not IngestionJob.objects.filter(client_id=request.client_id, code=parts[1]).exists():
        raise AppError(
            f"There is no ingestion job {'.'.join(parts[1:])!r} in this client to follow.",
            code="unknown_channel",
            details={"channel": request.channel},
        )
