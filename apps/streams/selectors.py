"""Reads of the live data feeds, per client."""

from datetime import datetime

from django.db.models import QuerySet

from apps.streams.aggregator.selectors import CurrentView, telemetry_current
from apps.streams.models import MarketTick, NewsArticle, TelemetryReading

# The stream aggregator's "current" view, for other apps (apps/streams/aggregator/selectors.py).
__all__ = ["CurrentView", "market_ticks", "news_articles", "telemetry_current", "telemetry_readings"]


def telemetry_readings(
    *, client_id: int, device_id: str | None = None, sensor: str | None = None, start: datetime | None = None,
    end: datetime | None = None,
) -> QuerySet[TelemetryReading]:  # fmt: skip
    readings = TelemetryReading.objects.filter(client_id=client_id)
    if device_id:
        readings = readings.filter(device_id=device_id)
    if sensor:
        readings = readings.filter(sensor=sensor)
    if start:
        readings = readings.filter(recorded_at__gte=start)
    if end:
        readings = readings.filter(recorded_at__lt=end)
    return readings.order_by("recorded_at", "device_id", "sensor")


def news_articles(*, client_id: int, symbol: str | None = None) -> QuerySet[NewsArticle]:
    articles = NewsArticle.objects.filter(client_id=client_id)
    if symbol:
        articles = articles.filter(symbols__contains=[symbol.upper()])
    return articles.order_by("-published_at", "source", "article_id")


def market_ticks(
    *, client_id: int, symbol: str, start: datetime | None = None, end: datetime | None = None
) -> QuerySet[MarketTick]:
    ticks = MarketTick.objects.filter(client_id=client_id, symbol=symbol.upper())
    if start:
        ticks = ticks.filter(traded_at__gte=start)
    if end:
        ticks = ticks.filter(traded_at__lt=end)
    return ticks.order_by("traded_at", "venue", "sequence")
