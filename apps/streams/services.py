"""Writes of the live data feeds: one event -> one row of its table, in the
bus handler's transaction (events.py). A row whose key exists already is
replaced (a correction from the feed); the same event twice is stopped
earlier by the bus (idempotent on event_id). Telemetry readings also feed
the stream aggregator (apps/streams/aggregator)."""

import uuid
from typing import Any

from django.db import connection, models
from django.utils import timezone
from psycopg import sql

from apps.streams.aggregator.services import telemetry_reading_aggregate
from apps.streams.models import MarketTick, NewsArticle, TelemetryReading
from apps.streams.schemas import MarketTickV1, NewsArticleV1, TelemetryReadingV1


def _upsert(model: type[models.Model], row: dict[str, Any]) -> int:
    """INSERT ... ON CONFLICT (primary key) DO UPDATE the other columns."""
    meta = model._meta
    key = [meta.get_field(name).column for name in meta.pk.field_names]
    columns = [meta.get_field(name).column for name in row]
    others = [column for column in columns if column not in key]
    statement = sql.SQL(
        "INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT ({key}) DO UPDATE SET {updates}"
    ).format(
        table=sql.Identifier(meta.db_table),
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        values=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        key=sql.SQL(", ").join(map(sql.Identifier, key)),
        updates=sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in others),
    )
    fields = [meta.get_field(name) for name in row]
    values = [field.get_db_prep_save(value, connection) for field, value in zip(fields, row.values(), strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(statement, values)
        return cursor.rowcount


def telemetry_reading_store(*, client_id: int, event_id: uuid.UUID, reading: TelemetryReadingV1) -> int:
    return _upsert(
        TelemetryReading,
        {
            "client": client_id,
            "device_id": reading.device_id,
            "sensor": reading.sensor,
            "recorded_at": reading.recorded_at,
            "value": reading.value,
            "unit": reading.unit,
            "attributes": reading.attributes,
            "event_id": event_id,
            "received_at": timezone.now(),
        },
    )


def telemetry_reading_record(*, client_id: int, event_id: uuid.UUID, reading: TelemetryReadingV1) -> int:
    """The `telemetry.reading` handler's write: the raw row, then the
    aggregator's hook (its second marked for the flush, Redis after commit)."""
    stored = telemetry_reading_store(client_id=client_id, event_id=event_id, reading=reading)
    telemetry_reading_aggregate(client_id=client_id, event_id=event_id, reading=reading)
    return stored


def news_article_store(*, client_id: int, event_id: uuid.UUID, article: NewsArticleV1) -> int:
    return _upsert(
        NewsArticle,
        {
            "client": client_id,
            "source": article.source,
            "article_id": article.article_id,
            "published_at": article.published_at,
            "title": article.title,
            "url": article.url,
            "summary": article.summary,
            "symbols": list(article.symbols),
            "language": article.language,
            "sentiment": article.sentiment,
            "event_id": event_id,
            "received_at": timezone.now(),
        },
    )


def market_tick_store(*, client_id: int, event_id: uuid.UUID, tick: MarketTickV1) -> int:
    return _upsert(
        MarketTick,
        {
            "client": client_id,
            "symbol": tick.symbol,
            "venue": tick.venue,
            "traded_at": tick.traded_at,
            "sequence": tick.sequence,
            "price": tick.price,
            "size": tick.size,
            "bid": tick.bid,
            "ask": tick.ask,
            "currency": tick.currency,
            "event_id": event_id,
            "received_at": timezone.now(),
        },
    )
