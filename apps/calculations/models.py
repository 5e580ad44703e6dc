"""What the calculation engine keeps: the history of every computed series
(ARCHITECTURE.md, section 5, step 6) and the rollups it maintains
(section 5, item 3; apps/calculations/rollups)."""

from datetime import timedelta

from django.conf import settings
from django.db import models

from apps.core.model_mixins import TenantScopedModel


class MetricHistory(models.Model):
    """One computed value of a metric: per client, granularity, dimension set
    and time bucket. A TimescaleDB hypertable on `bucket` (30-day chunks),
    created by explicit SQL in migration 0001.

    The primary key is composite because every unique index of a hypertable
    must include its time column, so a surrogate `id` key is not possible.
    `dims_key` (sha256 of the canonical JSON of `dims`) stands in for `dims`
    in the key: jsonb is neither compact nor canonical enough to index."""

    pk = models.CompositePrimaryKey("client", "metric_code", "granularity", "dims_key", "bucket")
    # The primary key leads with client_id: a separate index on it would be redundant.
    client = models.ForeignKey("core.Client", on_delete=models.CASCADE, related_name="+", db_index=False)
    metric_code = models.CharField(max_length=63)
    granularity = models.CharField(max_length=10)
    bucket = models.DateTimeField()
    dims = models.JSONField(default=dict)
    dims_key = models.CharField(max_length=64)
    value = models.FloatField(null=True)
    unit = models.CharField(max_length=50, blank=True, default="")
    computed_at = models.DateTimeField()

    class Meta:
        db_table = "calculations_metric_history"
        verbose_name_plural = "metric history"
        indexes = [
            # history_list: one metric of one client over a range, all granularities and dimension sets.
            models.Index(fields=["client", "metric_code", "-bucket"], name="calc_history_metric_bucket"),
        ]

    def __str__(self) -> str:
        return f"{self.metric_code} {self.granularity} {self.bucket:%Y-%m-%d %H:%M} {self.dims}"


class Rollup(TenantScopedModel):
    """A table in analytics_data of mergeable partial states of one entity's
    rows per `grain` bucket and dimension set, materialized for buckets
    before `watermark` (apps/calculations/rollups, docs/rollups.md).

    Columns are positional: `dim_<i>` for `dimensions[i]` (attribute codes),
    `m<i>_<state>` for `measures[i]` ({"attribute": code, "states": [...]}).
    The refresh policy is stored here and run by Celery beat: every refresh
    re-materializes [watermark - start_offset, now - end_offset), rounded
    down to the grain, plus the invalidated ranges below it."""

    class Grain(models.TextChoices):
        MINUTE = "minute"
        HOUR = "hour"
        DAY = "day"

    entity_code = models.CharField(max_length=63)
    grain = models.CharField(max_length=10, choices=Grain.choices)
    table_name = models.CharField(max_length=63, unique=True, editable=False)
    dimensions = models.JSONField(default=list, blank=True)
    measures = models.JSONField(default=list, blank=True)
    watermark = models.DateTimeField(null=True, blank=True)
    schedule = models.CharField(max_length=100, default="*/5 * * * *", help_text="cron expression, UTC")
    start_offset = models.DurationField(default=timedelta(days=1))
    end_offset = models.DurationField(help_text="buckets newer than now - end_offset are never materialized")
    next_refresh_at = models.DateTimeField(null=True, blank=True, help_text="empty: due now")
    enabled = models.BooleanField(default=True)
    auto = models.BooleanField(
        default=False, help_text="generated from the entity's metrics; editing dimensions or measures clears it"
    )
    last_refresh_at = models.DateTimeField(null=True, blank=True)
    last_refresh_rows = models.BigIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["entity_code", "grain"]
        constraints = [
            models.UniqueConstraint(fields=["client", "entity_code", "grain"], name="calc_rollup_client_entity_grain")
        ]
        indexes = [models.Index(fields=["enabled", "next_refresh_at"], name="calc_rollup_due")]

    def __str__(self) -> str:
        return f"{self.entity_code} by {self.grain}"


class RollupInvalidation(models.Model):
    """Rows landed in [time_min, time_max] below the rollup's watermark after
    it was materialized there; the next refresh re-materializes the buckets
    and deletes this record."""

    rollup = models.ForeignKey(Rollup, on_delete=models.CASCADE, related_name="invalidations")
    time_min = models.DateTimeField()
    time_max = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["time_min", "id"]

    def __str__(self) -> str:
        return f"{self.rollup} [{self.time_min:%Y-%m-%d %H:%M}, {self.time_max:%Y-%m-%d %H:%M}]"


class ThresholdRule(TenantScopedModel):
    """A KPI threshold: when a computed point of `metric_code` with exactly
    these `dims` ({} is the metric as a whole) compares to `threshold` by
    `operator`, a Slack-style incoming webhook is called with the rendered
    `message` (apps/calculations/thresholds/, docs/live.md). At most once
    per `cooldown`. The webhook URL carries its own secret (Slack's do), so
    it is stored encrypted and never shown again; `webhook_host` is."""

    class Operator(models.TextChoices):
        LT = "<", "below"
        LTE = "<=", "at or below"
        GT = ">", "above"
        GTE = ">=", "at or above"

    name = models.CharField(max_length=200)
    metric_code = models.CharField(max_length=63)
    dims = models.JSONField(default=dict, blank=True)
    operator = models.CharField(max_length=2, choices=Operator.choices)
    threshold = models.FloatField()
    webhook_url_encrypted = models.TextField(editable=False)
    webhook_host = models.CharField(max_length=255, editable=False)
    message = models.TextField(blank=True, default="")
    enabled = models.BooleanField(default=True)
    cooldown = models.DurationField(default=timedelta(hours=1))
    last_fired_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["metric_code", "name", "id"]
        indexes = [models.Index(fields=["client", "metric_code", "enabled"], name="calc_threshold_metric")]

    def __str__(self) -> str:
        return f"{self.name}: {self.metric_code} {self.operator} {self.threshold:g}"


class ThresholdAlert(models.Model):
    """One firing of a rule: the point that breached it, the text sent, and
    how sending went (pending, then sent or failed after the retries)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"

    rule = models.ForeignKey(ThresholdRule, on_delete=models.CASCADE, related_name="alerts")
    event_id = models.UUIDField(help_text="the metric.calculated event that breached the rule")
    metric_code = models.CharField(max_length=63)
    dims = models.JSONField(default=dict, blank=True)
    bucket = models.DateTimeField(null=True, blank=True)
    value = models.FloatField()
    text = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "event_id"], name="calc_threshold_alert_rule_event"),
        ]

    def __str__(self) -> str:
        return f"{self.rule.name} at {self.created_at:%Y-%m-%d %H:%M} ({self.status})"
