"""Fixtures of the resilience tests: a private redis-server (killed, paused
and restarted at will; the stack's own Redis is never touched) and the
Django cache of this process pointed at it."""

import os
import signal

import pytest

from apps.messaging.tests.bus_fixtures import PrivateRedis

SERVER_HEALTH_CHECK_TIMEOUT_SECONDS = 1.0


class PausableRedis:
    """SIGSTOP / SIGCONT on a PrivateRedis: paused, it still completes TCP
    handshakes (the kernel does, from the listen backlog) and never answers,
    which is what a stuck or swapping Redis looks like to a client."""

    def __init__(self, server: PrivateRedis) -> None:
        self.server = server
        self.paused = False

    def pause(self) -> None:
        os.kill(self.server.process.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.paused:
            os.kill(self.server.process.pid, signal.SIGCONT)
            self.paused = False


@pytest.fixture
def redis_server(private_redis):
    """The module's private Redis, running at the start of each test and
    resumed (restarted if killed) at its end."""
    if private_redis.process is None or private_redis.process.poll() is not None:
        private_redis.start()
    control = PausableRedis(private_redis)
    yield control
    control.resume()
    if private_redis.process.poll() is not None:
        private_redis.start()


@pytest.fixture
def cache_on_private_redis(settings, redis_server):
    """This process's Django cache (throttle counters included) on the private Redis."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": redis_server.server.url}}
    return redis_server


@pytest.fixture(scope="module")
def server_on_private_redis(django_db_setup, private_redis, tmp_path_factory):
    """The real ASGI server (daphne) on the test database, with all of its
    Redis (cache and throttle, Channels, broker, bus) on the private one."""
    from apps.core.tests.servers import daphne_serving

    try:
        with daphne_serving(
            tmp_path_factory.mktemp("daphne") / "daphne.log",
            TEST_REDIS_URL=private_redis.url,
            HEALTH_CHECK_TIMEOUT_SECONDS=str(SERVER_HEALTH_CHECK_TIMEOUT_SECONDS),
        ) as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(str(exc))
