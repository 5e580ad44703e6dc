"""Test settings: the same real services, on a Redis database of their own so a
running `make run` stack never consumes the test suite's tasks or events."""

import base64
import os
import secrets
import tempfile
from pathlib import Path

import environ

# No known key in tests either: the checkout's .env (which `make test` writes)
# or, without one, keys made for this run. They go into os.environ, so the
# worker and server subprocesses a test starts sign and encrypt alike.
_ENV_FILE = Path(__file__).resolve().parent.parent.parent / ".env"
if _ENV_FILE.is_file():
    environ.Env.read_env(_ENV_FILE)
if not os.environ.get("SECRET_KEY"):
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(64)
if not os.environ.get("AE_SECRET_KEKS"):
    os.environ["AE_SECRET_KEKS"] = "test:" + base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")
if not os.environ.get("AE_DEV_IDP_RSA_KEY"):
    # The development provider's signing key, likewise made for the run.
    from apps.identity.dev_provider.keys import rsa_private_key_new_b64

    os.environ["AE_DEV_IDP_RSA_KEY"] = rsa_private_key_new_b64()
# Metrics samples of a test run (and of the worker subprocesses it starts, which
# inherit this environment) stay out of the development stack's folder.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="ae-prom-"))

from analytics_engine.settings.base import *  # noqa: E402, F403
from analytics_engine.settings.base import CACHES, CHANNEL_LAYERS, REDIS_URL, REST_FRAMEWORK, env  # noqa: E402

REDIS_URL = env("TEST_REDIS_URL", default=REDIS_URL.rsplit("/", 1)[0] + "/9")
CACHES = {"default": {**CACHES["default"], "LOCATION": REDIS_URL, "KEY_PREFIX": "ae-test"}}
CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [
    {**CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0], "address": REDIS_URL}
]
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
# Task modules of tests for workers started as production starts them (tests/resilience).
CELERY_IMPORTS = env.list("CELERY_EXTRA_IMPORTS", default=[])
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# Webhook tests deliver to receivers on loopback (the worker subprocess too).
MESSAGING_WEBHOOK_ALLOW_PRIVATE = True
# Source tests read servers on loopback (PostgreSQL, MariaDB, REST and GraphQL stand-ins).
SOURCES_ALLOW_PRIVATE_NETWORKS = True
WS_HEARTBEAT_SECONDS = 0.2
# Tests share one address; rate limits are exercised by their own test.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"client": "100000/minute", "user": "100000/minute", "anon": "100000/minute"}
# Likewise the sign-in lockout: its tests set the limits they exercise.
AUTH_LOCKOUT_FAILURES = 1000
AUTH_LOCKOUT_ADDRESS_FAILURES = 1000
IDENTITY_SIGN_IN_RATE = "100000/minute"
IDENTITY_JWKS_REFETCH_MIN_SECONDS = 0  # key rotation tests refetch at will

# Servers started by tests outlive the flush that renumbers content types (apps/core/tests/server_middleware.py).
MIDDLEWARE = [*MIDDLEWARE, "apps.core.tests.server_middleware.content_types_fresh"]  # noqa: F405

# Parallel test sessions on one machine (several checkouts, say) each name
# their own test database; both aliases must agree for the read-only mirror.
_test_db = env("AE_TEST_DB_NAME", default="test_analytics_engine")
for _alias in DATABASES.values():  # noqa: F405
    _alias["TEST"] = {"NAME": _test_db}

# Background work queued as a side effect (rollup generation on every metric
# saved, recalculation on every load) would otherwise pile up on the test
# broker and run in whatever test next starts a real worker, racing its
# teardown; tests of those paths turn them on (env vars reach worker subprocesses).
AE_ROLLUPS_AUTO = env.bool("AE_ROLLUPS_AUTO", default=False)
AE_LIVE_RECALCULATE = env.bool("AE_LIVE_RECALCULATE", default=False)

# The development OIDC provider is on in tests (docs/identity.md); an overage
# of groups starts low so its test needs few of them.
AE_DEV_IDP_ENABLED = True
# Its local callbacks are plain http (base.py allows only https with the provider off).
OAUTH2_PROVIDER = {
    **OAUTH2_PROVIDER,  # noqa: F405
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
    "ALLOWED_SCHEMES": ["http", "https"],
}
AE_DEV_IDP_GROUPS_OVERAGE_LIMIT = 5
