"""Live data feeds landed by the bus consumers of this app (docs/live.md,
"Telemetry, news and market feeds"): device readings, news articles and
market ticks, each in a Zone 1 hypertable of its own, created by explicit SQL
in migration 0001.

Every unique index of a hypertable must include its time column, so each
table has a composite primary key that ends with it: the natural key of one
record. A second event with the same key is a correction and replaces the
first (the bus already applies one event once). The Django 5.2 admin does not
support composite primary keys, so these tables have no admin pages.
"""

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models


class TelemetryReading(models.Model):
    """`telemetry.reading`: one value of one sensor of one device at one time."""

    pk = models.CompositePrimaryKey("client", "device_id", "sensor", "recorded_at")
    # The primary key leads with client_id: a separate index on it would be redundant.
    client = models.ForeignKey("core.Client", on_delete=models.CASCADE, related_name="+", db_index=False)
    device_id = models.CharField(max_length=100)
    sensor = models.CharField(max_length=100)
    recorded_at = models.DateTimeField()
    value = models.FloatField()
    unit = models.CharField(max_length=32, blank=True, default="")
    attributes = models.JSONField(default=dict, blank=True)
    event_id = models.UUIDField()
    received_at = models.DateTimeField()

    class Meta:
        db_table = "streams_telemetry_reading"
        indexes = [
            # "this sensor across devices, latest first"
            models.Index(fields=["client", "sensor", "-recorded_at"], name="streams_telemetry_sensor"),
        ]

    def __str__(self) -> str:
        return f"{self.device_id}/{self.sensor} {self.recorded_at:%Y-%m-%d %H:%M:%S} = {self.value:g}"


class NewsArticle(models.Model):
    """`news.article`: one article of one source."""

    pk = models.CompositePrimaryKey("client", "source", "article_id", "published_at")
    client = models.ForeignKey("core.Client", on_delete=models.CASCADE, related_name="+", db_index=False)
    source = models.CharField(max_length=100)
    article_id = models.CharField(max_length=200)
    published_at = models.DateTimeField()
    title = models.CharField(max_length=500)
    url = models.CharField(max_length=1000, blank=True, default="")
    summary = models.TextField(blank=True, default="")
    symbols = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    language = models.CharField(max_length=16, blank=True, default="")
    sentiment = models.FloatField(null=True, blank=True)
    event_id = models.UUIDField()
    received_at = models.DateTimeField()

    class Meta:
        db_table = "streams_news_article"
        indexes = [
            models.Index(fields=["client", "-published_at"], name="streams_news_latest"),
            # "news about AAPL": symbols @> ARRAY['AAPL']
            GinIndex(fields=["symbols"], name="streams_news_symbols"),
        ]

    def __str__(self) -> str:
        return f"{self.source}: {self.title}"


class MarketTick(models.Model):
    """`market.tick`: one trade (or quote update) of one instrument on one venue."""

    pk = models.CompositePrimaryKey("client", "symbol", "venue", "traded_at", "sequence")
    client = models.ForeignKey("core.Client", on_delete=models.CASCADE, related_name="+", db_index=False)
    symbol = models.CharField(max_length=32)
    venue = models.CharField(max_length=32, blank=True, default="")
    traded_at = models.DateTimeField()
    sequence = models.BigIntegerField(default=0, help_text="the venue's sequence number: ticks in the same microsecond")
    price = models.DecimalField(max_digits=24, decimal_places=8)
    size = models.DecimalField(max_digits=24, decimal_places=8, null=True, blank=True)
    bid = models.DecimalField(max_digits=24, decimal_places=8, null=True, blank=True)
    ask = models.DecimalField(max_digits=24, decimal_places=8, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, default="")
    event_id = models.UUIDField()
    received_at = models.DateTimeField()

    class Meta:
        db_table = "streams_market_tick"

    def __str__(self) -> str:
        return f"{self.symbol}@{self.venue or '-'} {self.traded_at:%Y-%m-%d %H:%M:%S} {self.price}"


# --- the stream aggregator (docs/live.md, "Stream aggregator") ---------------------------


class TelemetrySecond(models.Model):
    """One second of one sensor of one device, recomputed exactly from the raw
    readings by the write-behind flush (apps/streams/aggregator). A Zone 1
    hypertable on `bucket` (migration 0002)."""

    pk = models.CompositePrimaryKey("client", "sensor", "device_id", "bucket")
    client = models.ForeignKey("core.Client", on_delete=models.CASCADE, related_name="+", db_index=False)
    sensor = models.CharField(max_length=100)
    device_id = models.CharField(max_length=100)
    bucket = models.DateTimeField()
    count = models.BigIntegerField()
    sum = models.FloatField()
    min = models.FloatField()
    max = models.FloatField()

    class Meta:
        db_table = "streams_telemetry_second"

    def __str__(self) -> str:
        return f"{self.device_id}/{self.sensor} {self.bucket:%Y-%m-%d %H:%M:%S} n={self.count}"


class TelemetryDirtySecond(models.Model):
    """A second whose raw readings changed since the last flush: written in
    the reading's own transaction, consumed (deleted) by the flush in the
    transaction that recomputes it. A queue, not history: a plain table."""

    pk = models.CompositePrimaryKey("client", "sensor", "device_id", "bucket")
    client = models.ForeignKey("core.Client", on_delete=models.CASCADE, related_name="+", db_index=False)
    sensor = models.CharField(max_length=100)
    device_id = models.CharField(max_length=100)
    bucket = models.DateTimeField()
    touched_at = models.DateTimeField()

    class Meta:
        db_table = "streams_telemetry_dirty"

    def __str__(self) -> str:
        return f"{self.device_id}/{self.sensor} {self.bucket:%Y-%m-%d %H:%M:%S} (dirty)"


class AggregatorState(models.Model):
    """Per client: the watermark below which `streams_telemetry_second` is
    authoritative for "current" views (above it, the live Redis buckets are)."""

    client = models.OneToOneField("core.Client", on_delete=models.CASCADE, related_name="+", primary_key=True)
    watermark = models.DateTimeField(null=True, blank=True)
    flushed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "streams_aggregator_state"

    def __str__(self) -> str:
        return f"client {self.client_id}: watermark {self.watermark}"
