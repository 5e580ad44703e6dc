"""Event bus throughput: our publish -> consume -> handler commit path against
bare Redis Streams commands, measured in the same run.

    .venv/bin/python bench/events.py --events 5000 --redis-db 13

For 200-byte and 10 KB payloads:

- publish: `publish_message` one at a time, and `publish_bulk` (chunks of
  --chunk), against a bare `XADD` loop and a bare pipelined `XADD` of the same
  encoded bytes;
- consume: a `GroupWorker` (the `run_consumers` worker, driven in this
  process) applying every event with a handler that inserts one row, each in
  its own transaction with the processed-event record, then XACK; against a
  bare `XREADGROUP` + `XACK` loop, and the same loop plus one INSERT and
  COMMIT per message (the floor of "handler commit");
- end to end: publish then consume, events/s over both.

Uses Redis database --redis-db on the REDIS_URL server under a throwaway key
prefix, and a throwaway table in the local database; removes both (and its
processed-event records) at the end, also on failure. Not a test: it prints
numbers (docs/events.md, "Benchmark").
"""

import argparse
import gc
import json
import random
import sys
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

from _bootstrap import django_setup

django_setup()

import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from psycopg import sql  # noqa: E402

from apps.messaging.bus import (  # noqa: E402
    Message,
    bus_connection,
    envelope_build,
    envelope_encode,
    publish_bulk,
    publish_message,
    stream_key,
)
from apps.messaging.consumer import ConsumerConfig, GroupWorker  # noqa: E402
from apps.messaging.models import ProcessedEvent  # noqa: E402
from apps.messaging.registry import handler_register  # noqa: E402

GROUP = "bench_events"


def payload_make(size: int, seq: int, rng: random.Random) -> dict:
    """A JSON object of about `size` bytes: an id and measurements (random
    values, so 10 KB compresses like real readings do, not like padding)."""
    payload: dict = {"seq": seq, "entity": "reading", "rows": []}
    length = len(json.dumps(payload))
    while True:
        row = {"series": f"pump-{rng.randrange(50)}", "value": round(rng.uniform(0, 1000), 3)}
        length += len(json.dumps(row)) + 2
        if length > size:
            return payload
        payload["rows"].append(row)


def redis_url_for_db(db: int) -> str:
    parts = urlsplit(settings.REDIS_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


class Bench:
    def __init__(self, args) -> None:
        self.args = args
        self.table = f"bench_events_{uuid.uuid4().hex[:8]}"
        self.rng = random.Random(7)  # noqa: S311 - sample data, not secrets
        self.redis = bus_connection()

    # -- the handler and the bare floor write the same row --------------------------

    def insert(self, event_id, seq) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("INSERT INTO {} (event_id, seq) VALUES (%s, %s)").format(sql.Identifier(self.table)),
                [event_id, seq],
            )

    def handle(self, envelope) -> None:
        self.insert(envelope.event_id, envelope.payload["seq"])

    def setup(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("CREATE TABLE {} (event_id uuid NOT NULL, seq integer NOT NULL)").format(
                    sql.Identifier(self.table)
                )
            )

    def teardown(self) -> None:
        keys = list(self.redis.scan_iter(match=settings.MESSAGING_KEY_PREFIX + "*", count=1000))
        for start in range(0, len(keys), 1000):
            self.redis.delete(*keys[start : start + 1000])
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(self.table)))
        ProcessedEvent.objects.filter(group__startswith=GROUP).delete()

    # -- our path -------------------------------------------------------------------

    def worker(self, topic: str, group: str) -> GroupWorker:
        handler_register(topic, group=group, func=self.handle)
        config = ConsumerConfig.from_settings(
            block_ms=20, batch_size=self.args.batch, claim_interval_seconds=3600, topic_refresh_seconds=3600
        )
        return GroupWorker(group, consumer="bench", config=config)

    def ours(self, size: int) -> dict[str, float]:
        n, chunk = self.args.events, self.args.chunk
        topic = f"bench.ours.s{size}"
        payloads = [payload_make(size, i, self.rng) for i in range(n)]
        gc.freeze()  # the inputs are not the work: keep the collector from scanning them over and over
        worker = self.worker(topic, f"{GROUP}_{size}")
        worker.poll(block_ms=1)  # creates the group before the clock starts

        started = time.perf_counter()
        for payload in payloads:
            publish_message(topic, payload, tenant="bench")
        publish_single = time.perf_counter() - started
        consume_single = self.drain(worker, n)

        started = time.perf_counter()
        for start in range(0, n, chunk):
            publish_bulk([Message(topic, payload, tenant="bench") for payload in payloads[start : start + chunk]])
        publish_batched = time.perf_counter() - started
        consume_bulk = self.drain(worker, n)
        return {
            "publish": publish_single,
            "publish_bulk": publish_batched,
            "consume": min(consume_single, consume_bulk),
            "e2e": publish_single + consume_single,
            "e2e_bulk": publish_batched + consume_bulk,
        }

    def drain(self, worker: GroupWorker, expected: int) -> float:
        before = worker.stats["applied"]
        started = time.perf_counter()
        worker.drain(block_ms=20, timeout=600)
        elapsed = time.perf_counter() - started
        applied = worker.stats["applied"] - before
        if applied != expected:
            raise SystemExit(f"the worker applied {applied} of {expected} events: {dict(worker.stats)}")
        return elapsed

    # -- bare Redis Streams -----------------------------------------------------------

    def bare(self, size: int) -> dict[str, float]:
        n, chunk, batch = self.args.events, self.args.chunk, self.args.batch
        key = stream_key(f"bench.bare.s{size}")
        group = "bare"
        # The same bytes our path sends (the encoded envelope, gzipped when over 1 KB).
        entries = [envelope_encode(envelope_build("bench.bare", payload_make(size, i, self.rng))) for i in range(n)]
        gc.freeze()
        self.redis.xgroup_create(key, group, id="0", mkstream=True)
        r = self.redis

        started = time.perf_counter()
        for fields in entries:
            r.xadd(key, fields)
        xadd = time.perf_counter() - started
        read_ack = self.bare_consume(key, group, n, batch, commit=False)

        started = time.perf_counter()
        for start in range(0, n, chunk):
            pipe = r.pipeline(transaction=False)
            for fields in entries[start : start + chunk]:
                pipe.xadd(key, fields)
            pipe.execute()
        xadd_pipelined = time.perf_counter() - started
        read_commit_ack = self.bare_consume(key, group, n, batch, commit=True)
        return {
            "publish": xadd,
            "publish_bulk": xadd_pipelined,
            "consume_redis": read_ack,
            "consume": read_commit_ack,
            "e2e": xadd + read_commit_ack,
            "e2e_bulk": xadd_pipelined + read_commit_ack,
        }

    def bare_consume(self, key: str, group: str, n: int, batch: int, *, commit: bool) -> float:
        r = self.redis
        done = 0
        started = time.perf_counter()
        while done < n:
            reply = r.xreadgroup(group, "bare", {key: ">"}, count=batch, block=20)
            if not reply:
                continue
            ids = []
            for entry_id, _fields in reply[0][1]:
                if commit:
                    with transaction.atomic():
                        self.insert(uuid.uuid4(), done)
                ids.append(entry_id)
                done += 1
            r.xack(key, group, *ids)
        return time.perf_counter() - started

    # -- report --------------------------------------------------------------------------

    def run(self) -> None:
        rows = []
        for size in (200, 10_000):
            encoded = envelope_encode(envelope_build("bench.size", payload_make(size, 0, self.rng)))
            wire = len(encoded[b"data"])
            print(f"{size} B payloads: {wire} bytes on the wire ({encoded[b'enc'].decode()})...", flush=True)
            bare = self.bare(size)
            ours = self.ours(size)
            label = "200 B" if size == 200 else "10 KB"
            rows += [
                (label, "publish, one at a time", ours["publish"], "XADD loop", bare["publish"]),
                (label, "publish_bulk", ours["publish_bulk"], "pipelined XADD", bare["publish_bulk"]),
                (label, "consume + handler commit", ours["consume"], "XREADGROUP+INSERT/COMMIT+XACK",
                 bare["consume"]),
                (label, "consume + handler commit", ours["consume"], "XREADGROUP+XACK (no DB)", bare["consume_redis"]),
                (label, "end to end, single publish", ours["e2e"], "XADD, then read+commit+ack", bare["e2e"]),
                (label, "end to end, publish_bulk", ours["e2e_bulk"], "pipelined, read+commit+ack",
                 bare["e2e_bulk"]),
            ]  # fmt: skip
        self.report(rows)

    def report(self, rows) -> None:
        n = self.args.events
        server = self.redis.info("server")["redis_version"]
        print()
        print(
            f"Event bus: {n:,} events per measurement, consumer batch {self.args.batch}, bulk chunk "
            f"{self.args.chunk}; Redis {server}, PostgreSQL {connection.pg_version // 10000}, "
            f"Python {sys.version.split()[0]}"
        )
        print()
        print(f"{'payload':<8}{'our path':<30}{'events/s':>10}   {'bare baseline':<32}{'events/s':>10}{'ratio':>8}")
        print("-" * 100)
        for label, ours_name, ours_s, bare_name, bare_s in rows:
            ours_rate, bare_rate = n / ours_s, n / bare_s
            print(
                f"{label:<8}{ours_name:<30}{ours_rate:>10,.0f}   {bare_name:<32}{bare_rate:>10,.0f}"
                f"{ours_rate / bare_rate:>8.2f}"
            )
        print("-" * 100)
        print("ratio = ours / bare (1.00 = no overhead over the bare commands)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000, help="events per measurement")
    parser.add_argument("--redis-db", type=int, default=13, help="Redis database number to use (and clean)")
    parser.add_argument("--batch", type=int, default=100, help="consumer read batch (XREADGROUP COUNT)")
    parser.add_argument("--chunk", type=int, default=500, help="events per publish_bulk / pipeline")
    args = parser.parse_args()

    settings.MESSAGING_REDIS_URL = redis_url_for_db(args.redis_db)
    settings.MESSAGING_KEY_PREFIX = f"ae-bench-{uuid.uuid4().hex[:8]}:"
    settings.MESSAGING_STREAM_MAXLEN = 0  # keep every entry: trimming is not what we measure
    if ProcessedEvent._meta.db_table not in connection.introspection.table_names():
        raise SystemExit("The database is not migrated: make migrate (or manage.py migrate) first.")
    bench = Bench(args)
    try:
        bench.redis.ping()
    except redis.RedisError as exc:
        raise SystemExit(f"Redis at {settings.MESSAGING_REDIS_URL} does not answer ({exc}); make services-up") from None
    bench.setup()
    try:
        bench.run()
    finally:
        bench.teardown()


if __name__ == "__main__":
    main()
