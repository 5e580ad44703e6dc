"""Fixtures of the end-to-end lifecycles: every part of the stack in its own
process, as production runs it, on the test database and the test Redis.

- `live_env`: the environment the subprocesses inherit, with live
  recalculation on (the test settings turn it off by default) and a bus
  tuned for tests (short blocks and topic refreshes);
- `worker`: the real Celery worker (`celery_worker_process`, started with
  that environment), idle again before the test's tables are flushed;
- `consumers`: a real `manage.py run_consumers` for the calculation
  engine's groups (cache invalidation, live recalculation, thresholds);
- `server`: the real ASGI server (daphne) serving /ws/ and the API;
- `stack_logs` / `stack_tail`: every subprocess's log, and its tail for
  failure messages (`wait_for` prints it on a timeout).
"""

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings

from apps.core.tests.waiting import celery_idle_wait, wait_until
from apps.messaging.tests.bus_fixtures import ConsumerProcess

CALCULATION_GROUPS = ["calculations", "calculations.live", "calculations.thresholds"]
LIVE_ENV = {
    "AE_LIVE_RECALCULATE": "true",
    "MESSAGING_BLOCK_MS": "200",
    "MESSAGING_TOPIC_REFRESH_SECONDS": "0.5",
}


@pytest.fixture(scope="session")
def live_env():
    """Live recalculation on in this process and every subprocess started
    after it (they copy os.environ). Must come before the worker starts."""
    saved = {key: os.environ.get(key) for key in LIVE_ENV}
    os.environ.update(LIVE_ENV)
    yield LIVE_ENV
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def stack_logs() -> dict[str, Path]:
    return {}


@pytest.fixture
def worker(live_env, request, stack_logs):
    """The session's Celery worker, with live recalculation on; waits after
    the test until it holds no task (a recalculation racing the flush of the
    test's tables would fail in the next test)."""
    log_path = request.getfixturevalue("celery_worker_process")
    stack_logs["celery worker"] = log_path
    yield log_path
    celery_idle_wait(timeout=30)


@pytest.fixture
def consumers(live_env, tmp_path, stack_logs):
    """`manage.py run_consumers` for the calculation engine's groups, on the
    test database and the bus of the test Redis (the default key prefix, as
    the worker and the server use)."""
    process = ConsumerProcess(
        tmp_path,
        redis_url=settings.REDIS_URL,
        prefix=settings.MESSAGING_KEY_PREFIX,
        groups=CALCULATION_GROUPS,
        AE_LIVE_RECALCULATE=live_env["AE_LIVE_RECALCULATE"],
    ).start()
    stack_logs["run_consumers"] = process.log_path
    yield process
    process.signal(15)  # SIGTERM: finish the message in hand
    try:
        process.wait(timeout=20)
    finally:
        process.close()


@pytest.fixture
def server(asgi_server, stack_logs):
    stack_logs["daphne"] = asgi_server["log"]
    return asgi_server


@pytest.fixture
def stack_tail(stack_logs) -> Callable[[], str]:
    """The tail of every subprocess's log, for failure messages."""

    def tail() -> str:
        return "\n".join(
            f"--- {name} ({path})\n{Path(path).read_text(errors='replace')[-4000:]}"
            for name, path in stack_logs.items()
            if Path(path).exists()
        )

    return tail


@pytest.fixture
def wait_for(stack_tail) -> Callable:
    """`wait_for(probe, what=..., timeout=...)`: poll `probe` until it returns
    something truthy and return that; on the deadline fail with `what` and
    the tail of every subprocess's log."""

    def wait(probe: Callable, *, what: str, timeout: float = 60.0, interval: float = 0.1):
        return wait_until(probe, what=what, timeout=timeout, interval=interval, logs=stack_tail)

    return wait
