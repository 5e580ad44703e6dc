"""Fixtures of the webhook tests (test_webhooks.py, test_webhook_sweep.py):
settings fast enough for tests (`webhook_settings`, which those modules use
for every test), a local receiver, eager Celery tasks."""

import pytest

from apps.messaging.outbound import destination_breaker_reset
from apps.messaging.tests.hook_receiver import Receiver
from apps.messaging.tests.webhook_fixtures import BACKOFF_BASE, BACKOFF_MAX, MAX_ATTEMPTS
from celery_app import app as celery


@pytest.fixture
def webhook_settings(settings):
    settings.MESSAGING_WEBHOOK_ALLOW_PRIVATE = True
    settings.MESSAGING_WEBHOOK_MAX_ATTEMPTS = MAX_ATTEMPTS
    settings.MESSAGING_WEBHOOK_BACKOFF_BASE_SECONDS = BACKOFF_BASE
    settings.MESSAGING_WEBHOOK_BACKOFF_MAX_SECONDS = BACKOFF_MAX
    settings.MESSAGING_WEBHOOK_BREAKER_FAIL_MAX = 50
    settings.MESSAGING_WEBHOOK_BREAKER_RESET_SECONDS = 60
    settings.MESSAGING_WEBHOOK_TIMEOUT_SECONDS = 5.0
    return settings


@pytest.fixture
def receiver():
    running = Receiver().start()
    yield running
    running.stop()
    for host in ("127.0.0.1", "localhost"):  # a later test may get the same port
        destination_breaker_reset(f"http://{host}:{running.port}")


@pytest.fixture
def eager_tasks():
    """`.delay()` runs the task here and now (retries included)."""
    saved = {key: celery.conf[key] for key in ("task_always_eager", "task_eager_propagates")}
    celery.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    celery.conf.update(saved)
