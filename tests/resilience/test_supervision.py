"""`make run`'s supervisor (scripts/supervisord.conf): the platform's real
processes (web, worker, beat, consumers) on the test database and a private
Redis. A child killed with SIGKILL is started again (a new pid, logged)
while the others keep serving, and SIGTERM stops them all; Redis killed
while the worker holds unacknowledged tasks, then restarted, and the stack
serves again with no manual restart."""

import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from apps.core.tests.waiting import wait_until
from apps.messaging.tests.bus_fixtures import ROOT
from tests.resilience.tasks import HeldTasks

pytestmark = pytest.mark.django_db(transaction=True)
CONFIG = ROOT / "scripts" / "supervisord.conf"
PROGRAMS = ("web", "worker", "beat", "consumers")


def health_status(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def spawned(log: Path, program: str) -> list[int]:
    return [int(pid) for pid in re.findall(rf"spawned: '{program}' with pid (\d+)", log.read_text(errors="replace"))]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone too: it waits only for its parent to reap it.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[1][0] != "Z"


@pytest.fixture
def supervised(redis_server, tmp_path):
    from apps.core.tests.servers import database_url_of_tests, free_port

    port = free_port()
    log = tmp_path / "supervisord.log"
    env = {
        **os.environ,
        "AE_VENV": str(Path(sys.executable).parent.parent),
        "PORT": str(port),
        "DJANGO_SETTINGS_MODULE": "analytics_engine.settings.test",
        "DATABASE_URL": database_url_of_tests(),
        "TEST_REDIS_URL": redis_server.server.url,
        "CELERY_EXTRA_IMPORTS": "tests.resilience.tasks",
    }
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "supervisord"), "-n", "-c", str(CONFIG), "-j", str(tmp_path / "pid")],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield process, port, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()


def waiter(supervisor: subprocess.Popen, log: Path) -> Callable:
    def wait_for(probe: Callable[[], object], what: str, timeout: float = 180):
        return wait_until(
            probe,
            what=what,
            timeout=timeout,
            interval=0.2,
            logs=lambda: log.read_text()[-8000:],
            gone=lambda: None if supervisor.poll() is None else f"supervisord exited ({supervisor.returncode})",
        )

    return wait_for


def all_running(wait_for: Callable, port: int, log: Path) -> None:
    for program in PROGRAMS:
        wait_for(lambda p=program: f"success: {p} entered RUNNING state" in log.read_text(), f"{program} running")
    wait_for(lambda: health_status(port) == 200, "/health 200 (every dependency up, the worker answering)")


def test_a_killed_process_is_restarted_and_the_others_keep_serving(supervised):
    supervisor, port, log = supervised
    wait_for = waiter(supervisor, log)
    all_running(wait_for, port, log)

    # The consumers die: started again with a new pid, the web serving throughout.
    first = spawned(log, "consumers")[-1]
    os.kill(first, signal.SIGKILL)
    statuses = []

    def restarted() -> int | None:
        statuses.append(health_status(port))
        pids = spawned(log, "consumers")
        return pids[-1] if pids[-1] != first and alive(pids[-1]) else None

    second = wait_for(restarted, "the consumers started again")
    assert set(statuses) == {200}, statuses
    assert "exited: consumers (terminated by SIGKILL; not expected)" in log.read_text()
    assert not alive(first)

    # The worker dies too: started again, and /health sees it answer again.
    worker = spawned(log, "worker")[-1]
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: spawned(log, "worker")[-1] != worker, "the worker started again")
    wait_for(lambda: health_status(port) == 200, "/health 200 with the new worker")
    assert all(alive(spawned(log, program)[-1]) for program in PROGRAMS)

    # SIGTERM stops every process, then supervisord.
    children = [spawned(log, program)[-1] for program in PROGRAMS] + [second]
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=120) == 0, log.read_text()[-8000:]
    assert not any(alive(pid) for pid in children), log.read_text()[-8000:]


def test_the_stack_serves_again_after_redis_is_killed_under_unacknowledged_tasks(supervised, redis_server, tmp_path):
    supervisor, port, log = supervised
    wait_for = waiter(supervisor, log)
    all_running(wait_for, port, log)
    web = spawned(log, "web")[-1]
    tasks = HeldTasks(redis_server.server.url, tmp_path / "tasks")
    send, finished = tasks.send, tasks.finished

    send("first")
    send("second")
    wait_for(lambda: tasks.started("first", "second"), "both tasks running")

    redis_server.server.kill()
    wait_for(lambda: "Connection to broker lost" in log.read_text(), "the worker losing the broker")
    redis_server.server.start()

    (tasks.folder / "release").touch()
    wait_for(lambda: finished("first", "second"), "the tasks held when Redis died to finish")
    wait_for(lambda: health_status(port) == 200, "/health 200 again (Redis, the bus and a worker answering)")
    send("after")
    wait_for(lambda: finished("after"), "a task sent after the restart")

    # Whatever exited was started again; the web server never had to.
    assert all(alive(spawned(log, program)[-1]) for program in PROGRAMS), log.read_text()[-8000:]
    assert spawned(log, "web")[-1] == web
    tasks.producer.close()
