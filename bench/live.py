"""Live KPIs: how long a load takes to reach a dashboard's WebSocket, beside
the push alone, and one update fanned out to many sockets.

    .venv/bin/python bench/live.py                     # 200 updates, 500 clients

Starts its own stack on a database and a Redis database of its own (never
the development ones): a Celery worker, `manage.py run_consumers` (groups
`calculations` and `calculations.live`) and daphne on a free port, all with
`AE_LIVE_RECALCULATE=true` and a bus key prefix of their own. Creates a
throwaway client, an analyst of it, a time-series entity `reading`
(`observed_at` timestamp, `value` decimal) and the metric `reading_total` =
SUM(value), and connects real socket clients to daphne's /ws/ subscribed to
`metric.reading_total`. Then, measured in the same run:

- **load -> WebSocket** (--updates, after --warmup unmeasured ones): one row
  loaded through the service path (`entity_rows_load`: validation, COPY,
  commit, `ingestion.completed` on the bus); the time runs from the load's
  return (committed and announced) to the frame carrying the day's new total
  at the client: bus -> consumer -> Celery -> recalculation, history and
  `metric.calculated` -> channel layer -> daphne -> socket;
- **push alone** (as many): a bare `group_send` on the channel layer (the
  Redis publish the worker ends with) -> daphne -> the same socket;
- **fan-out** (--clients sockets on the one metric): one load, then one bare
  push; how many sockets received it and the time to the first and the last.

Prints p50/p95 per path and the ratios, then stops the stack and drops what
it made (also on failure). Not a test: it prints numbers (docs/benchmarks.md).
"""

import argparse
import os
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from _bootstrap import ROOT, die_with_parent, django_setup

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--updates", type=int, default=200, help="measured loads (and as many bare pushes)")
parser.add_argument("--warmup", type=int, default=5, help="unmeasured loads first (imports, first connections)")
parser.add_argument("--clients", type=int, default=500, help="sockets subscribed for the fan-out")
parser.add_argument(
    "--database-url",
    default=os.environ.get("AE_BENCH_DATABASE_URL", ""),
    help="default: database ae_bench_live on the DATABASE_URL server (created and migrated if missing)",
)
parser.add_argument(
    "--redis-url",
    default=os.environ.get("AE_BENCH_REDIS_URL", ""),
    help="default: Redis database 12 on the local Redis (the stack's broker, bus and channel layer)",
)
ARGS = parser.parse_args()

os.environ.setdefault("LOG_LEVEL", "WARNING")  # not a log line per load (the stack inherits it too)


def bench_database_url() -> str:
    """The bench's database: --database-url, else `ae_bench_live` beside the
    configured one (created, then migrated, when missing)."""
    if ARGS.database_url:
        return ARGS.database_url
    port = os.environ.get("AE_PG_PORT", "54329")
    parts = urlsplit(os.environ.get("DATABASE_URL", f"postgres://ae:ae@127.0.0.1:{port}/analytics_engine"))
    url = urlunsplit((parts.scheme, parts.netloc, "/ae_bench_live", parts.query, ""))
    import psycopg
    from psycopg import sql

    admin = urlunsplit(("postgresql", parts.netloc, "/postgres", "", ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = 'ae_bench_live'").fetchone() is None:
            print("Creating and migrating the database ae_bench_live...", flush=True)
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("ae_bench_live")))
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                cwd=ROOT, env={**os.environ, "DATABASE_URL": url}, check=True,
            )  # fmt: skip
    return url


REDIS_URL = ARGS.redis_url or f"redis://127.0.0.1:{os.environ.get('AE_REDIS_PORT', '63799')}/12"
os.environ.update(
    DATABASE_URL=bench_database_url(),
    REDIS_URL=REDIS_URL,
    TEST_REDIS_URL=REDIS_URL,  # when run with the test settings (the smoke test)
    MESSAGING_KEY_PREFIX=f"ae-bench-{uuid.uuid4().hex[:8]}:",
    AE_LIVE_RECALCULATE="true",
    AE_ROLLUPS_AUTO="false",
)

django_setup()

import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, connections  # noqa: E402
from rest_framework_simplejwt.tokens import AccessToken  # noqa: E402

from apps.calculations import cache  # noqa: E402
from apps.calculations.realtime import metric_channel  # noqa: E402
from apps.core.models import Client, Membership  # noqa: E402
from apps.core.realtime import realtime_publish  # noqa: E402
from apps.core.tests.ws_client import RawWebSocket  # noqa: E402
from apps.ontology.services.data_load import entity_rows_load  # noqa: E402
from apps.ontology.services.entities import AttributeInput, EntityInput, entity_create, entity_delete  # noqa: E402
from apps.ontology.services.metrics import MetricInput, metric_create, metric_delete  # noqa: E402
from celery_app import app as celery_app  # noqa: E402

METRIC = "reading_total"
CHANNEL = metric_channel(METRIC)
DAY = datetime(2026, 1, 5, tzinfo=UTC)
FRAME_TIMEOUT = 60.0
SETTLE_SECONDS = 2.0  # after the fan-out's handshakes, before its update (the server finishes their bookkeeping)


# --- the stack ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Stack:
    """The worker, the consumers and daphne as subprocesses, logs in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.processes: dict[str, subprocess.Popen] = {}
        self.port = free_port()
        (folder / "prometheus").mkdir()
        self.env = {**os.environ, "DEBUG": "false", "PROMETHEUS_MULTIPROC_DIR": str(folder / "prometheus")}

    def _start(self, name: str, command: list[str]) -> None:
        with (self.folder / f"{name}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(  # noqa: S603 (fixed command lines)
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
            )

    def start(self) -> None:
        python = sys.executable
        self._start("worker", [python, "-m", "celery", "-A", "celery_app", "worker", "--pool", "solo",
                               "--hostname", f"bench-live-{os.getpid()}@%h", "--without-mingle", "--without-gossip",
                               "--loglevel", "WARNING"])  # fmt: skip
        self._start("consumers", [python, "manage.py", "run_consumers", "--group", "calculations",
                                  "--group", "calculations.live"])  # fmt: skip
        self._start("daphne", [str(Path(python).parent / "daphne"), "-b", "127.0.0.1", "-p", str(self.port),
                               "analytics_engine.asgi:application"])  # fmt: skip
        deadline = time.monotonic() + 60
        while not self._listening() or not celery_app.control.ping(timeout=0.5):
            self.check()
            if time.monotonic() > deadline:
                raise SystemExit(f"the stack did not start within 60 s\n{self.logs()}")
            time.sleep(0.2)

    def _listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def check(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise SystemExit(f"{name} exited ({process.returncode})\n{self.logs()}")

    def logs(self) -> str:
        tails = {name: (self.folder / f"{name}.log").read_text(errors="replace")[-3000:] for name in self.processes}
        return "\n".join(f"--- {name}\n{tail}" for name, tail in tails.items())

    def stop(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- sockets ------------------------------------------------------------------------


def subscribed_socket(port: int, token: str) -> RawWebSocket:
    ws = RawWebSocket("127.0.0.1", port, f"/ws/?token={token}", timeout=30)
    ws.send_json({"action": "subscribe", "channel": CHANNEL})
    answer = ws.recv_until(lambda m: m.get("type") in ("subscribed", "error"), timeout=30)
    if answer["type"] != "subscribed":
        raise SystemExit(f"subscribing to {CHANNEL} failed: {answer}")
    return ws


def carries(frame: dict, value: float) -> bool:
    event = frame.get("event") or {}
    return frame.get("channel") == CHANNEL and event.get("value") is not None and abs(event["value"] - value) < 1e-6


def await_frame(ws: RawWebSocket, value: float) -> float:
    """perf_counter() when a frame carrying `value` arrived."""
    ws.recv_until(lambda frame: carries(frame, value), timeout=FRAME_TIMEOUT)
    return time.perf_counter()


def await_all(sockets: list[RawWebSocket], value: float) -> list[float]:
    """Arrival times of the frame carrying `value`, one per socket that got
    it within FRAME_TIMEOUT (read as they become readable)."""
    arrived: list[float] = []
    waiting = selectors.DefaultSelector()
    for ws in sockets:
        waiting.register(ws.sock, selectors.EVENT_READ, ws)
    deadline = time.monotonic() + FRAME_TIMEOUT
    while waiting.get_map() and time.monotonic() < deadline:
        for key, _ in waiting.select(timeout=max(0.0, deadline - time.monotonic())):
            ws = key.data
            while True:  # every frame already here (a heartbeat may come first)
                if carries(ws.recv_json(timeout=5), value):
                    arrived.append(time.perf_counter())
                    waiting.unregister(ws.sock)
                    break
                if not ws.buffer:
                    break
    waiting.close()
    return arrived


# --- the measurements ---------------------------------------------------------------


class Loads:
    """One row per update, all on DAY: each load moves the day's total to a
    value no earlier frame carried."""

    def __init__(self, entity) -> None:
        self.entity = entity
        self.count = 0
        self.total = 0.0

    def one(self) -> tuple[float, float]:
        """Load a row; (seconds the load took, perf_counter() at its return)."""
        self.count += 1
        row = {"observed_at": (DAY + timedelta(seconds=self.count)).isoformat(), "value": self.count}
        started = time.perf_counter()
        result = entity_rows_load(entity=self.entity, rows=[row], source="bench")
        done = time.perf_counter()
        if result.inserted != 1:
            raise SystemExit(f"the load inserted {result.inserted} rows: {result.rejected[:3]}")
        self.total += self.count
        return done - started, done


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(args, stack: Stack, entity, client_id: int, token: str) -> dict:
    loads = Loads(entity)
    ws = subscribed_socket(stack.port, token)
    try:
        for _ in range(args.warmup):
            loads.one()
            await_frame(ws, loads.total)
        load_times, full = [], []
        for _ in range(args.updates):
            took, committed = loads.one()
            full.append(await_frame(ws, loads.total) - committed)
            load_times.append(took)
        bare = []
        for n in range(args.updates):
            marker = -1.0 - n  # values no load gives
            event = {"metric": METRIC, "value": marker, "dims": {}, "bucket": DAY.isoformat(), "source": "bench"}
            sent = time.perf_counter()
            realtime_publish(client_id=client_id, channel=CHANNEL, event=event)
            bare.append(await_frame(ws, marker) - sent)
    finally:
        ws.close()
    stack.check()

    print(f"Connecting {args.clients} sockets...", flush=True)
    sockets = [subscribed_socket(stack.port, token) for _ in range(args.clients)]
    time.sleep(SETTLE_SECONDS)
    try:
        _, committed = loads.one()
        fan_full = [t - committed for t in await_all(sockets, loads.total)]
        marker = -1.0e6
        sent = time.perf_counter()
        realtime_publish(client_id=client_id, channel=CHANNEL,
                         event={"metric": METRIC, "value": marker, "dims": {}, "source": "bench"})  # fmt: skip
        fan_bare = [t - sent for t in await_all(sockets, marker)]
    finally:
        for ws in sockets:
            ws.close()
    return {"load": load_times, "full": full, "bare": bare, "fan_full": fan_full, "fan_bare": fan_bare}


def report(args, numbers: dict) -> None:
    ms = 1000
    full, bare, load = numbers["full"], numbers["bare"], numbers["load"]
    print()
    print(
        f"Live KPIs: {args.updates} updates of metric {METRIC} (SUM by day), one row loaded each; "
        f"PostgreSQL {connection.pg_version // 10000}, Python {sys.version.split()[0]}"
    )
    print(f"the load itself (entity_rows_load, commit and announce): p50 {statistics.median(load) * ms:.1f} ms")
    print()
    print(f"{'path':<52}{'count':>7}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    print("-" * 86)
    for label, values in (
        ("load committed -> WebSocket frame (full path)", full),
        ("bare group_send -> WebSocket frame (push alone)", bare),
    ):
        print(
            f"{label:<52}{len(values):>7}{statistics.median(values) * ms:>9.1f}"
            f"{percentile(values, 0.95) * ms:>9.1f}{max(values) * ms:>9.1f}"
        )
    print("-" * 86)
    print(
        f"ratio full path / push alone: p50 {statistics.median(full) / statistics.median(bare):.1f}x, "
        f"p95 {percentile(full, 0.95) / percentile(bare, 0.95):.1f}x"
    )
    print()
    print(f"Fan-out: {args.clients} sockets subscribed to {CHANNEL}, one update")
    for label, values in (("load committed -> every socket", numbers["fan_full"]),
                          ("bare group_send -> every socket", numbers["fan_bare"])):  # fmt: skip
        first, last = (min(values) * ms, max(values) * ms) if values else (float("nan"), float("nan"))
        print(f"{label:<36} received {len(values)}/{args.clients}, first {first:.1f} ms, last {last:.1f} ms")
    if numbers["fan_full"] and numbers["fan_bare"]:
        ratio = max(numbers["fan_full"]) / max(numbers["fan_bare"])
        print(f"ratio time to the last, full path / push alone: {ratio:.1f}x")


def main() -> None:
    code = f"bench_{uuid.uuid4().hex[:10]}"
    client = Client.objects.create(code=code, name="Live benchmark (throwaway)")
    user = get_user_model().objects.create_user(username=code, password=uuid.uuid4().hex)
    Membership.objects.create(user=user, client=client, role=Membership.Role.ANALYST, is_default=True)
    entity = metric = stack = None
    try:
        entity = entity_create(
            client_id=client.id,
            data=EntityInput(
                code="reading",
                name="Reading",
                kind="time_series",
                time_attribute="observed_at",
                attributes=[
                    AttributeInput("observed_at", "timestamp", nullable=False),
                    AttributeInput("value", "decimal"),
                ],
            ),
        )
        metric = metric_create(
            client_id=client.id,
            data=MetricInput(code=METRIC, name="Reading total", formula="SUM(value)", entity="reading"),
        )
        connections.close_all()
        with tempfile.TemporaryDirectory(prefix="ae-bench-live-") as folder:
            print(f"Starting the worker, the consumers and daphne (Redis {REDIS_URL})...", flush=True)
            stack = Stack(Path(folder))
            stack.start()
            print(f"{args_text()}...", flush=True)
            numbers = measure(ARGS, stack, entity, client.id, str(AccessToken.for_user(user)))
            report(ARGS, numbers)
            stack.stop()
            stack = None
    finally:
        if stack is not None:
            stack.stop()
        cleanup(client, user, entity, metric)


def args_text() -> str:
    return f"{ARGS.warmup} warm-up and {ARGS.updates} measured updates, then {ARGS.updates} bare pushes"


def cleanup(client, user, entity, metric) -> None:
    """Everything the run made: its keys in Redis, the metric, the entity
    and its table, the client (its history goes with it) and the user."""
    client_redis = redis.Redis.from_url(REDIS_URL)
    patterns = [f"{settings.MESSAGING_KEY_PREFIX}*"]
    patterns += [f"{cache.PREFIX}:{part}{client.id}:*" for part in ("", "gen:", "idx:")]
    for pattern in patterns:
        keys = list(client_redis.scan_iter(match=pattern, count=1000))
        if keys:
            client_redis.delete(*keys)
    if metric is not None:
        metric_delete(metric=metric)
    if entity is not None:
        entity_delete(entity=entity, drop_data=True)
    client.delete()
    user.delete()


if __name__ == "__main__":
    main()
