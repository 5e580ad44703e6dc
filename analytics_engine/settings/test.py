"""Test settings: the same real services, on a Redis database of their own so a
running `make run` stack never consumes the test suite's tasks or events."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-long-enough-for-hs256-jwt")
# Metrics samples of a test run (and of the worker subprocesses it starts, which
# inherit this environment) stay out of the development stack's folder.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="ae-prom-"))

from analytics_engine.settings.base import *  # noqa: F403
from analytics_engine.settings.base import CACHES, CHANNEL_LAYERS, REDIS_URL, REST_FRAMEWORK, env

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
WS_HEARTBEAT_SECONDS = 0.2
# Tests share one address; rate limits are exercised by their own test.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"client": "100000/minute", "anon": "100000/minute"}

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
