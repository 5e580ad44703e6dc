import pytest

from apps.calculations import cache
from apps.core.tests.factories import MembershipFactory


@pytest.fixture(autouse=True)
def _no_cached_results():
    """Metric results cached by another test never answer this one."""
    connection = cache.cache_connection()
    for key in connection.scan_iter(f"{cache.PREFIX}:*"):
        connection.delete(key)


@pytest.fixture
def analyst(db):
    return MembershipFactory(role="analyst", is_default=True)


@pytest.fixture
def api(api_client, analyst):
    api_client.force_authenticate(analyst.user)
    return api_client
