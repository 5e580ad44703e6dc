"""Bus handlers of the live data feeds (consumer group `streams`): each event
of `telemetry.reading`, `news.article` and `market.tick` becomes one row of
its table (services.py), in the handler's transaction, once per event;
readings also feed the stream aggregator (apps/streams/aggregator).

An event whose tenant is unknown, or of a version this code does not read,
raises: the bus retries it and parks it in the dead-letter store, where it
is seen and can be replayed, rather than dropping data silently."""

from collections.abc import Callable

from pydantic import BaseModel

from apps.core.errors import AppError
from apps.core.selectors import client_id_for_code
from apps.messaging.services import handler
from apps.messaging.types import Envelope
from apps.streams.schemas import (
    MARKET_TICK,
    NEWS_ARTICLE,
    TELEMETRY_READING,
    MarketTickV1,
    NewsArticleV1,
    TelemetryReadingV1,
)
from apps.streams.services import market_tick_store, news_article_store, telemetry_reading_record


def _apply(envelope: Envelope, model: type[BaseModel], store: Callable[..., int], argument: str) -> None:
    if envelope.version != 1:
        raise AppError(f"{envelope.type} version {envelope.version} is not understood (this code reads version 1).")
    client_id = client_id_for_code(code=envelope.tenant) if envelope.tenant else None
    if client_id is None:
        raise AppError(f"{envelope.type} {envelope.event_id} names no known client (tenant {envelope.tenant!r}).")
    store(client_id=client_id, event_id=envelope.event_id, **{argument: model.model_validate(envelope.payload)})


@handler(TELEMETRY_READING, group="streams")
def telemetry_reading_land(envelope: Envelope) -> None:
    _apply(envelope, TelemetryReadingV1, telemetry_reading_record, "reading")


@handler(NEWS_ARTICLE, group="streams")
def news_article_land(envelope: Envelope) -> None:
    _apply(envelope, NewsArticleV1, news_article_store, "article")


@handler(MARKET_TICK, group="streams")
def market_tick_land(envelope: Envelope) -> None:
    _apply(envelope, MarketTickV1, market_tick_store, "tick")
