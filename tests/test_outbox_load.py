"""A committed load is never reported failed and its event is never lost
(issue #15, item 4), with real processes: the bus and the result cache on a
private redis-server that the test kills in the middle of a CSV load and
restarts, and `manage.py run_consumers` (consumers + outbox relay) as a
subprocess on the test database, running through the outage.

The load is held inside its transaction (after the COPY, before the commit)
by a lock the test takes on the loads table, so Redis dies mid-load
deterministically: then the commit, the after-commit relay and the
in-process cache invalidation all meet a dead Redis."""

import threading
import uuid

import psycopg
import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.calculations.cache import cache_connection, cache_connection_reset
from apps.calculations.tests.scenarios import sales_define, sales_load
from apps.core.tests.factories import MembershipFactory
from apps.core.tests.waiting import wait_until
from apps.messaging.bus import bus_connection, bus_pools_reset, envelope_decode, stream_key
from apps.messaging.models import OutboxEvent, ProcessedEvent
from apps.messaging.tests.bus_fixtures import ConsumerProcess, database_url_of_tests
from apps.ontology.models import DataLoad

pytestmark = [
    pytest.mark.django_db(transaction=True, databases=["default", "readonly"]),
    pytest.mark.timeout(600),  # a 50,000-row load and two processes on a shared 2-core machine
]

ROWS = 50_000
MARCH = {"start": "2026-03-01", "end": "2026-05-01", "granularity": "month"}


@pytest.fixture
def redis_env(private_redis, settings):
    """The bus and the calculation cache on the private Redis (the cache follows REDIS_URL)."""
    settings.MESSAGING_REDIS_URL = settings.REDIS_URL = private_redis.url
    settings.MESSAGING_KEY_PREFIX = f"ae-outbox-{uuid.uuid4().hex[:8]}:"
    settings.MESSAGING_SOCKET_CONNECT_TIMEOUT_SECONDS = 0.5
    bus_pools_reset()
    cache_connection_reset()
    yield private_redis
    if private_redis.process.poll() is not None:
        private_redis.start()
    bus_connection().flushdb()  # the private server: ours alone
    bus_pools_reset()
    cache_connection_reset()


def revenue(api: APIClient) -> dict:
    response = api.get("/api/v1/metrics/revenue", MARCH)
    assert response.status_code == 200, response.content
    body = response.json()
    return {"cached": body["cached"], "values": [point["value"] for point in body["series"]]}


def csv_body(rows: int) -> bytes:
    lines = ["ordered_at,order_id,salesperson_id,amount"]
    lines += [f"2026-03-10T12:00:00+00:00,bulk-{i},s1,1.00" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def waiting_on_lock(cursor, table: str) -> bool:
    cursor.execute(
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = %s AND NOT l.granted",
        [table],
    )
    return cursor.fetchone()[0] > 0


def test_redis_killed_mid_load_the_load_answers_201_and_its_event_invalidates_the_cache_once_redis_returns(
    redis_env, settings, tmp_path, request
):
    analyst = MembershipFactory(role="analyst", is_default=True)
    api = APIClient()
    api.force_authenticate(analyst.user)
    sales_define(api)
    sales_load(api)
    assert revenue(api) == {"cached": False, "values": [2100.0, 200.0]}
    assert revenue(api)["cached"] is True  # the answer a client reads until the load invalidates it
    # run_consumers (the calculations group and the outbox relay) runs through the outage, as under `make run`.
    consumer = ConsumerProcess(
        tmp_path, redis_url=redis_env.url, prefix=settings.MESSAGING_KEY_PREFIX, groups=["calculations"]
    ).start()
    request.addfinalizer(consumer.close)
    wait_until(
        lambda: ProcessedEvent.objects.filter(group="calculations").count() == 2,  # the two loads above
        timeout=60,
        what="the consumers to start",
        logs=consumer.logs,
    )

    # Hold the load after its COPY, before its commit: it waits on our lock on the loads table.
    table = DataLoad._meta.db_table
    holder = psycopg.connect(database_url_of_tests(), autocommit=False)
    holder.execute(f'LOCK TABLE "{table}" IN SHARE MODE')
    answer: dict = {}

    def load() -> None:
        try:
            client = APIClient()
            client.force_authenticate(analyst.user)
            answer["response"] = client.generic(
                "POST", "/api/v1/data/sales_orders/rows/", csv_body(ROWS), content_type="text/csv"
            )
        finally:
            connection.close()  # this thread's connection

    loader = threading.Thread(target=load)
    loader.start()
    try:
        with psycopg.connect(database_url_of_tests(), autocommit=True) as watcher, watcher.cursor() as cursor:
            wait_until(lambda: waiting_on_lock(cursor, table), timeout=120, what="the load to reach its commit")
        redis_env.kill()  # SIGKILL, mid-load: the load's COPY is done, its commit is not
    finally:
        holder.rollback()  # release the load
        holder.close()
    loader.join(timeout=120)
    assert not loader.is_alive()

    # The rows committed, so the load answers its normal success.
    response = answer["response"]
    assert response.status_code == 201, response.content
    assert response.json()["inserted"] == ROWS
    load_record = DataLoad.objects.get(entity__code="sales_orders", inserted=ROWS)
    [pending] = OutboxEvent.objects.filter(published_at__isnull=True)
    assert pending.topic == "ingestion.completed" and pending.envelope["payload"]["load_id"] == load_record.pk
    assert pending.attempts >= 1 and pending.last_error  # the after-commit relay met the dead Redis

    redis_env.start()  # with its data (appendonly): the cached answer from before the load is still there
    wait_until(
        lambda: ProcessedEvent.objects.filter(event_id=pending.event_id, group="calculations").exists(),
        timeout=60,
        what="the relayed ingestion.completed handled by the calculations group",
        logs=consumer.logs,
    )
    assert consumer.alive()  # the same process relayed and handled it once Redis returned

    bus_pools_reset()  # this process's pooled connections died with the server
    cache_connection_reset()
    pending.refresh_from_db()
    assert pending.published_at is not None
    delivered = [
        envelope_decode(fields).event_id for _, fields in bus_connection().xrange(stream_key("ingestion.completed"))
    ]
    assert delivered.count(pending.event_id) == 1  # relayed once
    assert ProcessedEvent.objects.filter(event_id=pending.event_id).count() == 1  # handled once
    # The cached answer from before the load is gone: computed afresh, with the new rows.
    assert cache_connection().ping()  # (a cache error would read as a miss too)
    assert revenue(api) == {"cached": False, "values": [2100.0 + ROWS, 200.0]}
    assert revenue(api)["cached"] is True
