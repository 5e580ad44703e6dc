"""Applies retention policies: find chunks wholly older than a policy allows,
ask for them to be archived (one ArchivalEvent per batch on `archival.events`)
or drop them, and keep the ledger (ChunkArchival) that makes every step
idempotent."""

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.errors import AppError, NotFound
from apps.messaging.services import publish_on_commit
from apps.warehouse.models import ChunkArchival, RetentionPolicy
from apps.warehouse.retention.chunks import (
    ChunkInfo,
    chunk_drop,
    chunk_dropped_tell,
    chunk_lock,
    chunk_row_count,
    chunks_list,
    table_lock,
)
from apps.warehouse.selectors import hypertable_get
from apps.warehouse.services.hooks import table_owner
from apps.warehouse.types import (
    ARCHIVAL_EVENTS_TOPIC,
    ArchivalEvent,
    ChunkRef,
)

logger = logging.getLogger(__name__)


# A chunk in one of these states is on its way out (or gone): never request it again.
_SETTLED = (ChunkArchival.Status.REQUESTED, ChunkArchival.Status.CONFIRMED, ChunkArchival.Status.DROPPED)


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
            table_lock(table_schema=table_schema, table_name=table_name)
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
        chunk_lock(chunk_schema=chunk.chunk_schema, chunk_name=chunk.chunk_name)
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
        chunk_dropped_tell(table_schema=table_schema, table_name=table_name, ref=ref)
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
