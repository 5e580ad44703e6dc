"""The transactional outbox (apps/messaging/outbox.py) against the real test
database and Redis; "Redis away" is a port nothing listens on."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.core.tests.waiting import wait_until
from apps.messaging import outbox
from apps.messaging.bus import bus_connection, bus_pools_reset, envelope_decode, publish_on_commit, stream_key
from apps.messaging.models import OutboxEvent, ProcessedEvent
from apps.messaging.outbox import OutboxRelay, outbox_purge, outbox_relay
from apps.messaging.selectors import outbox_status
from apps.messaging.services import handler
from apps.messaging.tests.bus_fixtures import free_port

pytestmark = pytest.mark.django_db(transaction=True)

TOPIC = "orders.created"


@pytest.fixture(autouse=True)
def _bus(bus_prefix):
    yield
    bus_pools_reset()


@pytest.fixture
def redis_away(settings):
    """Point the bus at a closed port; `back()` points it at the test Redis again."""
    live = settings.MESSAGING_REDIS_URL
    settings.MESSAGING_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.MESSAGING_SOCKET_CONNECT_TIMEOUT_SECONDS = 0.5

    class Away:
        @staticmethod
        def back() -> None:
            settings.MESSAGING_REDIS_URL = live
            bus_pools_reset()

    return Away


def stream_events() -> list[str]:
    return [str(envelope_decode(fields).event_id) for _, fields in bus_connection().xrange(stream_key(TOPIC))]


def test_an_event_is_written_with_the_transaction_and_relayed_after_the_commit():
    with transaction.atomic():
        envelope = publish_on_commit(TOPIC, {"order": 1}, tenant="acme")
        row = OutboxEvent.objects.get()
        assert (row.event_id, row.topic, row.published_at) == (envelope.event_id, TOPIC, None)
        assert stream_events() == []  # nothing before the commit
    assert stream_events() == [str(envelope.event_id)]
    row.refresh_from_db()
    assert row.published_at is not None and row.attempts == 0
    assert envelope_decode(bus_connection().xrange(stream_key(TOPIC))[0][1]) == envelope


def test_a_rolled_back_transaction_writes_no_event_and_publishes_nothing():
    with transaction.atomic():
        publish_on_commit(TOPIC, {"order": 1})
        transaction.set_rollback(True)
    with pytest.raises(RuntimeError), transaction.atomic():  # an exception rolls back too
        publish_on_commit(TOPIC, {"order": 2})
        raise RuntimeError("the load failed")
    with transaction.atomic():
        with transaction.atomic():  # a savepoint rolled back inside a committed transaction
            publish_on_commit(TOPIC, {"order": 3})
            transaction.set_rollback(True)
        kept = publish_on_commit(TOPIC, {"order": 4})
    assert list(OutboxEvent.objects.values_list("event_id", flat=True)) == [kept.event_id]
    assert stream_events() == [str(kept.event_id)]


def test_redis_away_at_commit_leaves_the_event_pending_without_raising_and_the_relay_publishes_it(redis_away):
    with transaction.atomic():
        first = publish_on_commit(TOPIC, {"order": 1})
        second = publish_on_commit(TOPIC, {"order": 2})
    # The commit happened and nothing raised; the events wait in the outbox.
    rows = list(OutboxEvent.objects.order_by("id"))
    assert [(r.event_id, r.published_at, r.attempts) for r in rows] == [
        (first.event_id, None, 1),
        (second.event_id, None, 1),
    ]
    assert "unreachable" in rows[0].last_error
    status = outbox_status()
    assert status.pending == 2 and status.oldest_pending_age_seconds >= 0

    assert OutboxRelay().poll().failed == 2  # still away: still pending, one more attempt
    assert OutboxEvent.objects.filter(published_at__isnull=True, attempts=2).count() == 2

    redis_away.back()
    assert OutboxRelay().poll().published == 2
    assert stream_events() == [str(first.event_id), str(second.event_id)]  # in creation order
    assert outbox_status().pending == 0


def test_the_relay_thread_publishes_the_backlog_when_redis_returns(redis_away, settings):
    settings.MESSAGING_RECONNECT_MAX_SECONDS = 0.2
    with transaction.atomic():
        envelopes = [publish_on_commit(TOPIC, {"order": i}) for i in range(5)]
    relay = OutboxRelay(poll_seconds=0.05)
    thread = threading.Thread(target=relay.run)
    thread.start()
    try:
        wait_until(lambda: relay.stats["failures"] >= 2, what="two failed relays", timeout=10, interval=0.05)
        assert relay.stats["failures"] >= 2 and relay.stats["published"] == 0
        redis_away.back()
        wait_until(
            lambda: outbox_status().pending == 0,
            what="the outbox relayed",
            timeout=20,
            interval=0.05,
            logs=lambda: str(relay.stats),
        )
    finally:
        relay.stop.set()
        thread.join(timeout=10)
    assert stream_events() == [str(e.event_id) for e in envelopes]


def test_a_relay_crash_between_the_xadd_and_the_mark_delivers_twice_and_applies_once(make_worker, monkeypatch):
    applied = []

    @handler(TOPIC, group="outbox-test")
    def record(envelope):
        applied.append(envelope.event_id)

    crash = RuntimeError("the relay died after the XADD")

    def crash_before_marking(ids):
        raise crash

    monkeypatch.setattr(outbox, "_mark_published", crash_before_marking)
    with transaction.atomic():
        envelope = publish_on_commit(TOPIC, {"order": 1})  # the relay after the commit crashes (logged)
    assert stream_events() == [str(envelope.event_id)]
    assert OutboxEvent.objects.get().published_at is None  # its mark was rolled back with the crash

    monkeypatch.undo()
    assert outbox_relay().published == 1  # relayed again: at least once
    assert stream_events() == [str(envelope.event_id)] * 2

    worker = make_worker("outbox-test")
    assert worker.drain() == 2
    assert applied == [envelope.event_id]  # applied once
    assert (worker.stats["applied"], worker.stats["duplicate"]) == (1, 1)
    assert ProcessedEvent.objects.filter(event_id=envelope.event_id, group="outbox-test").count() == 1


def test_two_relays_never_take_the_same_rows(redis_away):
    with transaction.atomic():
        publish_on_commit(TOPIC, {"order": 1})
    redis_away.back()
    with transaction.atomic():
        OutboxEvent.objects.select_for_update().get()  # another relay holds it
        done = []

        def relay() -> None:
            try:
                done.append(outbox_relay())
            finally:
                connection.close()  # the thread's own connection

        thread = threading.Thread(target=relay)
        thread.start()
        thread.join(timeout=10)
    assert done[0].published == 0  # skipped, not waited for, not published twice
    assert stream_events() == []
    assert outbox_relay().published == 1


def test_published_events_are_deleted_after_the_retention(settings):
    settings.MESSAGING_OUTBOX_RETENTION_SECONDS = 3600
    with transaction.atomic():
        old = publish_on_commit(TOPIC, {"order": 1})
        recent = publish_on_commit(TOPIC, {"order": 2})
    OutboxEvent.objects.filter(event_id=old.event_id).update(published_at=timezone.now() - timedelta(hours=2))
    assert outbox_purge() == 1
    assert list(OutboxEvent.objects.values_list("event_id", flat=True)) == [recent.event_id]


def test_health_shows_the_outbox_backlog(client, redis_away):
    with transaction.atomic():
        publish_on_commit(TOPIC, {"order": 1})
    check = client.get("/health").json()["checks"]["outbox"]
    assert check["status"] == "ok" and check["pending"] == 1
    assert check["oldest_pending_age_seconds"] >= 0


def test_the_admin_lists_pending_events_with_their_error(admin_client, redis_away):
    with transaction.atomic():
        envelope = publish_on_commit(TOPIC, {"order": 1})
    row = OutboxEvent.objects.get()
    listing = admin_client.get("/admin/messaging/outboxevent/", {"published_at__isnull": "True"})
    assert listing.status_code == 200
    assert str(envelope.event_id) in listing.content.decode()
    detail = admin_client.get(f"/admin/messaging/outboxevent/{row.pk}/change/")
    assert detail.status_code == 200
    assert "unreachable" in detail.content.decode()
    assert admin_client.get("/admin/messaging/outboxevent/add/").status_code == 403


def test_health_reads_the_outbox_only_when_the_database_answers(client, monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "PORT", str(free_port()))
    body = client.get("/health").json()
    assert body["checks"]["outbox"] == {"status": "error", "error": "database unavailable"}
