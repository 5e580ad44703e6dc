"""Durable status of the archival worker: one `ArchivalJob` per (event, chunk).

The spec keeps this in memory; we keep it in the database so a worker that
dies or restarts loses nothing: the event is redelivered by the bus and the
job row says how far the chunk got."""

from django.db import models

from apps.core.model_mixins import TimestampedModel


class ArchivalJob(TimestampedModel):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    event_id = models.UUIDField()
    table_schema = models.CharField(max_length=63)
    table_name = models.CharField(max_length=63)
    chunk_schema = models.CharField(max_length=63)
    chunk_name = models.CharField(max_length=63)
    range_start = models.DateTimeField()
    range_end = models.DateTimeField()
    expected_row_count = models.BigIntegerField(default=0)  # the chunk's count when the event was sent
    lakehouse_target = models.CharField(max_length=100, default="default")
    tenant = models.CharField(max_length=100, blank=True, null=True)
    correlation_id = models.CharField(max_length=100, blank=True, default="")

    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    files = models.JSONField(default=list, blank=True)
    row_count = models.BigIntegerField(null=True, blank=True)  # verified, read back from the lakehouse
    checksum = models.CharField(max_length=64, blank=True, default="")
    bytes = models.BigIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)  # the confirmation reached the bus

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event_id", "chunk_schema", "chunk_name"], name="archival_job_event_chunk"),
        ]
        indexes = [
            models.Index(fields=["chunk_schema", "chunk_name", "status"], name="archival_job_chunk_status"),
            models.Index(fields=["table_schema", "table_name", "range_start"], name="archival_job_table_range"),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.table_name}/{self.chunk_name} ({self.status})"
