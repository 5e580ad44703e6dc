"""Rate limits fail open when their Redis is away (issue #15: every API request
answered 500 while Redis was down or paused, because the throttle raised
before any view ran). The counters live on a private redis-server that these
tests pause and kill; the stack's Redis is never touched."""

import logging
import signal

import pytest

from apps.core.rate_limits import rate_limits_reset
from apps.core.tests.factories import MembershipFactory

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]  # a hang on a paused Redis fails, not blocks


@pytest.fixture
def throttle_redis(private_redis, settings):
    settings.THROTTLE_REDIS_URL = private_redis.url
    settings.THROTTLE_REDIS_TIMEOUT_SECONDS = 0.3
    settings.THROTTLE_REDIS_RETRY_SECONDS = 0  # every request asks Redis again
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"client": "100000/minute", "user": "2/minute", "anon": "100000/minute"},
    }
    rate_limits_reset()
    yield private_redis
    private_redis.process.send_signal(signal.SIGCONT)
    if private_redis.process.poll() is not None:
        private_redis.start()
    rate_limits_reset()


@pytest.fixture
def member_client(api_client):
    api_client.force_authenticate(MembershipFactory(is_default=True).user)
    return api_client


def statuses(api_client, n: int) -> list[int]:
    return [api_client.get("/api/v1/me/").status_code for _ in range(n)]


def test_a_paused_redis_lets_requests_through_and_limits_return_with_it(throttle_redis, member_client, caplog):
    assert statuses(member_client, 3) == [200, 200, 429]

    throttle_redis.process.send_signal(signal.SIGSTOP)
    with caplog.at_level(logging.WARNING, logger="apps.core.rate_limits"):
        assert statuses(member_client, 3) == [200, 200, 200]
    assert "rate limits are not enforced" in caplog.text

    throttle_redis.process.send_signal(signal.SIGCONT)
    assert statuses(member_client, 1) == [429]  # the counts were kept; limits hold again


def test_a_dead_redis_lets_requests_through_and_logs_once_per_period(throttle_redis, member_client, settings, caplog):
    settings.THROTTLE_REDIS_RETRY_SECONDS = 60
    throttle_redis.kill()
    with caplog.at_level(logging.WARNING, logger="apps.core.rate_limits"):
        assert statuses(member_client, 5) == [200] * 5
    warnings = [r for r in caplog.records if r.name == "apps.core.rate_limits"]
    assert len(warnings) == 1  # one warning for the outage, not one per request

    throttle_redis.start()
    rate_limits_reset()  # also ends the outage period: Redis is asked again
    assert statuses(member_client, 3) == [200, 200, 429]
