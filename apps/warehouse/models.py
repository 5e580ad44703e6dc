"""Retention: which hypertables keep how much, and the ledger of what was
asked to be archived and what was dropped (so scans and confirmations are
idempotent and the state is reportable)."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from apps.core.model_mixins import TimestampedModel


def keep_for_validate(value: timedelta) -> None:
    if value is None or value <= timedelta(0):
        raise ValidationError("keep_for must be a positive duration.")


class RetentionPolicy(TimestampedModel):
    """How long one hypertable keeps its chunks, and what happens after."""

    class Action(models.TextChoices):
        ARCHIVE = "archive", "Archive to the lakehouse, then drop"
        DROP = "drop", "Drop without archiving"

    table_schema = models.CharField(max_length=63, default=settings.ANALYTICS_SCHEMA)
    table_name = models.CharField(max_length=63)
    keep_for = models.DurationField(validators=[keep_for_validate])
    action = models.CharField(max_length=10, choices=Action.choices, default=Action.ARCHIVE)
    lakehouse_target = models.CharField(max_length=100, default="default")
    active = models.BooleanField(default=True)
    batch_size = models.PositiveIntegerField(default=10, help_text="Chunks per archival event.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["table_schema", "table_name"], name="retention_policy_table_unique"),
            models.CheckConstraint(condition=models.Q(batch_size__gte=1), name="retention_policy_batch_size_positive"),
        ]
        ordering = ["table_schema", "table_name"]
        verbose_name_plural = "retention policies"

    def __str__(self) -> str:
        return f"{self.table_schema}.{self.table_name}: {self.action} after {self.keep_for}"


class ChunkArchival(TimestampedModel):
    """One chunk's way out: requested (an ArchivalEvent was published),
    dropped (confirmed with a matching row count, then dropped; or dropped by
    an action=drop policy), refused (a confirmation did not match: chunk kept),
    confirmed (confirmed, but the chunk was already gone), failed (the worker
    gave up on it: `error` says why; chunk kept, requested again by the next
    scan)."""

    class Status(models.TextChoices):
        REQUESTED = "requested"
        CONFIRMED = "confirmed"
        DROPPED = "dropped"
        REFUSED = "refused"
        FAILED = "failed"

    policy = models.ForeignKey(RetentionPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    table_schema = models.CharField(max_length=63)
    table_name = models.CharField(max_length=63)
    chunk_schema = models.CharField(max_length=63)
    chunk_name = models.CharField(max_length=63)
    range_start = models.DateTimeField()
    range_end = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices)
    event_id = models.UUIDField(null=True, blank=True, db_index=True)
    lakehouse_target = models.CharField(max_length=100, blank=True)
    expected_row_count = models.BigIntegerField(null=True, blank=True)
    verified_row_count = models.BigIntegerField(null=True, blank=True)
    files = models.JSONField(default=list, blank=True)
    checksum = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    dropped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chunk_schema", "chunk_name"], name="chunk_archival_chunk_unique"),
        ]
        indexes = [models.Index(fields=["table_schema", "table_name", "status"], name="chunk_archival_table_status")]
        ordering = ["table_schema", "table_name", "range_start"]

    def __str__(self) -> str:
        return f"{self.chunk_schema}.{self.chunk_name} ({self.status})"
