"""Publishing on the bus, against the real test Redis."""

import gzip
import time
import uuid
from datetime import UTC, datetime

import pytest
import redis
import tenacity
import tenacity.nap
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django_guid import clear_guid, set_guid
from pydantic import BaseModel, Field

from apps.messaging import bus
from apps.messaging.bus import (
    bus_connection,
    envelope_decode,
    known_topics,
    publish_bulk,
    publish_command,
    publish_message,
    publish_on_commit,
    stream_key,
)
from apps.messaging.registry import topic_matches
from apps.messaging.schemas import register_schema, unregister_schema
from apps.messaging.selectors import bus_check
from apps.messaging.services import command_handler, handler
from apps.messaging.tests.bus_fixtures import free_port
from apps.messaging.types import BusUnavailable, InvalidTopic, Message, PayloadInvalid, PayloadTooLarge


@pytest.fixture(autouse=True)
def _isolated(bus_prefix, isolated_handlers):
    clear_guid()
    yield
    clear_guid()


def entries(topic: str) -> list[tuple[bytes, dict]]:
    return bus_connection().xrange(stream_key(topic))


def test_publish_writes_the_envelope_to_the_topic_stream():
    set_guid("request-abc")
    envelope = publish_message(
        "orders.created", {"order": 7, "at": datetime(2026, 1, 2, 3, 4, tzinfo=UTC)}, tenant="acme", metadata={"k": 1}
    )

    [(_, fields)] = entries("orders.created")
    delivered = envelope_decode(fields)
    assert delivered == envelope
    assert delivered.type == "orders.created"  # the type defaults to the topic
    assert delivered.tenant == "acme"
    assert delivered.correlation_id == "request-abc"  # the current correlation id
    assert delivered.payload == {"order": 7, "at": "2026-01-02T03:04:00Z"}  # the JSON form, as consumers see it
    assert delivered.metadata == {"k": 1}
    assert "orders.created" in known_topics()


def test_an_event_without_a_current_correlation_id_starts_one():
    first = publish_message("orders.created", {})
    second = publish_message("orders.created", {}, correlation_id="given")
    assert first.correlation_id and first.correlation_id != "given"
    assert second.correlation_id == "given"
    assert first.event_id != second.event_id


def test_payloads_over_1_kb_travel_gzipped_and_come_back_whole():
    small = publish_message("reports.ready", {"text": "x" * 100})
    large = publish_message("reports.ready", {"rows": [{"series": f"pump-{i}", "value": i * 0.5} for i in range(400)]})

    (_, small_fields), (_, large_fields) = entries("reports.ready")
    assert small_fields[bus.FIELD_ENCODING] == bus.ENCODING_JSON
    assert large_fields[bus.FIELD_ENCODING] == bus.ENCODING_GZIP
    raw_json = large.model_dump_json().encode()
    assert len(raw_json) > 1024
    assert len(large_fields[bus.FIELD_DATA]) < len(raw_json) / 3
    assert gzip.decompress(large_fields[bus.FIELD_DATA]) == raw_json
    assert envelope_decode(large_fields) == large
    assert envelope_decode(small_fields) == small


def test_the_compression_threshold_is_a_setting(settings):
    settings.MESSAGING_COMPRESS_THRESHOLD_BYTES = 10_000
    publish_message("reports.ready", {"rows": ["same text"] * 300})
    [(_, fields)] = entries("reports.ready")
    assert fields[bus.FIELD_ENCODING] == bus.ENCODING_JSON


class OrderCreated(BaseModel):
    order: int
    lines: int = Field(ge=1)
    currency: str = "EUR"


@pytest.fixture
def order_schema():
    register_schema("orders.created", 1, OrderCreated)
    yield
    unregister_schema("orders.created", 1)


def test_a_registered_schema_validates_and_normalises_payloads(order_schema):
    envelope = publish_message("orders.created", {"order": "12", "lines": 2})
    assert envelope.payload == {"order": 12, "lines": 2, "currency": "EUR"}

    with pytest.raises(PayloadInvalid) as caught:
        publish_message("orders.created", {"order": 13, "lines": 0})
    assert "lines" in caught.value.message
    assert caught.value.details["errors"][0]["loc"] == "lines"
    # Another version, or another type, is not checked by that schema.
    publish_message("orders.created", {"anything": True}, version=2)
    assert len(entries("orders.created")) == 2  # the invalid one was not published


def test_a_pydantic_model_is_accepted_as_the_payload(order_schema):
    envelope = publish_message("orders.created", OrderCreated(order=1, lines=3))
    assert envelope.payload == {"order": 1, "lines": 3, "currency": "EUR"}


def test_two_schemas_for_one_event_type_and_version_are_refused(order_schema):
    class Other(BaseModel):
        x: int

    with pytest.raises(ValueError, match="already has the schema"):
        register_schema("orders.created", 1, Other)
    register_schema("orders.created", 1, OrderCreated)  # the same model again is fine


@pytest.mark.parametrize("topic", ["Orders.created", "orders..created", "", ".orders", "orders.", "a b", "x" * 201])
def test_invalid_topics_are_refused(topic):
    with pytest.raises(InvalidTopic):
        publish_message(topic, {})


def test_oversized_events_are_refused_before_sending(settings):
    settings.MESSAGING_MAX_PAYLOAD_BYTES = 2000
    with pytest.raises(PayloadTooLarge) as caught:
        publish_message("reports.ready", {"blob": uuid.uuid4().hex * 100})
    assert caught.value.status_code == 413
    assert entries("reports.ready") == []


def test_publish_bulk_sends_everything_in_one_pipeline(monkeypatch):
    executions = []
    original = redis.client.Pipeline.execute

    def counting(self, *args, **kwargs):
        executions.append(len(self.command_stack))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", counting)
    messages = [Message("bulk.a" if i % 2 else "bulk.b", {"i": i}, tenant="acme") for i in range(500)]
    envelopes = publish_bulk(messages)

    assert len(executions) == 1
    assert [e.payload["i"] for e in envelopes] == list(range(500))
    assert [envelope_decode(f).event_id for _, f in entries("bulk.a")] == [e.event_id for e in envelopes[1::2]]
    assert len(entries("bulk.b")) == 250
    assert {"bulk.a", "bulk.b"} <= known_topics()


def test_publish_bulk_validates_every_message_before_sending_any():
    with pytest.raises(InvalidTopic):
        publish_bulk([Message("bulk.a", {"i": 1}), Message("Not A Topic", {}), Message("bulk.a", {"i": 3})])
    assert entries("bulk.a") == []
    assert publish_bulk([]) == []


def test_streams_are_trimmed_approximately_to_maxlen(settings):
    settings.MESSAGING_STREAM_MAXLEN = 100
    publish_bulk([Message("trim.me", {"i": i}) for i in range(1000)])
    length = bus_connection().xlen(stream_key("trim.me"))
    assert 100 <= length <= 300  # approximate: whole stream nodes are dropped


def test_commands_travel_on_their_own_topic():
    envelope = publish_command("recalculate", {"metric": "retention_rate"}, tenant="acme")
    assert envelope.topic == "commands.recalculate"
    assert envelope.type == "recalculate"
    assert envelope_decode(entries("commands.recalculate")[0][1]) == envelope
    with pytest.raises(InvalidTopic):
        publish_command("Re Calculate", {})


def test_a_command_type_belongs_to_exactly_one_group():
    @command_handler("recalculate", group="calculations")
    def first(envelope):
        pass

    @command_handler("recalculate", group="calculations")
    def second(envelope):  # another handler in the same group is fine
        pass

    with pytest.raises(ImproperlyConfigured, match="exactly one consumer group"):

        @command_handler("recalculate", group="other")
        def third(envelope):
            pass

    with pytest.raises(ImproperlyConfigured, match="per type"):
        handler("commands.*", group="sneaky")(first)
    # Patterns never take commands: a catch-all group does not steal them.
    assert topic_matches("*", "metric.calculated")
    assert not topic_matches("*", "commands.recalculate")
    assert not topic_matches("c*", "commands.recalculate")


@pytest.mark.parametrize(
    ("pattern", "group"), [("Bad.Topic", "g"), ("ok.topic", "Bad Group"), ("ok.topic", ""), ("ok.*{x}", "g")]
)
def test_invalid_registrations_are_refused(pattern, group):
    with pytest.raises(ImproperlyConfigured):
        handler(pattern, group=group)(lambda envelope: None)


class RetryClock:
    """Stands in for the `time` module in the bus and in tenacity (its retry
    loop's clock and its sleep): a sleep moves the clock and returns at once,
    and the sleeps are recorded. Anything else is the real module's."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __getattr__(self, name):
        return getattr(time, name)


def test_publishing_to_an_unreachable_redis_retries_then_fails_clearly(settings, monkeypatch):
    settings.MESSAGING_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.MESSAGING_PUBLISH_RETRY_SECONDS = 1.0
    clock = RetryClock()
    for module in (bus, tenacity, tenacity.nap):
        monkeypatch.setattr(module, "time", clock)
    with pytest.raises(BusUnavailable) as caught:
        publish_message("orders.created", {"order": 1})
    assert caught.value.status_code == 503
    assert "unreachable" in caught.value.message
    # It backed off and tried again for the whole 1 s budget, then stopped
    # (the last wait reaches past the budget; a wait is at most 2 s).
    assert len(clock.sleeps) >= 2
    assert sum(clock.sleeps[:-1]) < 1.0 <= sum(clock.sleeps) < 1.0 + 2.0
    assert caught.value.details["attempts"] == len(clock.sleeps) + 2  # the first try, then one after each wait


@pytest.mark.django_db
def test_publish_on_commit_waits_for_the_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        envelope = publish_on_commit("orders.created", {"order": 1}, tenant="acme")
        assert entries("orders.created") == []  # not before the commit
    assert len(callbacks) == 1
    assert envelope_decode(entries("orders.created")[0][1]) == envelope

    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        publish_on_commit("orders.created", {"order": 2})
        transaction.set_rollback(True)
    assert callbacks == []
    assert len(entries("orders.created")) == 1  # a rolled-back transaction published nothing


def test_bus_check_reports_the_bus(settings):
    publish_message("orders.created", {})
    result = bus_check()
    assert result["status"] == "ok"
    assert result["topics"] == 1

    settings.MESSAGING_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(redis.ConnectionError):
        bus_check()
