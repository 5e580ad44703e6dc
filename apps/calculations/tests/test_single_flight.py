"""Single flight against the real Redis: identical concurrent requests
compute once across threads and OS processes; a crashed or failing leader
never leaves its waiters hanging; without Redis every request computes."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings

from apps.calculations import cache
from apps.calculations.single_flight import Flight, single_flight
from apps.calculations.types import MetricResult, Point
from apps.core.errors import AppError
from apps.core.tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[3]
JAN = datetime(2026, 1, 1, tzinfo=UTC)
HANG = 60  # "does not hang": far beyond any wait these tests cause


@pytest.fixture
def key():
    """A result key of this test's own; its lock and published results go with it."""
    key = f"ae:calc:test-sf:{uuid.uuid4().hex}"
    yield key
    client = cache.cache_connection()
    leftovers = list(client.scan_iter(match=f"{key}*"))
    if leftovers:
        client.delete(*leftovers)


def result(value: float = 42.0) -> MetricResult:
    return MetricResult(
        metric="revenue",
        unit="EUR",
        granularity="day",
        route="raw",
        cached=False,
        computed_at=datetime.now(UTC),
        series=(Point(bucket=JAN, dims={"region": "EU"}, value=value), Point(bucket=None, dims={}, value=None)),
        domain="finance",
        entities=("orders",),
    )


class Computation:
    """A compute function that takes `seconds` and counts its calls. The
    first call runs `hold` first (e.g. until its waiters wait for it:
    then no waiter comes late, after the result, however busy the machine)."""

    def __init__(self, seconds: float = 0.3, fail: Exception | None = None, hold=None) -> None:
        self.seconds, self.fail, self.hold = seconds, fail, hold
        self.calls = 0
        self.started = threading.Event()
        self._lock = threading.Lock()

    def __call__(self) -> MetricResult:
        with self._lock:
            self.calls += 1
            first = self.calls == 1
        self.started.set()
        if first and self.hold is not None:
            self.hold()
        time.sleep(self.seconds)
        if self.fail is not None and first:
            raise self.fail
        return result(float(self.calls))


class Waiters:
    """How many requests found a leader and wait for it (entered Flight._wait)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def entered(self) -> None:
        with self._lock:
            self.count += 1

    def until(self, count: int) -> None:
        wait_until(lambda: self.count >= count, what=f"{count} waiters", timeout=HANG, interval=0.005)


@pytest.fixture
def waiting(monkeypatch) -> Waiters:
    counter = Waiters()
    wait = Flight._wait

    def counted(flight: Flight, holder: bytes) -> None:
        counter.entered()
        return wait(flight, holder)

    monkeypatch.setattr(Flight, "_wait", counted)
    return counter


def request(key: str, compute, **options) -> tuple[str, MetricResult]:
    """What the orchestrator does around a computation."""
    with single_flight(key, **options) as flight:
        if flight.result is not None:
            return flight.role, flight.result
        value = compute()
        flight.publish(value)
        return flight.role, value


def concurrently(count: int, call) -> list:
    barrier = threading.Barrier(count)

    def one(_):
        barrier.wait(timeout=HANG)
        return call()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count), timeout=HANG))


def test_twenty_threads_compute_once_and_get_the_same_result(key, waiting):
    compute = Computation(seconds=0.3, hold=lambda: waiting.until(19))

    outcomes = concurrently(20, lambda: request(key, compute, timeout=HANG))

    assert compute.calls == 1
    roles = [role for role, _ in outcomes]
    assert roles.count("leader") == 1
    assert roles.count("follower") == 19
    leader_result = next(value for role, value in outcomes if role == "leader")
    for role, value in outcomes:
        assert (value.series, value.computed_at, value.metric, value.entities) == (
            leader_result.series,
            leader_result.computed_at,
            leader_result.metric,
            leader_result.entities,
        )
        assert value.cached is (role == "follower")  # followers did not compute


def test_a_request_after_the_flight_computes_afresh(key):
    """A published result answers the flight's waiters, not later requests
    (after a load, a new request must not read an older answer)."""
    compute = Computation(seconds=0)
    assert request(key, compute)[0] == "leader"
    assert request(key, compute)[0] == "leader"
    assert compute.calls == 2


def test_a_live_leader_keeps_its_lock_beyond_the_lock_ttl(key, waiting):
    compute = Computation(seconds=3, hold=lambda: waiting.until(1))  # 3 s with its follower waiting
    with ThreadPoolExecutor(max_workers=2) as pool:
        leader = pool.submit(request, key, compute, lock_ttl=1.0, timeout=HANG)
        assert compute.started.wait(HANG)
        follower = pool.submit(request, key, compute, lock_ttl=1.0, timeout=HANG)
        assert leader.result(timeout=HANG)[0] == "leader"
        assert follower.result(timeout=HANG)[0] == "follower"
    assert compute.calls == 1


# --- across processes ------------------------------------------------------------

CHILD = """
import json, sys, time
import django
django.setup()
from apps.calculations import cache
from apps.calculations.single_flight import Flight, single_flight
from apps.calculations.tests.test_single_flight import result

key, lock_ttl, waiters, mode = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
client = cache.cache_connection()
wait = Flight._wait


def counted(flight, holder):
    client.incr(key + ":waiting")
    return wait(flight, holder)


Flight._wait = counted  # counts the processes that wait for a leader
print("ready", flush=True)
while not client.exists(key + ":go"):
    time.sleep(0.01)
with single_flight(key, lock_ttl=lock_ttl, timeout=60) as flight:
    if flight.result is None:
        client.incr(key + ":computations")
        print("leading", flush=True)
        while int(client.get(key + ":waiting") or 0) < waiters:  # the others wait for us: none comes late
            time.sleep(0.01)
        if mode == "hang":
            time.sleep(600)
        value = result(7.0)
        flight.publish(value)
    else:
        value = flight.result
print(json.dumps({"role": flight.role, "computed_at": value.computed_at.isoformat()}), flush=True)
"""


def child(key: str, *, waiters: int = 0, lock_ttl: float = 5.0, mode: str = "normal") -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "analytics_engine.settings.test",
        "TEST_REDIS_URL": settings.REDIS_URL,
    }
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, key, str(lock_ttl), str(waiters), mode],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def line_await(process: subprocess.Popen, expected: str) -> None:
    line = process.stdout.readline().strip()
    assert line == expected, f"{line!r}; stderr: {process.stderr.read() if process.poll() is not None else ''}"


def test_processes_contending_on_one_key_compute_once(key):
    processes = [child(key, waiters=2) for _ in range(3)]
    try:
        for process in processes:
            line_await(process, "ready")
        cache.cache_connection().set(f"{key}:go", 1)
        outcomes = []
        for process in processes:
            out, err = process.communicate(timeout=HANG)
            assert process.returncode == 0, err
            outcomes.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for process in processes:
            process.kill()

    assert int(cache.cache_connection().get(f"{key}:computations")) == 1
    assert sorted(o["role"] for o in outcomes) == ["follower", "follower", "leader"]
    assert len({o["computed_at"] for o in outcomes}) == 1  # one result, everywhere


def test_a_waiter_takes_over_from_a_leader_killed_mid_computation(key, waiting):
    leader = child(key, lock_ttl=1.0, mode="hang")
    try:
        line_await(leader, "ready")
        cache.cache_connection().set(f"{key}:go", 1)
        line_await(leader, "leading")
        compute = Computation(seconds=0.2)
        with ThreadPoolExecutor(max_workers=3) as pool:
            waiters = [pool.submit(request, key, compute, lock_ttl=1.0, timeout=HANG) for _ in range(3)]
            waiting.until(3)
            assert compute.calls == 0  # they wait for the live leader
            leader.send_signal(signal.SIGKILL)
            outcomes = [waiter.result(timeout=2 * HANG) for waiter in waiters]
    finally:
        leader.kill()
        leader.wait()

    # Took over when the 1 s lock expired, not at the waiters' own HANG timeout:
    # waiters that time out compute "alone", each (three calls, no follower).
    assert compute.calls == 1
    assert sorted(role for role, _ in outcomes) == ["follower", "follower", "leader"]


# --- failures ----------------------------------------------------------------------


def test_a_leaders_app_error_reaches_its_waiters(key, waiting):
    error = AppError("The calculation took longer than 30 s.", code="query_timeout", status_code=503)
    compute = Computation(seconds=0.3, fail=error, hold=lambda: waiting.until(5))

    def attempt():
        try:
            return request(key, compute, timeout=HANG)
        except AppError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=6) as pool:
        leader = pool.submit(attempt)
        assert compute.started.wait(HANG)
        waiters = [pool.submit(attempt) for _ in range(5)]
        outcomes = [leader.result(timeout=HANG)] + [w.result(timeout=HANG) for w in waiters]

    assert compute.calls == 1
    for outcome in outcomes:
        assert isinstance(outcome, AppError)
        assert (outcome.code, outcome.status_code, outcome.message) == ("query_timeout", 503, error.message)


def test_a_leader_that_crashes_with_a_bug_hands_over_at_once(key, waiting):
    # A lock left to expire would outlive the waiters' HANG timeout (they would
    # then compute "alone", each): a waiter leads only if the lock was released.
    lock_ttl = 10 * HANG
    compute = Computation(seconds=0.3, fail=RuntimeError("bug"), hold=lambda: waiting.until(5))
    with ThreadPoolExecutor(max_workers=6) as pool:
        leader = pool.submit(request, key, compute, timeout=HANG, lock_ttl=lock_ttl)
        assert compute.started.wait(HANG)
        waiters = [pool.submit(request, key, compute, timeout=HANG, lock_ttl=lock_ttl) for _ in range(5)]
        with pytest.raises(RuntimeError):
            leader.result(timeout=HANG)
        outcomes = [w.result(timeout=2 * HANG) for w in waiters]

    assert compute.calls == 2  # the failed computation, and one waiter's
    assert sorted(role for role, _ in outcomes) == ["follower"] * 4 + ["leader"]


def test_a_leaders_not_now_error_is_its_own_and_a_waiter_computes(key, waiting):
    """An AppError with retry_after (the database did not take the leader's
    connection in time, no statement slot freed) says nothing about the
    query: the leader answers its 503, and the waiters are still served."""
    busy = AppError(
        "The database cannot take this request now.", code="database_unavailable", status_code=503, retry_after=5
    )
    compute = Computation(seconds=0.3, fail=busy, hold=lambda: waiting.until(5))
    with ThreadPoolExecutor(max_workers=6) as pool:
        leader = pool.submit(request, key, compute, timeout=HANG, lock_ttl=30)
        assert compute.started.wait(HANG)
        waiters = [pool.submit(request, key, compute, timeout=HANG, lock_ttl=30) for _ in range(5)]
        with pytest.raises(AppError) as raised:
            leader.result(timeout=HANG)
        outcomes = [w.result(timeout=HANG) for w in waiters]

    assert raised.value.code == "database_unavailable"
    assert compute.calls == 2  # the failed computation, and one waiter's
    assert sorted(role for role, _ in outcomes) == ["follower"] * 4 + ["leader"]
    assert {value.series[0].value for _, value in outcomes} == {2.0}


def test_a_waiter_gives_up_after_its_timeout_and_computes(key):
    cache.cache_connection().set(f"{key}:lock", "someone-else", px=HANG * 1000)
    compute = Computation(seconds=0)

    role, value = request(key, compute, timeout=0.5)

    assert role == "alone"
    assert value.series[0].value == 1.0
    assert compute.calls == 1


def test_without_redis_every_request_computes(key, settings, caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
    compute = Computation(seconds=0)
    try:
        with caplog.at_level(logging.WARNING, logger="apps.calculations.single_flight"):
            outcomes = [request(key, compute) for _ in range(2)]
    finally:
        cache.cache_connection_reset()

    assert [role for role, _ in outcomes] == ["alone", "alone"]
    assert compute.calls == 2
    assert "single flight unavailable, computing without it" in caplog.text
