"""Retention: find chunks wholly older than a policy allows, ask for them to be
archived (one ArchivalEvent per batch on `archival.events`) or drop them, and
drop an archived chunk only on a confirmation that matches it exactly.

The ledger (ChunkArchival) makes every step idempotent: a chunk already
requested, confirmed or dropped is never requested again; a refused chunk (its
confirmation did not match) is requested again by the next scan, since its
data is still here and still too old.
"""

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql

from apps.core.errors import AppError, NotFound
from apps.core.transactions import after_commit
from apps.messaging.bus import publish_on_commit
from apps.warehouse.alerts import alert_raise
from apps.warehouse.archival_events import (
    ARCHIVAL_EVENTS_TOPIC,
    ArchivalConfirmation,
    ArchivalEvent,
    ArchivalFailure,
    ChunkRef,
)
from apps.warehouse.hooks import ChunkDropped, chunk_dropped_listeners, table_owner
from apps.warehouse.models import ChunkArchival, RetentionPolicy
from apps.warehouse.retention_jobs import retention_jobs_summary
from apps.warehouse.selectors import hypertable_get

logger = logging.getLogger(__name__)

# A chunk in one of these states is on its way out (or gone): never request it again.
_SETTLED = (ChunkArchival.Status.REQUESTED, ChunkArchival.Status.CONFIRMED, ChunkArchival.Status.DROPPED)


@dataclass(frozen=True)
class ChunkInfo:
    chunk_schema: str
    chunk_name: str
    range_start: datetime
    range_end: datetime


# -- reads ------------------------------------------------------------------


def chunks_list(
    *,
    table_name: str,
    table_schema: str = settings.ANALYTICS_SCHEMA,
    older_than: datetime | None = None,
    range_start: datetime | None = None,
    range_end: datetime | None = None,
) -> list[ChunkInfo]:
    """Chunks of a hypertable in time order; with bounds, only the chunks that
    lie WHOLLY inside them (range_end <= older_than, range_start >= range_start,
    range_end <= range_end). Chunks of integer-time hypertables have no
    timestamp range and are never listed."""
    query = """
        SELECT chunk_schema, chunk_name, range_start, range_end
        FROM timescaledb_information.chunks
        WHERE hypertable_schema = %s AND hypertable_name = %s
          AND range_start IS NOT NULL AND range_end IS NOT NULL
    """
    params: list = [table_schema, table_name]
    if older_than is not None:
        query += " AND range_end <= %s"
        params.append(older_than)
    if range_start is not None:
        query += " AND range_start >= %s"
        params.append(range_start)
    if range_end is not None:
        query += " AND range_end <= %s"
        params.append(range_end)
    query += " ORDER BY range_start, chunk_name"
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return [ChunkInfo(*row) for row in cursor.fetchall()]


def chunk_exists(*, chunk_schema: str, chunk_name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM timescaledb_information.chunks WHERE chunk_schema = %s AND chunk_name = %s",
            [chunk_schema, chunk_name],
        )
        return cursor.fetchone() is not None


def chunk_row_count(*, chunk_schema: str, chunk_name: str) -> int:
    """Exact current row count of one chunk (count(*) on the chunk table)."""
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT count(*) FROM {}")
            .format(sql.Identifier(chunk_schema, chunk_name))
            .as_string(cursor.connection)
        )
        return cursor.fetchone()[0]


def chunk_sizes(*, table_name: str, table_schema: str = settings.ANALYTICS_SCHEMA) -> dict[tuple[str, str], int]:
    """Total bytes (table + indexes + toast) per chunk, from chunks_detailed_size."""
    relation = sql.Identifier(table_schema, table_name)
    with connection.cursor() as cursor:
        query = sql.SQL("SELECT chunk_schema, chunk_name, total_bytes FROM chunks_detailed_size({}::regclass)")
        cursor.execute(query.format(sql.Literal(relation.as_string(cursor.connection))).as_string(cursor.connection))
        return {(schema, name): total or 0 for schema, name, total in cursor.fetchall()}


def hypertables_list(*, table_schema: str = settings.ANALYTICS_SCHEMA) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables"
            " WHERE hypertable_schema = %s ORDER BY hypertable_name",
            [table_schema],
        )
        return [row[0] for row in cursor.fetchall()]


# -- writes -------------------------------------------------------------------


def _chunk_lock(*, chunk_schema: str, chunk_name: str) -> None:
    # Nothing may write to the chunk between counting its rows and dropping it.
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE")
            .format(sql.Identifier(chunk_schema, chunk_name))
            .as_string(cursor.connection)
        )


def chunk_drop(*, chunk_schema: str, chunk_name: str) -> None:
    """Drop exactly one chunk. TimescaleDB (2.x) supports DROP TABLE on a chunk:
    its catalog entry goes with it. drop_chunks() would drop by range and, on a
    hypertable with a space dimension, take the chunk's neighbours too."""
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("DROP TABLE {}").format(sql.Identifier(chunk_schema, chunk_name)).as_string(cursor.connection)
        )


def _chunk_dropped_tell(*, table_schema: str, table_name: str, ref: ChunkRef) -> None:
    """After the drop commits, tell the listeners (the calculation engine drops
    the cached results over the range: they were computed with its rows)."""
    dropped = ChunkDropped(table_schema, table_name, ref.range_start, ref.range_end)
    for listener in chunk_dropped_listeners():
        after_commit(listener, dropped)


def _table_lock(*, table_schema: str, table_name: str) -> None:
    # Serializes scans of one table (beat and a manual trigger at once).
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"retention:{table_schema}.{table_name}"])


@dataclass
class RetentionResult:
    table_schema: str
    table_name: str
    action: str
    cutoff: datetime | None
    events: list[ArchivalEvent] = field(default_factory=list)
    dropped: list[ChunkRef] = field(default_factory=list)
    skipped: int = 0  # old enough, but already requested/confirmed/dropped

    @property
    def requested(self) -> list[ChunkRef]:
        return [chunk for event in self.events for chunk in event.chunks]


class RetentionManager:
    """Applies retention policies. `now` is injectable for tests."""

    def __init__(self, *, now: datetime | None = None) -> None:
        self.now = now or timezone.now()

    def scan(self) -> list[RetentionResult]:
        """Every active policy in turn; one table's failure does not stop the others."""
        results = []
        for policy in RetentionPolicy.objects.filter(active=True):
            try:
                results.append(self.policy_apply(policy))
            except Exception:
                logger.exception("Retention of %s.%s failed", policy.table_schema, policy.table_name)
        return results

    def policy_apply(
        self,
        policy: RetentionPolicy,
        *,
        older_than: datetime | None = None,
        range_start: datetime | None = None,
        range_end: datetime | None = None,
        action: str | None = None,
    ) -> RetentionResult:
        cutoff = older_than if older_than is not None else self.now - policy.keep_for
        return self.run(
            table_schema=policy.table_schema,
            table_name=policy.table_name,
            action=action or policy.action,
            older_than=cutoff,
            range_start=range_start,
            range_end=range_end,
            lakehouse_target=policy.lakehouse_target,
            batch_size=policy.batch_size,
            policy=policy,
        )

    def trigger(
        self,
        *,
        table_name: str,
        table_schema: str = settings.ANALYTICS_SCHEMA,
        older_than: datetime | None = None,
        range_start: datetime | None = None,
        range_end: datetime | None = None,
    ) -> RetentionResult:
        """A manual archival run for one table: the policy's cutoff unless
        `older_than` or a range is given. Always archives (never a bare drop)."""
        if hypertable_get(table=table_name, schema=table_schema) is None:
            raise NotFound(f"{table_schema}.{table_name} is not a hypertable.", details={"table_name": table_name})
        if range_start is not None and range_end is not None and range_start >= range_end:
            raise AppError("range_start must be before range_end.", details={"range_start": str(range_start)})
        policy = RetentionPolicy.objects.filter(table_schema=table_schema, table_name=table_name).first()
        if policy is not None:
            explicit = older_than is not None or range_end is not None
            return self.policy_apply(
                policy,
                older_than=older_than if explicit else None,
                range_start=range_start,
                range_end=range_end,
                action=RetentionPolicy.Action.ARCHIVE,
            )
        if older_than is None and range_end is None:
            raise AppError(
                f"{table_schema}.{table_name} has no retention policy: give older_than or range_end.",
                details={"table_name": table_name},
            )
        return self.run(
            table_schema=table_schema,
            table_name=table_name,
            action=RetentionPolicy.Action.ARCHIVE,
            older_than=older_than,
            range_start=range_start,
            range_end=range_end,
            lakehouse_target="default",
            batch_size=10,
            policy=None,
        )

    def run(
        self,
        *,
        table_schema: str,
        table_name: str,
        action: str,
        older_than: datetime | None,
        range_start: datetime | None,
        range_end: datetime | None,
        lakehouse_target: str,
        batch_size: int,
        policy: RetentionPolicy | None,
    ) -> RetentionResult:
        result = RetentionResult(table_schema=table_schema, table_name=table_name, action=action, cutoff=older_than)
        with transaction.atomic():
            _table_lock(table_schema=table_schema, table_name=table_name)
            chunks = chunks_list(
                table_schema=table_schema,
                table_name=table_name,
                older_than=older_than,
                range_start=range_start,
                range_end=range_end,
            )
            settled = set(
                ChunkArchival.objects.filter(
                    chunk_schema__in={c.chunk_schema for c in chunks},
                    chunk_name__in=[c.chunk_name for c in chunks],
                    status__in=_SETTLED,
                ).values_list("chunk_schema", "chunk_name")
            )
            todo = [c for c in chunks if (c.chunk_schema, c.chunk_name) not in settled]
            result.skipped = len(chunks) - len(todo)
            if action == RetentionPolicy.Action.DROP:
                for chunk in todo:
                    result.dropped.append(self._drop(chunk, table_schema, table_name, policy))
            else:
                for start in range(0, len(todo), max(batch_size, 1)):
                    batch = todo[start : start + max(batch_size, 1)]
                    result.events.append(self._request(batch, table_schema, table_name, lakehouse_target, policy))
        return result

    def _ref(self, chunk: ChunkInfo) -> ChunkRef:
        count = chunk_row_count(chunk_schema=chunk.chunk_schema, chunk_name=chunk.chunk_name)
        return ChunkRef(
            chunk_schema=chunk.chunk_schema,
            chunk_name=chunk.chunk_name,
            range_start=chunk.range_start,
            range_end=chunk.range_end,
            row_count=count,
        )

    def _request(
        self,
        batch: list[ChunkInfo],
        table_schema: str,
        table_name: str,
        lakehouse_target: str,
        policy: RetentionPolicy | None,
    ) -> ArchivalEvent:
        now = timezone.now()
        event = ArchivalEvent(
            event_id=uuid.uuid4(),
            table_schema=table_schema,
            table_name=table_name,
            chunks=[self._ref(chunk) for chunk in batch],
            requested_at=now,
            lakehouse_target=lakehouse_target,
            policy_id=policy.pk if policy else None,
        )
        for ref in event.chunks:
            _ledger_record(
                ref,
                policy=policy,
                table=(table_schema, table_name),
                status=ChunkArchival.Status.REQUESTED,
                event_id=event.event_id,
                lakehouse_target=lakehouse_target,
                verified_row_count=None,
                files=[],
                checksum="",
                error="",
                requested_at=now,
                confirmed_at=None,
                dropped_at=None,
            )
        # The table's client is the event's tenant: a failure parks it in that client's dead letters.
        owner = table_owner(table_schema=table_schema, table_name=table_name)
        publish_on_commit(ARCHIVAL_EVENTS_TOPIC, event, tenant=owner.client_code if owner else None)
        logger.info(
            "Requested archival of %d chunk(s) of %s.%s (event %s)",
            len(event.chunks),
            table_schema,
            table_name,
            event.event_id,
        )
        return event

    def _drop(self, chunk: ChunkInfo, table_schema: str, table_name: str, policy: RetentionPolicy | None) -> ChunkRef:
        _chunk_lock(chunk_schema=chunk.chunk_schema, chunk_name=chunk.chunk_name)
        ref = self._ref(chunk)
        chunk_drop(chunk_schema=chunk.chunk_schema, chunk_name=chunk.chunk_name)
        _ledger_record(
            ref,
            policy=policy,
            table=(table_schema, table_name),
            status=ChunkArchival.Status.DROPPED,
            event_id=None,
            dropped_at=timezone.now(),
        )
        _chunk_dropped_tell(table_schema=table_schema, table_name=table_name, ref=ref)
        logger.info("Dropped chunk %s.%s of %s.%s (%d rows, no archive)", ref.chunk_schema, ref.chunk_name,
                    table_schema, table_name, ref.row_count)  # fmt: skip
        return ref


def _ledger_record(ref: ChunkRef, *, policy, table: tuple[str, str], status: str, **fields) -> ChunkArchival:
    """Create or update the ledger row of one chunk."""
    entry, _ = ChunkArchival.objects.update_or_create(
        chunk_schema=ref.chunk_schema,
        chunk_name=ref.chunk_name,
        defaults={
            "policy": policy,
            "table_schema": table[0],
            "table_name": table[1],
            "range_start": ref.range_start,
            "range_end": ref.range_end,
            "expected_row_count": ref.row_count,
            "status": status,
            **fields,
        },
    )
    return entry


# -- confirmations ------------------------------------------------------------


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
            _chunk_lock(chunk_schema=c.chunk_schema, chunk_name=c.chunk_name)
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
        _chunk_dropped_tell(
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


def retention_status(*, table_schema: str = settings.ANALYTICS_SCHEMA, table_name: str | None = None) -> list[dict]:
    """Per hypertable of the schema: its policy, its chunks (range, bytes, exact
    row count, archival state from the ledger) and the chunks already dropped."""
    tables = hypertables_list(table_schema=table_schema)
    if table_name is not None:
        if table_name not in tables:
            raise NotFound(f"{table_schema}.{table_name} is not a hypertable.", details={"table_name": table_name})
        tables = [table_name]
    policies = {p.table_name: p for p in RetentionPolicy.objects.filter(table_schema=table_schema)}
    ledger: dict[str, dict[tuple[str, str], ChunkArchival]] = {}
    for entry in ChunkArchival.objects.filter(table_schema=table_schema, table_name__in=tables):
        ledger.setdefault(entry.table_name, {})[(entry.chunk_schema, entry.chunk_name)] = entry
    summary = retention_jobs_summary(table_schema=table_schema, table_names=tables)
    body = []
    for table in tables:
        sizes = chunk_sizes(table_schema=table_schema, table_name=table)
        entries = ledger.get(table, {})
        chunks = []
        for chunk in chunks_list(table_schema=table_schema, table_name=table):
            key = (chunk.chunk_schema, chunk.chunk_name)
            entry = entries.pop(key, None)
            chunks.append(
                {
                    "chunk_schema": chunk.chunk_schema,
                    "chunk_name": chunk.chunk_name,
                    "range_start": chunk.range_start,
                    "range_end": chunk.range_end,
                    "total_bytes": sizes.get(key, 0),
                    "row_count": chunk_row_count(chunk_schema=chunk.chunk_schema, chunk_name=chunk.chunk_name),
                    "archival": _ledger_dict(entry) if entry else None,
                }
            )
        gone = sorted(entries.values(), key=lambda e: e.range_start)
        policy = policies.get(table)
        body.append(
            {
                "table_schema": table_schema,
                "table_name": table,
                "policy": None
                if policy is None
                else {
                    "id": policy.pk,
                    "keep_for": policy.keep_for,
                    "action": policy.action,
                    "lakehouse_target": policy.lakehouse_target,
                    "active": policy.active,
                    "cutoff": timezone.now() - policy.keep_for,
                },
                "chunks": chunks,
                "removed_chunks": [
                    {
                        "chunk_schema": e.chunk_schema,
                        "chunk_name": e.chunk_name,
                        "range_start": e.range_start,
                        "range_end": e.range_end,
                        "archival": _ledger_dict(e),
                    }
                    for e in gone
                ],
                "states": summary[table]["states"],
                "failed_chunks": summary[table]["failed_chunks"],
            }
        )
    return body


def _ledger_dict(entry: ChunkArchival) -> dict:
    return {
        "status": entry.status,
        "event_id": entry.event_id,
        "expected_row_count": entry.expected_row_count,
        "verified_row_count": entry.verified_row_count,
        "files": entry.files,
        "error": entry.error,
        "requested_at": entry.requested_at,
        "confirmed_at": entry.confirmed_at,
        "dropped_at": entry.dropped_at,
    }
