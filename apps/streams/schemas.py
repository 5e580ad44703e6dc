"""Payloads of the live data feeds (version 1 of each; docs/live.md). Unknown
fields are refused, so a misspelt field fails at publish time (API:
400 invalid_payload) instead of being dropped silently; a new field is a new
version."""

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from apps.messaging.services import register_schema

TELEMETRY_READING = "telemetry.reading"
NEWS_ARTICLE = "news.article"
MARKET_TICK = "market.tick"

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Symbol = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=32)]
Price = Annotated[Decimal, Field(max_digits=24, decimal_places=8, allow_inf_nan=False)]
Scalar = str | int | float | bool | None


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TelemetryReadingV1(_Payload):
    device_id: Name
    sensor: Name
    value: Annotated[float, Field(allow_inf_nan=False)]
    unit: Annotated[str, StringConstraints(max_length=32)] = ""
    recorded_at: AwareDatetime
    attributes: Annotated[dict[Annotated[str, StringConstraints(max_length=100)], Scalar], Field(max_length=50)] = {}


class NewsArticleV1(_Payload):
    source: Name
    article_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    url: Annotated[str, StringConstraints(max_length=1000, pattern=r"^(https?://\S+)?$")] = ""
    summary: Annotated[str, StringConstraints(max_length=10_000)] = ""
    published_at: AwareDatetime
    symbols: Annotated[list[Symbol], Field(max_length=50), AfterValidator(lambda s: sorted(set(s)))] = []
    language: Annotated[str, StringConstraints(max_length=16)] = ""
    sentiment: Annotated[float, Field(ge=-1, le=1)] | None = None


class MarketTickV1(_Payload):
    symbol: Symbol
    venue: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, max_length=32)] = ""
    traded_at: AwareDatetime
    sequence: Annotated[int, Field(ge=0)] = 0
    price: Annotated[Price, Field(gt=0)]
    size: Annotated[Price, Field(ge=0)] | None = None
    bid: Price | None = None
    ask: Price | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^([A-Z]{3})?$")] = ""


register_schema(TELEMETRY_READING, 1, TelemetryReadingV1)
register_schema(NEWS_ARTICLE, 1, NewsArticleV1)
register_schema(MARKET_TICK, 1, MarketTickV1)
