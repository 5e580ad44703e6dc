"""Reliability of the bus, as claimed in docs/events.md, shown with real
processes: a `manage.py run_consumers` subprocess on the test database, and
a private redis-server that the tests kill and restart (appendonly, fsync on
every write; the shared Redis is never touched).

The handler (apps/messaging/tests/bus_handlers.py) writes one row per
application into a test table without a unique key, so a lost event is a
missing row and a double application a duplicate one."""

import signal
import threading
import time
import uuid

import pytest
from django.db import connection

from apps.core.errors import Conflict
from apps.core.tests.waiting import wait_until
from apps.messaging import bus
from apps.messaging.bus import bus_connection, publish_bulk, publish_message, stream_key
from apps.messaging.models import DeadLetter, ProcessedEvent
from apps.messaging.services import dead_letter_replay
from apps.messaging.tests import bus_handlers
from apps.messaging.tests.bus_fixtures import ConsumerProcess
from apps.messaging.tests.bus_handlers import GROUP, TOPIC, applied_counts, applied_rows, flag_set, payload_digest
from apps.messaging.types import BusUnavailable, Message

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def bus_env(private_redis, settings):
    """The bus on the private Redis, under a key prefix of this test; the
    test tables in the test database."""
    settings.MESSAGING_REDIS_URL = private_redis.url
    settings.MESSAGING_KEY_PREFIX = f"ae-rel-{uuid.uuid4().hex[:8]}:"
    bus_handlers.tables_create()
    yield settings.MESSAGING_KEY_PREFIX
    bus_handlers.tables_drop()
    bus_connection().flushdb()  # the private server: ours alone


@pytest.fixture
def consumer(bus_env, private_redis, tmp_path):
    process = ConsumerProcess(tmp_path, redis_url=private_redis.url, prefix=bus_env, groups=[GROUP])
    yield process
    process.close()


def pending() -> int:
    return bus_connection().xpending(stream_key(TOPIC), GROUP)["pending"]


def test_a_consumer_killed_mid_stream_loses_nothing_and_applies_nothing_twice(consumer):
    total = 10_000
    envelopes = []
    for start in range(0, total, 2000):
        envelopes += publish_bulk([Message(TOPIC, {"seq": i}) for i in range(start, start + 2000)])

    first = consumer.start()
    wait_until(lambda: applied_counts()[0] >= 2000, timeout=30, what="the first applications", logs=consumer.logs)
    first.signal(signal.SIGKILL)  # mid-batch, mid-transaction perhaps: no goodbye
    first.wait(timeout=10)
    at_kill = applied_counts()[0]
    assert at_kill < total, "the consumer finished before it was killed; nothing was tested"

    consumer.start()  # a new process under a new consumer name takes over what the dead one held
    wait_until(lambda: applied_counts()[1] == total, timeout=45, what="every event applied", logs=consumer.logs)
    wait_until(lambda: pending() == 0, timeout=15, what="every entry acknowledged", logs=consumer.logs)

    rows, distinct = applied_counts()
    assert rows == distinct == total, f"{rows - distinct} double applications"
    applied = applied_rows()
    assert {row[0] for row in applied} == {str(e.event_id) for e in envelopes}
    assert len({row[3] for row in applied}) == 2  # both processes applied some
    assert ProcessedEvent.objects.filter(group=GROUP).count() == total


def test_publishers_retry_through_a_redis_restart_and_every_acknowledged_publish_is_delivered(
    consumer,
    private_redis,
    settings,
):
    settings.MESSAGING_PUBLISH_RETRY_SECONDS = 30
    settings.MESSAGING_SOCKET_CONNECT_TIMEOUT_SECONDS = 0.5
    consumer.start()
    published: list[str] = []
    failed: list[Exception] = []
    total = 1500

    def publisher() -> None:
        for i in range(total):
            try:
                published.append(str(publish_message(TOPIC, {"seq": i}).event_id))
            except BusUnavailable as exc:
                failed.append(exc)

    thread = threading.Thread(target=publisher)
    thread.start()
    wait_until(lambda: len(published) >= 300, timeout=30, what="publishing under way")
    private_redis.kill()  # SIGKILL: only what Redis fsynced (every acknowledged write) survives
    time.sleep(0.3)
    during = len(published)
    time.sleep(1.5)
    assert len(published) - during <= 1, "publishes reported success while Redis was down"
    private_redis.start()
    thread.join(timeout=60)
    bus.bus_pools_reset()

    assert not failed
    assert len(published) == total
    wait_until(lambda: applied_counts()[1] == total, timeout=30, what="every publish delivered", logs=consumer.logs)
    wait_until(lambda: pending() == 0, timeout=15, what="every entry acknowledged", logs=consumer.logs)
    rows, distinct = applied_counts()
    assert rows == distinct == total
    assert {row[0] for row in applied_rows()} == set(published)
    # Events published after the restart were applied by the same consumer
    # process, so it reconnected (whether redis-py's own retry or our backoff
    # did it, and so whether it logged the outage, depends on timing).
    assert total - during > 100


def test_a_poison_message_is_parked_without_blocking_and_a_replay_applies_it_once(consumer):
    before = publish_bulk([Message(TOPIC, {"seq": i}) for i in range(5)])
    poison = publish_message(TOPIC, {"seq": 5, "poison": True})
    after = publish_bulk([Message(TOPIC, {"seq": i}) for i in range(6, 11)])

    process = consumer.start()
    wait_until(
        lambda: DeadLetter.objects.exists() and applied_counts()[1] == 10,
        timeout=30, what="the poison parked and the rest applied", logs=consumer.logs,
    )  # fmt: skip
    dead = DeadLetter.objects.get()
    assert (dead.event_id, dead.group, dead.status, dead.attempts) == (poison.event_id, GROUP, "parked", 3)
    assert "poison message" in dead.error
    assert {row[1] for row in applied_rows()} == set(range(11)) - {5}
    assert {str(e.event_id) for e in before + after} == {row[0] for row in applied_rows()}
    wait_until(lambda: pending() == 0, timeout=10, what="the poison acknowledged", logs=consumer.logs)

    flag_set("poison_fixed")  # the handler is fixed
    replayed = dead_letter_replay(dead_letter=dead, user=None)
    assert replayed.status == "replayed"
    with pytest.raises(Conflict):
        dead_letter_replay(dead_letter=replayed, user=None)
    # The running consumer has nothing left to apply it again: once it has
    # applied an event published after the replay, it has read past anything
    # the replay could have left on the stream.
    barrier = publish_message(TOPIC, {"seq": 11})
    wait_until(lambda: applied_counts()[1] == 12, timeout=30, what="the event after the replay", logs=consumer.logs)
    poison_rows = [row for row in applied_rows() if row[0] == str(poison.event_id)]
    assert len(poison_rows) == 1
    assert applied_counts() == (12, 12)
    assert str(barrier.event_id) in {row[0] for row in applied_rows()}
    process.signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0


def test_a_large_payload_crosses_gzipped_and_arrives_whole(consumer):
    payload = {"seq": 1, "rows": [{"series": f"pump-{i % 20}", "value": i / 7} for i in range(600)]}
    envelope = publish_message(TOPIC, payload)
    [(_, fields)] = bus_connection().xrange(stream_key(TOPIC))
    assert fields[bus.FIELD_ENCODING] == bus.ENCODING_GZIP

    consumer.start()
    wait_until(lambda: applied_counts()[0] == 1, timeout=20, what="the event applied", logs=consumer.logs)
    [(_, _, digest, _)] = applied_rows()
    assert digest == payload_digest(envelope.payload)


def test_sigterm_finishes_the_message_in_hand_then_exits_zero(consumer, tmp_path):
    marker = tmp_path / "handler-started"
    slow = publish_message(TOPIC, {"seq": 1, "sleep": 2, "marker": str(marker)})
    queued = publish_message(TOPIC, {"seq": 2})

    process = consumer.start()
    wait_until(marker.exists, timeout=20, what="the slow handler to start", logs=consumer.logs)
    process.signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0, consumer.logs()
    assert [row[0] for row in applied_rows()] == [str(slow.event_id)]  # finished and committed
    [entry] = bus_connection().xpending_range(stream_key(TOPIC), GROUP, min="-", max="+", count=10)
    assert entry["times_delivered"] == 1  # the queued one: delivered, left for the next consumer
    assert "finishing the message in hand" in consumer.logs()

    consumer.start()
    wait_until(lambda: applied_counts()[0] == 2, timeout=20, what="the queued event applied", logs=consumer.logs)
    assert [row[0] for row in applied_rows()] == [str(slow.event_id), str(queued.event_id)]
    wait_until(lambda: pending() == 0, timeout=10, what="everything acknowledged", logs=consumer.logs)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bus_test_applied WHERE event_id = %s", [slow.event_id])
        assert cursor.fetchone()[0] == 1
