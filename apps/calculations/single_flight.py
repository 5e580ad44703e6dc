"""Single flight: identical concurrent calculations run once, across threads
and processes (ARCHITECTURE.md, section 5.5).

    with single_flight(key) as flight:
        if flight.result is not None:  # another request computed it while we waited
            return flight.result
        # We lead (or run alone, see Flight.role). A flight that ended between
        # our cache miss and our lock may have cached the answer: look again.
        result = cache.result_get(key) or compute_and_store()
        flight.publish(result)         # the waiters get it, stored in the cache or not
        return result

`key` is the result's cache key. The first caller takes a Redis lock
(`SET <key>:lock <token> NX PX <ttl>`) and computes; a heartbeat thread
renews the lock every ttl/3 while it does. The others poll (a few ms at
first, then every 50 ms) for the result the leader publishes under
`<key>:flight:<token>` for RESULT_TTL_SECONDS; publishing and releasing the
lock are one script, so a request that arrives after the release leads a
new flight instead of reading an older answer. Results travel in the cache's
JSON format and reach the waiters as `cached=True`: they did not compute.

When the leader fails:

- it raises an AppError (query timeout, too many rows, bad data...): the
  error is published and every waiter raises the same AppError. The same
  inputs would fail the same way, and 100 waiters retrying a statement that
  timed out after 30 s one after the other is worse than one error each;
- it raises an AppError that says "not now" (`retry_after` set: no database
  connection within the connect timeout, no calculation slot free in time),
  anything else, or returns without publishing: the lock is released and
  one waiter takes over at its next poll. The leader's request answers its
  error; the waiters' may still be served;
- it dies (SIGKILL, OOM, a lost node): the heartbeat stops, the lock expires
  within LOCK_TTL_SECONDS and one waiter takes over.

A waiter never waits longer than `timeout` overall; then, or when Redis is
unavailable, it computes without coordination (`role == "alone"`) and logs
a warning. Redis being down costs duplicate work, never an answer.
"""

import json
import logging
import random
import threading
import time
import uuid
from typing import Any, Literal

import redis
from django.conf import settings
from redis.commands.core import Script

from apps.calculations import cache
from apps.calculations.runner import slot_wait_seconds
from apps.calculations.types import MetricResult
from apps.core.errors import AppError

logger = logging.getLogger(__name__)

# A dead leader holds waiters up for at most this long; a live one renews
# every third of it, so only a process stalled for the whole TTL (or a Redis
# that cannot be reached for that long) lets a second leader in.
LOCK_TTL_SECONDS = 5.0
RESULT_TTL_SECONDS = 30  # waiters read the result within a poll interval of its publication
POLL_FIRST_SECONDS = 0.005
POLL_MAX_SECONDS = 0.05

Role = Literal["leader", "follower", "alone"]
_RESULT, _ERROR = b"r", b"e"  # first byte of a published value

# Scripts are called with `client=`: they are bound to no client (bytes, so
# computing their SHA needs no client's encoder either).
# KEYS: lock. ARGV: token, ttl ms. Nil when we took the lock, else the holder's token.
_ACQUIRE = Script(
    None,
    b"""
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return false
end
return redis.call('GET', KEYS[1])
""",
)
# KEYS: lock. ARGV: token, ttl ms.
_RENEW = Script(
    None,
    b"""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
""",
)
# KEYS: lock. ARGV: token.
_RELEASE = Script(
    None,
    b"""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
""",
)
# KEYS: lock, result. ARGV: token, value, result ttl ms. Publish, then release:
# one step, so no request sees the lock gone and the result missing.
_PUBLISH = Script(
    None,
    b"""
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 1
""",
)


def _lock_key(key: str) -> str:
    return f"{key}:lock"


def _result_key(key: str, token: bytes | str) -> str:
    return f"{key}:flight:{token.decode() if isinstance(token, bytes) else token}"


def _default_timeout() -> float:
    # A computation waits for a statement slot (runner.calculation_slot), then
    # runs one statement, which the database stops at the statement timeout;
    # one takeover after a crash may add a lock TTL.
    return slot_wait_seconds() + settings.AE_CALC_STATEMENT_TIMEOUT_MS / 1000 + LOCK_TTL_SECONDS


class _Heartbeat(threading.Thread):
    """Renews the leader's lock every ttl/3 until stopped."""

    def __init__(self, client: redis.Redis, lock: str, token: str, ttl_ms: int) -> None:
        super().__init__(name="single-flight-heartbeat", daemon=True)
        self.client, self.lock, self.token, self.ttl_ms = client, lock, token, ttl_ms
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.ttl_ms / 3000):
            try:
                renewed = _RENEW(keys=[self.lock], args=[self.token, self.ttl_ms], client=self.client)
            except redis.RedisError as exc:
                logger.warning("single flight: could not renew %s, retrying: %s", self.lock, exc)
                continue
            if not renewed and not self.stopped.is_set():
                logger.warning("single flight: lost %s while computing; another request may compute too", self.lock)
                return

    def stop(self) -> None:
        self.stopped.set()


class Flight:
    """One request's part in a single flight; use as `with single_flight(...)`.

    After entering, `role` says what happened:

    - "follower": `result` holds the result another request computed;
    - "leader": `result` is None; compute, then `publish(result)`;
    - "alone": `result` is None; compute (Redis unavailable, or the wait
      timed out); `publish` does nothing.

    A follower whose leader failed with an AppError raises it from the
    `with` statement."""

    def __init__(self, key: str, *, timeout: float | None = None, lock_ttl: float = LOCK_TTL_SECONDS) -> None:
        self.key = key
        self.timeout = _default_timeout() if timeout is None else timeout
        self.lock_ttl_ms = max(1, int(lock_ttl * 1000))
        self.token = uuid.uuid4().hex
        self.role: Role = "alone"
        self.result: MetricResult | None = None
        self._client: redis.Redis | None = None
        self._heartbeat: _Heartbeat | None = None
        self._done = False

    @property
    def led(self) -> bool:
        return self.role == "leader"

    def __enter__(self) -> "Flight":
        try:
            self._client = cache.cache_connection()
            holder = self._acquire()
            if holder is not None:
                self._wait(holder)
        except redis.RedisError as exc:
            logger.warning("single flight unavailable, computing without it: %s", exc)
            self._lead_stop()
            self.role = "alone"
        return self

    def __exit__(self, exc_type, exc, tb) -> Literal[False]:
        if self.role == "leader" and not self._done:
            if isinstance(exc, AppError) and exc.retry_after is None:
                self._publish(_ERROR + _error_encode(exc))
            else:
                self._release()
        return False

    def publish(self, result: MetricResult) -> None:
        """Hand `result` to the waiters and release the lock (leader only;
        once). Redis errors are logged: the waiters then take over."""
        if self.role == "leader" and not self._done:
            self._publish(_RESULT + cache.result_encode(result).encode())

    # --- the leader ----------------------------------------------------------------

    def _acquire(self) -> bytes | None:
        """Take the lock (becoming the leader) and return None, or return the holder's token."""
        assert self._client is not None
        holder = _ACQUIRE(keys=[_lock_key(self.key)], args=[self.token, self.lock_ttl_ms], client=self._client)
        if holder is None:
            self.role = "leader"
            self._heartbeat = _Heartbeat(self._client, _lock_key(self.key), self.token, self.lock_ttl_ms)
            self._heartbeat.start()
        return holder

    def _lead_stop(self) -> None:
        self._done = True
        if self._heartbeat is not None:
            self._heartbeat.stop()

    def _publish(self, value: bytes) -> None:
        self._lead_stop()
        try:
            _PUBLISH(
                keys=[_lock_key(self.key), _result_key(self.key, self.token)],
                args=[self.token, value, RESULT_TTL_SECONDS * 1000],
                client=self._client,
            )
        except redis.RedisError as exc:
            logger.warning("single flight: could not publish %s; waiters will compute: %s", self.key, exc)

    def _release(self) -> None:
        self._lead_stop()
        try:
            _RELEASE(keys=[_lock_key(self.key)], args=[self.token], client=self._client)
        except redis.RedisError as exc:
            logger.warning(
                "single flight: could not release %s; it expires in %s ms: %s", self.key, self.lock_ttl_ms, exc
            )

    # --- the waiters ---------------------------------------------------------------

    def _wait(self, holder: bytes) -> None:
        """Poll until the holder's result arrives (follower), the lock is free
        with no result (take over: leader), or the timeout (alone)."""
        assert self._client is not None
        deadline = time.monotonic() + self.timeout
        delay = POLL_FIRST_SECONDS
        while (remaining := deadline - time.monotonic()) > 0:
            # Jitter, so a hundred waiters do not poll in step.
            time.sleep(min(remaining, delay * random.uniform(0.8, 1.2)))  # noqa: S311
            delay = min(delay * 2, POLL_MAX_SECONDS)
            lock, value = self._client.mget(_lock_key(self.key), _result_key(self.key, holder))
            if value is not None:
                self._receive(value)
                return
            if lock is None:  # the leader failed or died without an answer
                holder = self._acquire()
                if holder is None:
                    logger.info("single flight: took over %s from a leader that left without a result", self.key)
                    return
            elif lock != holder:  # someone else took over; follow them
                holder = lock
        logger.warning("single flight: waited %.1f s for %s, computing without it", self.timeout, self.key)
        self.role = "alone"

    def _receive(self, value: bytes) -> None:
        kind, payload = value[:1], value[1:]
        if kind == _ERROR:
            error = json.loads(payload)
            self.role = "follower"
            raise AppError(
                error["message"], code=error["code"], details=error["details"], status_code=error["status_code"]
            )
        try:
            result = cache.result_decode(payload) if kind == _RESULT else None
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("single flight: unreadable result for %s: %s", self.key, exc)
            result = None
        if result is None:
            logger.warning("single flight: unreadable result for %s, computing without it", self.key)
            self.role = "alone"
            return
        self.role, self.result = "follower", result


def _error_encode(exc: AppError) -> bytes:
    error: dict[str, Any] = {
        "message": exc.message,
        "code": exc.code,
        "details": exc.details,
        "status_code": exc.status_code,
    }
    return json.dumps(error, default=str).encode()


def single_flight(key: str, *, timeout: float | None = None, lock_ttl: float = LOCK_TTL_SECONDS) -> Flight:
    """Coordinate the computation of the result cached under `key` with every
    other request for it, in this process or another (see the module doc).

    timeout: the longest a waiter waits before computing itself (default: the
    wait for a statement slot, AE_CALC_SLOT_WAIT_SECONDS, plus the statement
    timeout, AE_CALC_STATEMENT_TIMEOUT_MS, plus one lock TTL).
    lock_ttl: seconds a leader that stopped renewing keeps the lock."""
    return Flight(key, timeout=timeout, lock_ttl=lock_ttl)
