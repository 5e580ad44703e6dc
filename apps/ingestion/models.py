"""Ingestion jobs and their runs: a source object (a table, a query, an
endpoint) of a connection, read in full or incrementally by a watermark
column, mapped onto an entity and loaded through the same validated bulk
load as the API, on a cron schedule or on demand (docs/sources.md)."""

from django.conf import settings
from django.db import models

from apps.core.model_mixins import TenantScopedModel


class IngestionJob(TenantScopedModel):
    code = models.CharField(max_length=100)
    name = models.CharField(max_length=200, blank=True, default="")
    connection = models.ForeignKey("connectors.ConnectionProfile", on_delete=models.PROTECT, related_name="+")
    # One of the two: a discovered object (table, view, endpoint) or a SELECT.
    source_object = models.CharField(max_length=300, blank=True, default="")
    source_query = models.TextField(blank=True, default="")
    entity_code = models.CharField(max_length=100)
    # {"fields": {attribute: {"source": f} | {"expression": e} | {"value": v}}, "value_maps": {...},
    #  "formats": {...}, "scales": {...}, "defaults": {...}, "time_zones": {...}} (docs/sources.md)
    mapping = models.JSONField(default=dict, blank=True)
    transform_code = models.CharField(max_length=100, blank=True, default="")
    schedule = models.CharField(max_length=100, blank=True, default="", help_text="cron expression, UTC")
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    incremental_column = models.CharField(max_length=200, blank=True, default="")
    # The last committed watermark, as the source gave it (ISO text for dates and
    # timestamps, decimal text for numbers); empty before the first incremental run.
    watermark = models.TextField(blank=True, default="")
    batch_size = models.PositiveIntegerField(default=10_000)
    is_enabled = models.BooleanField(default=True)
    # A draft is saved with its mapping empty or incomplete (the Data Mapper page's first
    # step): it never runs and its PeriodicTask stays disabled until it is published.
    is_draft = models.BooleanField(default=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["client", "code"], name="ingestion_job_client_code_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.code} -> {self.entity_code}"


class IngestionRun(TenantScopedModel):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule"
        MANUAL = "manual"
        DRY_RUN = "dry_run"

    job = models.ForeignKey(IngestionJob, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.MANUAL)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_read = models.PositiveBigIntegerField(default=0)
    rows_written = models.PositiveBigIntegerField(default=0)
    rows_rejected = models.PositiveBigIntegerField(default=0)
    watermark_before = models.TextField(blank=True, default="")
    watermark_after = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="")
    # The first rejected rows ({"row", "errors"}), capped like an API load's.
    rejections = models.JSONField(default=list, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["job", "-created_at"], name="ingestion_run_job_recent")]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.job_id}: {self.status}"
