"""Archiving one chunk: extract (streamed), write Parquet to the lakehouse,
verify by reading it back, confirm on `archival.confirmations`.

Job status is written in transactions of its own (`_autonomous`: a short
thread with its own connection, autocommit), not in the bus handler's
transaction: a failed attempt must leave its attempt count and error behind
while the handler's transaction rolls back, and COMPLETED must be committed
before the confirmation is published, so a worker that dies between the two
publishes it on redelivery instead of losing it."""

import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from psycopg import sql

from apps.archival.metrics import (
    ARCHIVAL_BYTES,
    ARCHIVAL_CHUNKS,
    ARCHIVAL_DURATION,
    ARCHIVAL_FAILURES,
    ARCHIVAL_ROWS,
)
from apps.archival.models import ArchivalJob
from apps.archival.services.parquet import (
    ArchiveColumn,
    KeyChecksum,
    archive_columns,
    arrow_schema,
    key_columns,
    rows_to_table,
)
from apps.core.errors import AppError
from apps.core.lakehouse import Lakehouse, lakehouse_from_settings
from apps.messaging.services import publish_message
from apps.warehouse.selectors import hypertable_get, table_columns
from apps.warehouse.types import (
    ARCHIVAL_CONFIRMATIONS_TOPIC,
    ARCHIVAL_FAILURES_TOPIC,
    ArchivalConfirmation,
    ArchivalEvent,
    ArchivalFailure,
    ChunkRef,
)

logger = logging.getLogger(__name__)
tracer = trace.get_tracer("apps.archival")
T = TypeVar("T")


class ArchivalError(AppError):
    code = "archival_failed"


class ArchivalVerifyError(ArchivalError):
    code = "archival_verify_failed"


@dataclass(frozen=True)
class ArchiveResult:
    files: list[str]
    row_count: int
    checksum: str
    bytes: int


def batch_rows() -> int:
    return settings.ARCHIVAL_BATCH_ROWS


def max_attempts() -> int:
    return settings.ARCHIVAL_MAX_ATTEMPTS or settings.MESSAGING_MAX_ATTEMPTS


def _autonomous(func: Callable[[], T]) -> T:
    """Run `func` on a connection of its own (a fresh thread), committed at once,
    whatever happens to the caller's transaction."""

    def run() -> T:
        try:
            return func()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def _job_update(pk: int, **fields) -> ArchivalJob:
    def update() -> ArchivalJob:
        ArchivalJob.objects.filter(pk=pk).update(updated_at=timezone.now(), **fields)
        return ArchivalJob.objects.get(pk=pk)

    return _autonomous(update)


def archive_path(*, table_name: str, chunk_name: str, range_start) -> str:
    """Hive-style partitions of the chunk's start day (UTC); one file per chunk,
    named after it, so a re-run overwrites instead of adding a file. The
    leading underscores of `_hyper_1_2_chunk` go: Spark, DuckDB and Arrow
    datasets skip files whose names start with `_` or `.`.

    Partition values are written without zero padding (`month=1`, not
    `month=01`): DuckDB and Spark infer a folder's type from its text, and
    `01` is read as a string, so `WHERE month = 1` found nothing. Restore
    still reads the zero-padded folders written before."""
    day = range_start.astimezone(UTC)
    return f"{table_name}/year={day.year}/month={day.month}/day={day.day}/{chunk_name.lstrip('_.')}.parquet"


def job_ensure(
    *, event: ArchivalEvent, chunk: ChunkRef, correlation_id: str = "", tenant: str | None = None
) -> ArchivalJob:
    """The job of (event, chunk), created PENDING (committed) on first sight."""

    def ensure() -> ArchivalJob:
        job, _ = ArchivalJob.objects.get_or_create(
            event_id=event.event_id,
            chunk_schema=chunk.chunk_schema,
            chunk_name=chunk.chunk_name,
            defaults={
                "table_schema": event.table_schema,
                "table_name": event.table_name,
                "range_start": chunk.range_start,
                "range_end": chunk.range_end,
                "expected_row_count": chunk.row_count,
                "lakehouse_target": event.lakehouse_target,
                "tenant": tenant,
                "correlation_id": correlation_id or "",
            },
        )
        return job

    return _autonomous(ensure)


def chunk_archive(*, job: ArchivalJob) -> ArchivalJob:
    """Archive the job's chunk and confirm it; returns the job, COMPLETED.

    Idempotent: a COMPLETED job (or another event's COMPLETED job for the same
    chunk) is confirmed again without rewriting anything. A failure records
    the attempt and the error (FAILED once `ARCHIVAL_MAX_ATTEMPTS` attempts
    were made, PENDING before) and raises, so the bus retries."""
    job = _autonomous(lambda: ArchivalJob.objects.get(pk=job.pk))
    attributes = {
        "correlation_id": job.correlation_id,
        "archival.event_id": str(job.event_id),
        "archival.table": f"{job.table_schema}.{job.table_name}",
        "archival.chunk": f"{job.chunk_schema}.{job.chunk_name}",
    }
    with tracer.start_as_current_span("archival.chunk", attributes=attributes) as span:
        if job.status == ArchivalJob.Status.COMPLETED:
            if job.confirmed_at is None:
                _confirm(job, attributes)
            return job
        earlier = _autonomous(
            lambda: (
                ArchivalJob.objects.filter(
                    chunk_schema=job.chunk_schema,
                    chunk_name=job.chunk_name,
                    table_schema=job.table_schema,
                    table_name=job.table_name,
                    status=ArchivalJob.Status.COMPLETED,
                )
                .exclude(pk=job.pk)
                .order_by("completed_at")
                .first()
            )
        )
        if earlier is not None:
            job = _job_update(
                job.pk,
                status=ArchivalJob.Status.COMPLETED,
                files=earlier.files,
                row_count=earlier.row_count,
                checksum=earlier.checksum,
                bytes=earlier.bytes,
                error="",
                completed_at=timezone.now(),
            )
            span.set_attribute("archival.outcome", "reconfirmed")
            ARCHIVAL_CHUNKS.labels(outcome="reconfirmed").inc()
            _confirm(job, attributes)
            return job

        started = time.monotonic()
        job = _job_update(
            job.pk, status=ArchivalJob.Status.PROCESSING, attempts=F("attempts") + 1, started_at=timezone.now()
        )
        try:
            result = _archive(job, attributes)
        except Exception as exc:
            failed = job.attempts >= max_attempts()
            job = _job_update(
                job.pk,
                status=ArchivalJob.Status.FAILED if failed else ArchivalJob.Status.PENDING,
                error=f"{type(exc).__name__}: {exc}"[:4000],
            )
            ARCHIVAL_FAILURES.inc()
            ARCHIVAL_CHUNKS.labels(outcome="failed").inc()
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, str(exc)[:200]))
            logger.warning(
                "archiving %s failed (attempt %d of %d): %s", job.chunk_name, job.attempts, max_attempts(), exc
            )
            if failed:
                _failure_publish(job)
            raise
        job = _job_update(
            job.pk,
            status=ArchivalJob.Status.COMPLETED,
            files=result.files,
            row_count=result.row_count,
            checksum=result.checksum,
            bytes=result.bytes,
            error="",
            completed_at=timezone.now(),
        )
        ARCHIVAL_CHUNKS.labels(outcome="archived").inc()
        ARCHIVAL_ROWS.inc(result.row_count)
        ARCHIVAL_BYTES.inc(result.bytes)
        span.set_attribute("archival.outcome", "archived")
        span.set_attribute("archival.rows", result.row_count)
        _confirm(job, attributes)
        ARCHIVAL_DURATION.observe(time.monotonic() - started)
        return job


def _archive(job: ArchivalJob, attributes: dict) -> ArchiveResult:
    info = hypertable_get(table=job.table_name, schema=job.table_schema)
    if info is None:
        raise ArchivalError(f"{job.table_schema}.{job.table_name} is not a hypertable.")
    _chunk_check(job)
    columns_info = table_columns(table=job.table_name, schema=job.table_schema)
    decimals = [c.name for c in columns_info if c.data_type == "decimal"]
    columns = archive_columns(columns_info, decimals_as_text=_decimals_out_of_range(job, decimals))
    schema = arrow_schema(columns)
    keys = key_columns(columns, time_column=info.time_column)
    path = archive_path(table_name=job.table_name, chunk_name=job.chunk_name, range_start=job.range_start)
    lakehouse = lakehouse_from_settings(job.lakehouse_target)

    fd, spool = tempfile.mkstemp(prefix="ae-archival-", suffix=".parquet")
    os.close(fd)
    try:
        with tracer.start_as_current_span("archival.extract", attributes=attributes) as span:
            extracted = KeyChecksum(keys)
            with pq.ParquetWriter(spool, schema, compression="zstd") as writer:
                for rows in _chunk_batches(job, columns, time_column=info.time_column):
                    table = rows_to_table(rows, columns, schema)
                    extracted.update(table)
                    writer.write_table(table, row_group_size=batch_rows())
            span.set_attribute("archival.rows", extracted.rows)
        with open(spool, "rb") as handle:
            data = handle.read()  # the Lakehouse API takes bytes: the compressed file, once
    finally:
        os.unlink(spool)
    with tracer.start_as_current_span("archival.write", attributes={**attributes, "archival.path": path}) as span:
        size = lakehouse.write_data(path, data, overwrite=True)
        span.set_attribute("archival.bytes", size)
    del data
    with tracer.start_as_current_span("archival.verify", attributes={**attributes, "archival.path": path}):
        _verify(lakehouse, path, schema=schema, keys=keys, extracted=extracted)
    return ArchiveResult(files=[path], row_count=extracted.rows, checksum=extracted.hexdigest(), bytes=size)


def _chunk_check(job: ArchivalJob) -> None:
    """The chunk exists and belongs to the job's hypertable (an event names no
    other table than its own)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT 1 FROM timescaledb_information.chunks
            WHERE hypertable_schema = %s AND hypertable_name = %s AND chunk_schema = %s AND chunk_name = %s
            """,
            [job.table_schema, job.table_name, job.chunk_schema, job.chunk_name],
        )
        if cursor.fetchone() is None:
            raise ArchivalError(
                f"Chunk {job.chunk_schema}.{job.chunk_name} of {job.table_schema}.{job.table_name} does not exist."
            )


def _decimals_out_of_range(job: ArchivalJob, decimals: list[str]) -> set[str]:
    """Numeric columns of the chunk with a value decimal128(38, 10) cannot hold exactly."""
    if not decimals:
        return set()
    checks = [
        sql.SQL("coalesce(bool_and({c} IS NULL OR ({c} = round({c}, 10) AND abs({c}) < 1e28)), true)").format(
            c=sql.Identifier(name)
        )
        for name in decimals
    ]
    query = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(checks), sql.Identifier(job.chunk_schema, job.chunk_name)
    )
    with connection.cursor() as cursor:
        cursor.execute(query)
        fits = cursor.fetchone()
    return {name for name, ok in zip(decimals, fits, strict=True) if not ok}


def _chunk_batches(job: ArchivalJob, columns: list[ArchiveColumn], *, time_column: str) -> Iterator[list[tuple]]:
    """The chunk's rows in time order, `batch_rows()` at a time, from a
    server-side cursor: the chunk is never in memory as a whole."""
    size = batch_rows()
    query = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
        sql.SQL(", ").join(c.select_expr() for c in columns),
        sql.Identifier(job.chunk_schema, job.chunk_name),
        sql.Identifier(time_column),
    )
    with transaction.atomic():  # a server-side cursor lives in a transaction
        connection.ensure_connection()
        with connection.connection.cursor(name=f"ae_archival_{job.pk}", binary=True) as cursor:
            cursor.itersize = size
            cursor.execute(query)
            while rows := cursor.fetchmany(size):
                yield rows


def _verify(lakehouse: Lakehouse, path: str, *, schema: pa.Schema, keys: list[str], extracted: KeyChecksum) -> None:
    """Read the file back from the lakehouse: same schema, same row count, same
    checksum of the key columns as what was extracted."""
    parquet = pq.ParquetFile(pa.BufferReader(lakehouse.read_data(path)))
    if not parquet.schema_arrow.equals(schema):
        raise ArchivalVerifyError(f"{path}: the schema read back differs from the one written.")
    if parquet.metadata.num_rows != extracted.rows:
        raise ArchivalVerifyError(f"{path}: {parquet.metadata.num_rows} rows read back, {extracted.rows} extracted.")
    check = KeyChecksum(keys)
    for batch in parquet.iter_batches(batch_size=batch_rows(), columns=keys):
        check.update(batch)
    if check.rows != extracted.rows or check.hexdigest() != extracted.hexdigest():
        raise ArchivalVerifyError(f"{path}: the key-column checksum read back differs from the extracted one.")


def _failure_publish(job: ArchivalJob) -> None:
    """Tell the database side that this chunk's attempts are spent, so its
    ledger says failed (with the error) instead of requested for ever. Sent at
    once, not on commit: the handler's transaction is about to roll back."""
    payload = ArchivalFailure(
        event_id=job.event_id,
        table_schema=job.table_schema,
        table_name=job.table_name,
        chunk_schema=job.chunk_schema,
        chunk_name=job.chunk_name,
        error=job.error,
        attempts=job.attempts,
        failed_at=timezone.now(),
    )
    try:
        publish_message(ARCHIVAL_FAILURES_TOPIC, payload, tenant=job.tenant, correlation_id=job.correlation_id or None)
    except Exception:  # the job row keeps the failure; the original error is the one to raise
        logger.exception("could not publish the archival failure of %s", job.chunk_name)


def _confirm(job: ArchivalJob, attributes: dict) -> None:
    """Publish the confirmation of a COMPLETED job (committed before this), then
    note that it was sent."""
    with tracer.start_as_current_span("archival.confirm", attributes=attributes):
        now = timezone.now()
        payload = ArchivalConfirmation(
            event_id=job.event_id,
            table_schema=job.table_schema,
            table_name=job.table_name,
            chunk_schema=job.chunk_schema,
            chunk_name=job.chunk_name,
            range_start=job.range_start,
            range_end=job.range_end,
            verified_row_count=job.row_count or 0,
            files=job.files,
            checksum=job.checksum,
            confirmed_at=now,
        )
        publish_message(
            ARCHIVAL_CONFIRMATIONS_TOPIC, payload, tenant=job.tenant, correlation_id=job.correlation_id or None
        )
        _job_update(job.pk, confirmed_at=now)
