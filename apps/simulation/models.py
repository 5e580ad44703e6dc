"""What the demo data generator keeps: one `SimulationRun` per request to
generate a scenario's data (API.md, Platform: simulation/runs). The run is
the job's durable state: the worker updates its progress as batches commit,
and the same figures are pushed to browsers over WebSocket."""

from django.conf import settings
from django.db import models

from apps.core.model_mixins import TenantScopedModel


class SimulationRun(TenantScopedModel):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    scenario = models.CharField(max_length=40)
    start = models.DateField()
    end = models.DateField(help_text="exclusive")
    # As validated, defaults filled in: the run can be repeated exactly.
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0, help_text="0..1, rows written / rows planned")
    rows_planned = models.BigIntegerField(default=0)
    rows_written = models.BigIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    # Definitions created or reused, rows per entity, and what the metrics should show.
    summary = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["client", "-created_at"], name="simulation_run_client_created")]

    def __str__(self) -> str:
        return f"{self.scenario} {self.start}..{self.end} ({self.status})"

    @property
    def channel(self) -> str:
        """The realtime channel its progress is pushed on (docs/simulation.md)."""
        return f"simulation.run_{self.pk}"
