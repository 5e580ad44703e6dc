"""Fixtures of the event bus tests (imported by the test modules).

- `bus_prefix`: every test gets its own key prefix on the test Redis
  database, deleted afterwards, so bus tests never see each other's streams
  nor disturb the Celery broker keys in the same database;
- `isolated_handlers`: handlers registered in a test are dropped after it;
- `make_worker`: a `GroupWorker` tuned for tests (short blocks, no waiting);
- `PrivateRedis`: a redis-server of our own, run from the services' Debian
  root filesystem like scripts/services.sh does, for tests that kill and
  restart Redis (the shared one is never touched);
- `ConsumerProcess`: `manage.py run_consumers` as a subprocess on the test
  database.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings

from apps.core.tests.servers import database_url_of_tests
from apps.messaging.bus import bus_connection, bus_pools_reset
from apps.messaging.consumer import ConsumerConfig, GroupWorker
from apps.messaging.registry import registrations_isolated

ROOT = Path(__file__).resolve().parents[3]
ROOTFS = Path(os.environ.get("AE_ROOTFS", "/var/cache/analytics-engine/trixie-rootfs"))


@pytest.fixture
def bus_prefix(settings):
    prefix = f"ae-test-{uuid.uuid4().hex[:12]}:"
    settings.MESSAGING_KEY_PREFIX = prefix
    client = bus_connection()  # now: a test may point the bus elsewhere
    yield prefix
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def isolated_handlers():
    with registrations_isolated():
        yield


@pytest.fixture
def make_worker(bus_prefix, isolated_handlers):
    def make(group: str, *, consumer: str = "test-consumer", **overrides) -> GroupWorker:
        config = {
            "block_ms": 20,
            "max_attempts": 3,
            "backoff_seconds": 0.001,
            "backoff_max_seconds": 0.01,
            "claim_interval_seconds": 3600.0,
            "topic_refresh_seconds": 0.0,
            **overrides,
        }
        return GroupWorker(group, consumer=consumer, config=ConsumerConfig.from_settings(**config))

    return make


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server we start, kill and restart at will. Appendonly with
    fsync on every write: a write Redis acknowledged survives a SIGKILL."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir_inside = f"/tmp/ae-bus-test-{uuid.uuid4().hex[:12]}"
        self.dir = ROOTFS / self.dir_inside.lstrip("/")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["chroot", str(ROOTFS), "chown", "redis:redis", self.dir_inside], check=True)
        self.process = subprocess.Popen(
            ["chroot", "--userspec=redis:redis", str(ROOTFS), "redis-server", "--port", str(self.port),
             "--bind", "127.0.0.1", "--dir", self.dir_inside, "--appendonly", "yes", "--appendfsync", "always",
             "--save", "", "--logfile", f"{self.dir_inside}/redis.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
            finally:
                client.close()
        raise RuntimeError(f"private redis-server did not answer on port {self.port}")

    def kill(self) -> None:
        """SIGKILL: no shutdown save; only what was fsynced survives."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def private_redis():
    if os.geteuid() != 0 or not (ROOTFS / "usr/bin/redis-server").exists():
        pytest.skip("needs root and the services' root filesystem to run a private redis-server")
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.remove()
        bus_pools_reset()


class ConsumerProcess:
    """`manage.py run_consumers` on the test database and the given Redis."""

    def __init__(self, log_dir: Path, *, redis_url: str, prefix: str, groups: list[str], **env: str) -> None:
        self.log_dir = log_dir
        self.groups = groups
        self.env = dict(
            os.environ,
            DJANGO_SETTINGS_MODULE="analytics_engine.settings.test",
            DATABASE_URL=database_url_of_tests(),
            TEST_REDIS_URL=settings.REDIS_URL,
            MESSAGING_REDIS_URL=redis_url,
            MESSAGING_KEY_PREFIX=prefix,
            MESSAGING_EXTRA_HANDLER_MODULES="apps.messaging.tests.bus_handlers",
            MESSAGING_BLOCK_MS="200",
            MESSAGING_CLAIM_MIN_IDLE_MS="1000",
            MESSAGING_CLAIM_INTERVAL_SECONDS="0.5",
            MESSAGING_TOPIC_REFRESH_SECONDS="0.5",
            MESSAGING_RECONNECT_MAX_SECONDS="1",
            MESSAGING_SOCKET_CONNECT_TIMEOUT_SECONDS="0.5",
            MESSAGING_MAX_ATTEMPTS="3",
            MESSAGING_RETRY_BACKOFF_SECONDS="0.05",
            LOG_LEVEL="INFO",
            **env,
        )
        self.process: subprocess.Popen | None = None
        self.runs = 0

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"consumer-{self.runs}.log"

    def start(self) -> "ConsumerProcess":
        self.runs += 1
        args = [sys.executable, "manage.py", "run_consumers"]
        for group in self.groups:
            args += ["--group", group]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def logs(self) -> str:
        return "\n".join(
            f"--- run {i}\n" + (self.log_dir / f"consumer-{i}.log").read_text(errors="replace")[-6000:]
            for i in range(1, self.runs + 1)
        )

    def close(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
