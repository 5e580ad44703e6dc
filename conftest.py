"""Fixtures shared by every app's tests and the cross-app tests in tests/.

Everything runs against the real services that `make test` starts: PostgreSQL
with TimescaleDB (a test database pytest-django creates), Redis (a database of
its own, see settings/test.py) and, where a test asks for it, a real Celery
worker process."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings
from hypothesis import settings as hypothesis_settings

ROOT = Path(__file__).resolve().parent

# Property tests draw the same examples on every `make test` (a submission must
# not pass or fail by the luck of a draw); HYPOTHESIS_PROFILE=explore draws new
# ones each run, to look for new counterexamples (docs/development.md).
hypothesis_settings.register_profile("repeatable", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

# Fixtures more than one app's tests use, registered once for the whole suite
# (pytest reads pytest_plugins only here, in the rootdir conftest). Nothing in
# them is autouse: a Redis of its own, a consumer or a Slack stand-in starts
# only for a test that asks for it by name.
pytest_plugins = [
    "apps.messaging.tests.bus_fixtures",  # bus_prefix, isolated_handlers, make_worker, private_redis
    "apps.archival.tests.arch_fixtures",  # arch_lake, arch_table
    "apps.calculations.tests.live_fixtures",  # eager_celery, slack
    "apps.connectors.tests.source_servers",  # pg_source, mariadb_source, demo_source_database
]


@pytest.fixture(scope="session", autouse=True)
def _clean_test_redis():
    """Start from an empty test Redis database: no stale tasks or groups."""
    redis.Redis.from_url(settings.REDIS_URL).flushdb()


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def user(db):
    from apps.core.tests.factories import MembershipFactory

    return MembershipFactory(is_default=True).user


@pytest.fixture
def auth_client(api_client, user):
    api_client.force_authenticate(user)
    return api_client


def _test_database_url() -> str:
    db = settings.DATABASES["default"]
    parts = urlsplit(settings.DATABASE_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/" + db["NAME"], parts.query, parts.fragment))


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real `celery -A celery_app worker` subprocess on the test broker and the
    test database. Yields the path of its log file."""
    from apps.core.tests.waiting import session_worker_name
    from celery_app import app

    # Tasks an earlier run left on the test broker must not run against this run's data.
    app.control.purge()
    log_path = tmp_path_factory.mktemp("celery") / "worker.log"
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="analytics_engine.settings.test",
        DATABASE_URL=_test_database_url(),
    )
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--pool", "solo",
             "--hostname", session_worker_name(), "--without-mingle", "--without-gossip", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"Celery worker exited early:\n{log_path.read_text()}")
            if app.control.ping(timeout=0.5):
                break
        else:
            pytest.fail(f"Celery worker did not answer within 60 s:\n{log_path.read_text()}")
        yield log_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def asgi_server(django_db_setup, django_db_blocker, tmp_path_factory):
    """The production ASGI server (daphne: HTTP, static files and /ws/) in a
    subprocess on the test database and Redis; yields {"port", "url", "log"}.
    Tests that use it write through committed transactions
    (`django_db(transaction=True)`), so the server sees their rows."""
    from apps.core.tests.servers import daphne_serving

    try:
        with daphne_serving(tmp_path_factory.mktemp("daphne") / "daphne.log") as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(str(exc))
