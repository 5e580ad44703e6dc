"""The live data feeds: `telemetry.reading`, `news.article` and `market.tick`
events published on the real bus, applied by the `streams` consumer group
into their hypertables, once per event."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.core.tests.factories import MembershipFactory
from apps.messaging.bus import bus_connection, envelope_encode, publish_message, stream_key
from apps.messaging.models import DeadLetter
from apps.messaging.types import PayloadInvalid
from apps.streams.models import MarketTick, NewsArticle, TelemetryReading
from apps.streams.selectors import market_ticks, news_articles, telemetry_readings

pytestmark = pytest.mark.django_db(transaction=True)

READING = {"device_id": "pump-7", "sensor": "pressure", "value": 3.25, "unit": "bar",
           "recorded_at": "2026-03-31T10:00:00+00:00", "attributes": {"site": "Leeds", "line": 2}}  # fmt: skip
ARTICLE = {"source": "wire", "article_id": "A-1", "title": "Insurer beats estimates",
           "url": "https://news.example/a-1", "published_at": "2026-03-31T09:30:00+02:00",
           "symbols": ["acme", "ACME", "BETA"], "sentiment": 0.6, "language": "en"}  # fmt: skip
TICK = {"symbol": "acme", "venue": "xlon", "traded_at": "2026-03-31T10:00:00.123456+00:00", "sequence": 42,
        "price": "101.25000001", "size": "300", "bid": "101.2", "ask": "101.3", "currency": "GBP"}  # fmt: skip


@pytest.fixture
def member():
    return MembershipFactory(role="admin", is_default=True)


@pytest.fixture
def streams(make_worker):
    return make_worker("streams")


def test_the_feed_tables_and_the_aggregator_table_are_hypertables_on_their_time_columns():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT hypertable_name, column_name FROM timescaledb_information.dimensions "
            "WHERE hypertable_name LIKE 'streams_%%' ORDER BY 1"
        )
        assert cursor.fetchall() == [
            ("streams_market_tick", "traded_at"),
            ("streams_news_article", "published_at"),
            ("streams_telemetry_reading", "recorded_at"),
            ("streams_telemetry_second", "bucket"),
        ]


def test_each_event_lands_in_its_table_once(member, streams):
    tenant = member.client.code
    envelopes = [
        publish_message("telemetry.reading", READING, tenant=tenant),
        publish_message("news.article", ARTICLE, tenant=tenant),
        publish_message("market.tick", TICK, tenant=tenant),
    ]
    assert streams.drain() == 3

    (reading,) = telemetry_readings(client_id=member.client_id, device_id="pump-7")
    assert (reading.sensor, reading.value, reading.unit) == ("pressure", 3.25, "bar")
    assert reading.recorded_at == datetime(2026, 3, 31, 10, tzinfo=UTC)
    assert reading.attributes == {"site": "Leeds", "line": 2} and reading.event_id == envelopes[0].event_id

    (article,) = news_articles(client_id=member.client_id, symbol="acme")
    assert article.symbols == ["ACME", "BETA"]  # upper case, once each
    assert article.published_at == datetime(2026, 3, 31, 7, 30, tzinfo=UTC) and article.sentiment == 0.6

    (tick,) = market_ticks(client_id=member.client_id, symbol="ACME")
    assert (tick.venue, tick.sequence, tick.currency) == ("XLON", 42, "GBP")
    assert tick.price == Decimal("101.25000001") and tick.size == Decimal("300") and tick.bid == Decimal("101.2")

    # Delivered again (a publisher's retry, a redelivery): acknowledged, not applied twice.
    for envelope in envelopes:
        bus_connection().xadd(stream_key(envelope.topic), envelope_encode(envelope))
    assert streams.drain() == 3
    assert streams.stats["duplicate"] == 3
    assert (TelemetryReading.objects.count(), NewsArticle.objects.count(), MarketTick.objects.count()) == (1, 1, 1)


def test_a_new_event_for_the_same_key_corrects_the_row(member, streams):
    tenant = member.client.code
    publish_message("telemetry.reading", READING, tenant=tenant)
    correction = publish_message("telemetry.reading", {**READING, "value": 3.5}, tenant=tenant)
    publish_message("telemetry.reading", {**READING, "recorded_at": "2026-03-31T10:00:01+00:00"}, tenant=tenant)
    assert streams.drain() == 3
    readings = list(telemetry_readings(client_id=member.client_id))
    assert [(r.recorded_at.second, r.value) for r in readings] == [(0, 3.5), (1, 3.25)]
    assert readings[0].event_id == correction.event_id


def test_tenants_stay_apart(member, streams):
    other = MembershipFactory(role="admin", is_default=True)
    publish_message("market.tick", TICK, tenant=member.client.code)
    publish_message("market.tick", {**TICK, "price": "99"}, tenant=other.client.code)
    assert streams.drain() == 2
    assert [t.price for t in market_ticks(client_id=member.client_id, symbol="acme")] == [Decimal("101.25000001")]
    assert [t.price for t in market_ticks(client_id=other.client_id, symbol="acme")] == [Decimal("99")]


@pytest.mark.parametrize(
    ("topic", "payload", "where"),
    [
        ("telemetry.reading", {**READING, "value": "high"}, "value"),
        ("telemetry.reading", {**READING, "recorded_at": "2026-03-31T10:00:00"}, "recorded_at"),  # no offset
        ("telemetry.reading", {**READING, "devise_id": "typo"}, "devise_id"),
        ("news.article", {**ARTICLE, "sentiment": 2}, "sentiment"),
        ("news.article", {**ARTICLE, "url": "javascript:alert(1)"}, "url"),
        ("market.tick", {**TICK, "price": "-1"}, "price"),
        ("market.tick", {**TICK, "currency": "pounds"}, "currency"),
        ("market.tick", {k: v for k, v in TICK.items() if k != "traded_at"}, "traded_at"),
    ],
)
def test_bad_payloads_are_refused_when_published_naming_the_field(member, bus_prefix, topic, payload, where):
    with pytest.raises(PayloadInvalid) as refused:
        publish_message(topic, payload, tenant=member.client.code)
    assert refused.value.details["errors"][0]["loc"] == where
    assert bus_connection().xlen(stream_key(topic)) == 0


def test_the_publish_api_validates_feed_events(member, bus_prefix, streams):
    api = APIClient()
    api.force_authenticate(member.user)
    bad = api.post(
        "/api/v1/messaging/events/",
        {"topic": "telemetry.reading", "type": "telemetry.reading", "payload": {**READING, "value": None}},
        format="json",
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_payload"
    good = api.post(
        "/api/v1/messaging/events/",
        {"topic": "telemetry.reading", "type": "telemetry.reading", "payload": READING},
        format="json",
    )
    assert good.status_code == 202, good.content
    assert streams.drain() == 1
    assert telemetry_readings(client_id=member.client_id).get().event_id == uuid.UUID(good.json()["event_id"])


def test_an_event_of_no_known_client_is_parked_not_dropped(streams):
    publish_message("news.article", ARTICLE, tenant="nobody_here")
    streams.drain()
    (parked,) = DeadLetter.objects.filter(topic="news.article", group="streams")
    assert "names no known client" in parked.error and parked.status == DeadLetter.Status.PARKED
    assert not NewsArticle.objects.exists()
