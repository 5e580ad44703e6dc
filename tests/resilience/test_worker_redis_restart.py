"""The Celery worker survives Redis being killed while it holds
unacknowledged (acks_late) tasks, and serves again once Redis is back,
without a manual restart: the worker, as `make run` starts it (prefork,
mingle and gossip on), on a private redis-server we kill -9 and restart."""

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from apps.core.tests import waiting
from apps.messaging.tests.bus_fixtures import ROOT
from tests.resilience.tasks import HeldTasks

pytestmark = pytest.mark.django_db


def wait_until(probe: Callable[[], object], *, what: str, worker: subprocess.Popen, log: Path, timeout: float = 90):
    """Poll `probe` until it is truthy; fail on the deadline, or at once if the worker died."""
    return waiting.wait_until(
        probe,
        what=what,
        timeout=timeout,
        logs=lambda: log.read_text()[-6000:],
        gone=lambda: None if worker.poll() is None else f"the worker exited ({worker.returncode})",
    )


@pytest.fixture
def worker_on_private_redis(redis_server, tmp_path, django_db_setup):
    from apps.core.tests.servers import database_url_of_tests

    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "analytics_engine.settings.test",
        "DATABASE_URL": database_url_of_tests(),
        "TEST_REDIS_URL": redis_server.server.url,
    }
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--loglevel", "INFO", "--concurrency", "2",
             "--include", "tests.resilience.tasks", "--hostname", f"resilience-{os.getpid()}@%h"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until(lambda: " ready." in log.read_text(), what="the worker to be ready", worker=process, log=log)
        yield process, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def test_the_worker_survives_a_redis_restart_with_unacknowledged_tasks_in_flight(
    redis_server, worker_on_private_redis, tmp_path
):
    worker, log = worker_on_private_redis
    tasks = HeldTasks(redis_server.server.url, tmp_path / "tasks")
    send, started, finished = tasks.send, tasks.started, tasks.finished

    send("first")
    send("second")
    wait_until(lambda: started("first", "second"), what="both tasks to start", worker=worker, log=log)

    # Both are unacknowledged (acks_late, still running) when Redis dies.
    redis_server.server.kill()
    wait_until(
        lambda: "Connection to broker lost" in log.read_text(), what="the lost connection", worker=worker, log=log
    )
    redis_server.server.start()

    # The tasks the worker held when Redis died complete...
    wait_until(lambda: log.read_text().count("Connected to redis") >= 2, what="a reconnection", worker=worker, log=log)
    (tasks.folder / "release").touch()
    wait_until(lambda: finished("first", "second"), what="the in-flight tasks", worker=worker, log=log)
    # ...and the same worker takes new work (both of its processes are free again).
    send("after")
    wait_until(lambda: finished("after"), what="a task sent after the restart", worker=worker, log=log)

    # It stops cleanly too (the kombu crash would show at shutdown as well).
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0, log.read_text()[-6000:]
    assert "Unrecoverable error" not in log.read_text(), log.read_text()[-6000:]
    tasks.producer.close()
