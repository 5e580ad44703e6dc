import pytest
from celery import current_app as celery

from apps.calculations import cache
from apps.core.tests.factories import MembershipFactory


@pytest.fixture(autouse=True)
def _no_cached_results():
    """Results cached by another test never answer this one."""
    connection = cache.cache_connection()
    for key in connection.scan_iter(f"{cache.PREFIX}:*"):
        connection.delete(key)


@pytest.fixture
def analyst(db):
    return MembershipFactory(role="analyst", is_default=True)


@pytest.fixture
def eager_tasks(settings):
    """Rollups generated on save and `.delay()` run here and now (test_rollups_api
    has its own, without automatic rollups)."""
    settings.AE_ROLLUPS_AUTO = True  # saving a metric queues its entity's rollups
    saved = {key: celery.conf[key] for key in ("task_always_eager", "task_eager_propagates")}
    celery.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    celery.conf.update(saved)
