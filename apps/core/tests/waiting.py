"""Waiting in tests: poll for the condition a test needs, with a deadline,
instead of sleeping for a time that a busy machine may not honour.

    wait_until(lambda: Job.objects.filter(done=True).exists(), what="the job done", logs=consumer.logs)

`wait_until` returns the probe's first truthy answer (so a probe can hand
back what it found) and fails the test on the deadline, naming what it
waited for and appending `logs()` (a subprocess's log, say) when given.
`gone()`, when given, is asked first on every round: a reason (say "the
worker exited (1)") fails the test at once rather than at the deadline."""

import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
import redis
from django.conf import settings

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T],
    *,
    what: str,
    timeout: float = 30.0,
    interval: float = 0.1,
    logs: Callable[[], str] | None = None,
    gone: Callable[[], str | None] | None = None,
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        reason = gone() if gone is not None else None
        if reason:
            pytest.fail(f"{reason} waiting for {what}" + (f"\n{logs()}" if logs is not None else ""))
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(
                f"timed out after {timeout:g} s waiting for {what}" + (f"\n{logs()}" if logs is not None else "")
            )
        time.sleep(interval)


def seconds_to_midnight() -> float:
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return (midnight - now).total_seconds()


def day_clear(margin: float = 120.0) -> None:
    """Return once the next UTC midnight is more than `margin` seconds away
    (at once, but in the last `margin` seconds of a day: then after
    midnight). For tests that read "today" in two places (the rows they
    load, the server's default range): both then see the same day."""
    wait_until(lambda: seconds_to_midnight() > margin, what="a day boundary to pass", timeout=margin + 10, interval=1)


def session_worker_name() -> str:
    """The node name of the session's Celery worker (conftest.py
    `celery_worker_process`)."""
    return f"test-{os.getpid()}@{socket.gethostname()}"


def session_worker_only() -> dict:
    """Arguments that address a control command (add_consumer, inspect, ...)
    to the session's worker and return at its reply: without them a command
    waits its whole timeout for replies from other workers there are none of."""
    return {"destination": [session_worker_name()], "limit": 1}


def celery_idle_wait(timeout: float = 30.0, interval: float = 0.1) -> bool:
    """Until the test Celery worker runs and holds no task and the broker
    queue is empty; False if that did not happen within `timeout`. For
    fixture teardowns (the worker idle before the test's tables are
    flushed), which do not fail a test that passed."""
    from celery_app import app

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        inspect = app.control.inspect(timeout=0.5, **session_worker_only())
        busy = [*((inspect.active() or {}).values()), *((inspect.reserved() or {}).values())]
        if not any(busy) and not broker.llen("celery"):
            return True
        time.sleep(interval)
    return False
