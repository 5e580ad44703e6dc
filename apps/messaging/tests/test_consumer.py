"""The consumer worker, the registry and the dead-letter services, driven
in-process against the real test Redis and Postgres."""

import sys
import time
import types
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django_guid import get_guid

from apps.core.errors import AppError, Conflict
from apps.core.models import Client
from apps.core.tests.factories import ClientFactory
from apps.messaging import consumer
from apps.messaging.bus import Message, bus_connection, envelope_encode, publish_bulk, publish_message, stream_key
from apps.messaging.models import DeadLetter, ProcessedEvent
from apps.messaging.registry import handlers_discover, registrations
from apps.messaging.selectors import bus_status, dead_letter_list, event_processed
from apps.messaging.services import dead_letter_discard, dead_letter_park, dead_letter_replay, handler
from apps.messaging.types import Envelope

pytestmark = pytest.mark.django_db


def pending(topic: str, group: str) -> int:
    return bus_connection().xpending(stream_key(topic), group)["pending"]


@pytest.fixture
def orders(make_worker):
    """A group `billing` on `orders.created` that creates a Client per event
    (a real write in the handler's transaction), failing on `poison` until fixed."""
    state = {"calls": [], "fixed": False}

    @handler("orders.created", group="billing")
    def create_client(envelope: Envelope) -> None:
        state["calls"].append(envelope.event_id)
        Client.objects.create(code=envelope.payload["code"], name="From an event")
        if envelope.payload.get("poison") and not state["fixed"]:
            raise ValueError("cannot bill this order")

    state["worker"] = make_worker("billing")
    return state


def test_each_event_is_applied_once_and_acknowledged_after_commit(orders):
    envelopes = publish_bulk([Message("orders.created", {"code": f"c_{i}"}, tenant="acme") for i in range(3)])
    worker = orders["worker"]  # created after the publish: the group reads from the stream's start

    assert worker.drain() == 3
    assert orders["calls"] == [e.event_id for e in envelopes]
    assert set(Client.objects.values_list("code", flat=True)) >= {"c_0", "c_1", "c_2"}
    assert all(event_processed(event_id=e.event_id, group="billing") for e in envelopes)
    assert pending("orders.created", "billing") == 0

    # The same event again (a publisher's retry, a redelivery): acked, not applied.
    bus_connection().xadd(stream_key("orders.created"), envelope_encode(envelopes[0]))
    assert worker.drain() == 1
    assert len(orders["calls"]) == 3
    assert worker.stats["duplicate"] == 1
    assert pending("orders.created", "billing") == 0


def test_every_group_gets_every_event_once(orders, make_worker):
    audit = []
    handler("orders.created", group="audit")(lambda envelope: audit.append(envelope.event_id))
    envelope = publish_message("orders.created", {"code": "fan_out"})

    orders["worker"].drain()
    make_worker("audit").drain()
    assert orders["calls"] == [envelope.event_id]
    assert audit == [envelope.event_id]
    assert ProcessedEvent.objects.filter(event_id=envelope.event_id).count() == 2


def test_a_pattern_group_reads_topics_that_appear_later(make_worker):
    seen = []
    handler("metric.*", group="metrics")(lambda envelope: seen.append(envelope.topic))
    worker = make_worker("metrics")
    # metric.calculated has a payload schema (apps/calculations/live.py): a valid point.
    publish_message("metric.calculated", {"metric": "revenue", "value": 1.0, "bucket": None})
    worker.drain()
    publish_message("metric.rollup.refreshed", {})  # a new topic, matched by the pattern
    publish_message("commands.metric", {})  # commands are never matched by patterns
    publish_message("other.topic", {})
    worker.drain()
    assert seen == ["metric.calculated", "metric.rollup.refreshed"]


def test_a_failing_handler_is_retried_then_parked_and_the_stream_moves_on(orders):
    ClientFactory(code="acme")
    poison = publish_message("orders.created", {"code": "poisoned", "poison": True}, tenant="acme")
    after = publish_message("orders.created", {"code": "after"}, tenant="acme")

    orders["worker"].drain()

    assert orders["calls"] == [poison.event_id] * 3 + [after.event_id]  # MESSAGING_MAX_ATTEMPTS = 3 here
    assert not Client.objects.filter(code="poisoned").exists()  # each failed attempt rolled back
    assert Client.objects.filter(code="after").exists()
    assert not event_processed(event_id=poison.event_id, group="billing")
    dead = DeadLetter.objects.get()
    assert (dead.kind, dead.status, dead.topic, dead.group) == ("handler", "parked", "orders.created", "billing")
    assert dead.event_id == poison.event_id
    assert dead.attempts == 3
    assert "ValueError: cannot bill this order" in dead.error
    assert dead.client.code == "acme"
    assert Envelope.model_validate(dead.envelope) == poison
    assert pending("orders.created", "billing") == 0  # acked: it no longer blocks anything


def test_replay_after_the_fix_applies_the_event_once(orders):
    poison = publish_message("orders.created", {"code": "late", "poison": True})
    orders["worker"].drain()
    dead = DeadLetter.objects.get()

    with pytest.raises(AppError) as failed:
        dead_letter_replay(dead_letter=dead, user=None)  # still broken
    assert failed.value.code == "replay_failed"
    dead.refresh_from_db()
    assert (dead.status, dead.attempts) == ("parked", 4)

    orders["fixed"] = True
    replayed = dead_letter_replay(dead_letter=dead, user=None)
    assert (replayed.status, replayed.replay_count) == ("replayed", 1)
    assert replayed.replayed_at is not None
    assert Client.objects.filter(code="late").count() == 1
    assert event_processed(event_id=poison.event_id, group="billing")

    with pytest.raises(Conflict):
        dead_letter_replay(dead_letter=replayed, user=None)
    with pytest.raises(Conflict):
        dead_letter_discard(dead_letter=replayed, user=None)
    assert Client.objects.filter(code="late").count() == 1


def test_replay_of_an_event_the_group_applied_meanwhile_runs_nothing(orders):
    envelope = publish_message("orders.created", {"code": "twice"})
    orders["worker"].drain()
    dead = dead_letter_park(
        topic=envelope.topic, group="billing", event_id=envelope.event_id,
        envelope=envelope.model_dump(mode="json"), error="x", attempts=3,
    )  # fmt: skip
    assert dead_letter_replay(dead_letter=dead).status == "replayed"
    assert len(orders["calls"]) == 1


def test_replay_needs_a_handler_and_a_valid_event(orders):
    envelope = publish_message("orders.created", {"code": "orphan"})
    orphan = dead_letter_park(
        topic=envelope.topic, group="gone", event_id=envelope.event_id,
        envelope=envelope.model_dump(mode="json"), error="x", attempts=3,
    )  # fmt: skip
    with pytest.raises(Conflict) as caught:
        dead_letter_replay(dead_letter=orphan)
    assert caught.value.code == "no_handler"
    garbage = dead_letter_park(
        topic="orders.created", group="billing", event_id=uuid.uuid4(), envelope={"undecodable": True},
        error="x", attempts=1,
    )  # fmt: skip
    with pytest.raises(Conflict) as caught:
        dead_letter_replay(dead_letter=garbage)
    assert caught.value.code == "not_replayable"
    assert dead_letter_discard(dead_letter=garbage).status == "discarded"
    assert dead_letter_discard(dead_letter=garbage).status == "discarded"  # idempotent
    with pytest.raises(Conflict):
        dead_letter_replay(dead_letter=garbage)


def test_webhook_dead_letters_are_replayed_by_the_webhook_redeliverer(monkeypatch):
    calls = []

    def fake_redeliver(*, dead_letter):
        calls.append(dead_letter.pk)

    try:
        import apps.messaging.webhooks as webhooks
    except ImportError:  # built beside the bus; stand in for it when absent
        webhooks = types.ModuleType("apps.messaging.webhooks")
        monkeypatch.setitem(sys.modules, "apps.messaging.webhooks", webhooks)
    monkeypatch.setattr(webhooks, "webhook_redeliver", fake_redeliver, raising=False)
    dead = DeadLetter.objects.create(
        kind="webhook", topic="orders.created", event_id=uuid.uuid4(), envelope={}, error="HTTP 500", attempts=5
    )
    replayed = dead_letter_replay(dead_letter=dead)
    assert calls == [dead.pk]
    assert (replayed.status, replayed.replay_count) == ("replayed", 1)


def test_entries_left_pending_by_a_dead_consumer_are_reclaimed(orders, make_worker):
    envelopes = publish_bulk([Message("orders.created", {"code": f"r_{i}"}) for i in range(5)])
    worker = orders["worker"]
    worker.poll(block_ms=1)  # creates the group, handles everything...
    publish_bulk([Message("orders.created", {"code": f"s_{i}"}) for i in range(4)])
    redis = bus_connection()
    # ...then a consumer takes the next entries and dies without acknowledging them.
    taken = redis.xreadgroup("billing", "dead-consumer", {stream_key("orders.created"): ">"}, count=10)
    assert len(taken[0][1]) == 4
    assert worker.drain() == 0  # not ours, and not idle long enough

    rescuer = make_worker("billing", consumer="rescuer", claim_min_idle_ms=0, claim_interval_seconds=0)
    assert rescuer.drain() == 4
    assert len(orders["calls"]) == len(envelopes) + 4
    assert pending("orders.created", "billing") == 0
    consumers = {c["name"]: c["pending"] for c in redis.xinfo_consumers(stream_key("orders.created"), "billing")}
    assert consumers[b"dead-consumer"] == 0

    # A consumer idle past MESSAGING_CONSUMER_EXPIRY_SECONDS with nothing pending is forgotten.
    tidy = make_worker("billing", consumer="tidy", claim_interval_seconds=0, consumer_expiry_seconds=0)
    time.sleep(0.01)
    tidy.poll(block_ms=1)
    consumers = {c["name"] for c in redis.xinfo_consumers(stream_key("orders.created"), "billing")}
    assert b"dead-consumer" not in consumers
    assert b"tidy" in consumers


def test_an_entry_its_consumers_keep_dying_on_is_parked_without_running(orders, make_worker):
    orders["worker"].poll(block_ms=1)  # creates the group
    publish = publish_message("orders.created", {"code": "crashes"})
    redis = bus_connection()
    key = stream_key("orders.created")
    [(_, [(entry_id, _)])] = redis.xreadgroup("billing", "dead-1", {key: ">"}, count=1)
    for n in range(3):  # three more consumers took it over and died too
        redis.xclaim(key, "billing", f"dead-{n + 2}", min_idle_time=0, message_ids=[entry_id])

    rescuer = make_worker("billing", consumer="rescuer", claim_min_idle_ms=0, claim_interval_seconds=0)
    rescuer.drain()
    assert orders["calls"] == []
    dead = DeadLetter.objects.get()
    assert dead.event_id == publish.event_id
    assert "kept dying" in dead.error
    assert dead.attempts == 5
    assert pending("orders.created", "billing") == 0


def test_a_database_outage_is_waited_out_and_not_held_against_the_event(orders, make_worker, monkeypatch):
    envelope = publish_message("orders.created", {"code": "outage"})
    real_apply = consumer.event_apply
    outage = {"left": 8}  # more failures than MESSAGING_MAX_ATTEMPTS (3 here)

    def apply_while_the_database_is_down(**kwargs):
        if outage["left"]:
            outage["left"] -= 1
            raise OperationalError("server closed the connection unexpectedly")
        return real_apply(**kwargs)

    monkeypatch.setattr(consumer, "event_apply", apply_while_the_database_is_down)
    monkeypatch.setattr(consumer, "_database_down", lambda exc: isinstance(exc, OperationalError))
    worker = make_worker("billing", reconnect_max_seconds=0.001)
    for _ in range(8):  # what run() does: back off, reconnect, re-read what it holds
        with pytest.raises(consumer._DatabaseDown) as down:
            worker.poll(block_ms=1)
        worker._lost("the database", down.value.__cause__, 1)
    worker.drain()

    assert orders["calls"] == [envelope.event_id]
    assert not DeadLetter.objects.exists()
    assert pending("orders.created", "billing") == 0


def test_an_undecodable_entry_is_parked_and_does_not_block(orders):
    bus_connection().xadd(stream_key("orders.created"), {"junk": "not an envelope"})
    after = publish_message("orders.created", {"code": "next_one"})
    orders["worker"].drain()
    assert orders["calls"] == [after.event_id]
    dead = DeadLetter.objects.get()
    assert dead.error.startswith("Not a bus envelope")
    assert dead.envelope["fields"] == {"junk": "not an envelope"}


def test_handlers_run_with_the_events_correlation_id(make_worker):
    seen = []
    handler("traced.event", group="tracer")(lambda envelope: seen.append(get_guid()))
    envelope = publish_message("traced.event", {}, correlation_id="trace-123")
    make_worker("tracer").drain()
    assert seen == ["trace-123"]
    assert get_guid() != envelope.correlation_id  # restored afterwards


def test_bus_status_shows_backlog_per_group(orders):
    publish_bulk([Message("orders.created", {"code": f"b_{i}"}) for i in range(3)])
    orders["worker"].poll(block_ms=1)
    publish_message("orders.created", {"code": "later"})
    [state] = [s for s in bus_status() if s.topic == "orders.created"]
    assert state.length == 4
    [group] = state.groups
    assert (group.group, group.pending, group.lag) == ("billing", 0, 1)


@pytest.fixture
def extra_handlers(settings, isolated_handlers, monkeypatch):
    """The test handler module as MESSAGING_EXTRA_HANDLER_MODULES, imported afresh."""
    settings.MESSAGING_EXTRA_HANDLER_MODULES = ["apps.messaging.tests.bus_handlers"]
    monkeypatch.delitem(sys.modules, "apps.messaging.tests.bus_handlers", raising=False)


def test_discovery_imports_events_modules_and_extra_modules(extra_handlers):
    imported = handlers_discover(force=True)
    assert "apps.messaging.tests.bus_handlers" in imported
    assert "apps.calculations.events" in imported  # every app's events.py
    # ... and nothing else: events.py names the bus handlers and only them.
    assert {name.rsplit(".", 1)[1] for name in imported if name.startswith("apps.") and ".tests." not in name} == {
        "events"
    }
    assert any(r.group == "bus_reliability" for r in registrations())


def test_run_consumers_lists_groups_and_refuses_unknown_ones(extra_handlers, capsys):
    handlers_discover(force=True)
    call_command("run_consumers", "--list")
    assert "bus_reliability" in capsys.readouterr().out
    with pytest.raises(CommandError, match="no-such-group"):
        call_command("run_consumers", "--group", "no-such-group")


def test_dead_letter_list_is_per_client():
    mine, theirs = ClientFactory(), ClientFactory()
    for client in (mine, mine, theirs, None):
        DeadLetter.objects.create(
            kind="handler", topic="t.x", group="g", event_id=uuid.uuid4(), envelope={}, error="e", attempts=1,
            client=client,
        )  # fmt: skip
    assert dead_letter_list(client_id=mine.pk).count() == 2
    assert dead_letter_list(client_id=None).count() == 1
