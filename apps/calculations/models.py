"""What the calculation engine keeps: the history of every computed series
(ARCHITECTURE.md, section 5, step 6)."""

from django.db import models


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
