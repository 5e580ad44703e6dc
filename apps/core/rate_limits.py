"""Rate limit counters in Redis: one atomic step per hit, and open when Redis is away.

Each hit is one Lua script in Redis (the `limits` library's sliding window
counter): it reads the window, decides and counts in one step, so concurrent
requests are each counted once and no more than the limit are let through
(DRF's own throttle read a history list, appended, and wrote it back: requests
in flight together overwrote each other's entries).

Failure modes:
- Redis down, paused or unreachable: the client's connect and socket timeouts
  (THROTTLE_REDIS_TIMEOUT_SECONDS) bound the wait, redis-py does not retry, and
  the hit is allowed: a rate limit is a guard against abuse, not a reason to
  refuse every request while Redis is away. After a failure the counters are
  skipped for THROTTLE_REDIS_RETRY_SECONDS (requests are not each made to wait
  the timeout), and the warning is logged once per such period.
- Login guessing stays limited meanwhile: the lockout counts failures in the
  database (apps.core.login_lockout), not here.
"""

import functools
import logging
import math
import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from limits import RateLimitItem, parse
from limits.storage import RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after: int | None = None  # seconds, when refused


class _Outage:
    """When Redis last failed us: until then, hits are allowed without asking it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.until = 0.0

    def active(self) -> bool:
        return time.monotonic() < self.until

    def begin(self, error: Exception) -> None:
        with self._lock:
            if self.active():
                return
            self.until = time.monotonic() + settings.THROTTLE_REDIS_RETRY_SECONDS
        logger.warning(
            "rate limits are not enforced for %.0f s: Redis did not answer (%s: %s)",
            settings.THROTTLE_REDIS_RETRY_SECONDS,
            type(error).__name__,
            error,
        )

    def end(self) -> None:
        self.until = 0.0


_outage = _Outage()


@functools.cache
def _limiter(url: str, timeout: float, prefix: str) -> SlidingWindowCounterRateLimiter:
    storage = RedisStorage(
        url,
        key_prefix=prefix,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),  # one try: the timeout is the whole wait
    )
    return SlidingWindowCounterRateLimiter(storage)


def _current_limiter() -> SlidingWindowCounterRateLimiter:
    # Read per call, so settings that move Redis (tests, a private server) move the counters too.
    return _limiter(
        settings.THROTTLE_REDIS_URL or settings.REDIS_URL,
        settings.THROTTLE_REDIS_TIMEOUT_SECONDS,
        settings.THROTTLE_KEY_PREFIX,
    )


@functools.lru_cache(maxsize=64)
def _item(rate: str) -> RateLimitItem:
    return parse(rate)


def rate_limit_hit(*, rate: str | None, scope: str, ident: str) -> RateDecision:
    """Count one request of `ident` against `rate` ("1200/minute"); allowed
    while the window holds fewer than the limit. No rate: no limit."""
    if not rate or _outage.active():
        return RateDecision(allowed=True)
    item = _item(rate)
    limiter = _current_limiter()
    try:
        if limiter.hit(item, scope, ident):
            _outage.end()
            return RateDecision(allowed=True)
        reset_at = limiter.get_window_stats(item, scope, ident).reset_time
    except redis.RedisError as error:
        _outage.begin(error)
        return RateDecision(allowed=True)
    return RateDecision(allowed=False, retry_after=max(1, math.ceil(reset_at - time.time())))


def rate_limits_reset() -> None:
    """Forget every counter (tests; an operator lifting limits at once)."""
    _outage.end()
    _current_limiter().storage.reset()
