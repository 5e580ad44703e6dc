"""The technical error page (DEBUG on) and the admins' error mail show no
credentials: not the database URL nor any *_URL setting, not a URL's password
wherever it appears, not cookies, auth headers, password fields or tokens."""

import sys

import pytest
from django.test import RequestFactory
from django.utils.functional import SimpleLazyObject
from django.views.debug import get_exception_reporter_class, technical_500_response

from apps.core.error_reports import credentials_mask


# The frames of the traceback come first: the page shows seven source lines
# around each, and source code is not a credential the page could hide.
def _raise_with_credentials_in_locals(dsn, password):
    raise RuntimeError(f"{MESSAGE} (via {dsn.split('@')[1]})")


def _exc_info():
    try:
        _raise_with_credentials_in_locals(LOCAL_DSN, LOCAL_PASSWORD)
    except RuntimeError:
        return sys.exc_info()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgres://ae:pw@127.0.0.1:5432/db", "postgres://ae:********************@127.0.0.1:5432/db"),
        ("redis://:pw@h:6379/0", "redis://:********************@h:6379/0"),
        ("x https://u:p%40ss@h/ y", "x https://u:********************@h/ y"),
        ("postgres://ae@h/db and http://h/path", "postgres://ae@h/db and http://h/path"),  # nothing to mask
    ],
)
def test_credentials_mask(text, expected):
    assert credentials_mask(text) == expected


SECRETS = {
    "Db-Pa55-word",
    "Redis-Pa55",
    "Broker-Pa55",
    "Nested-Pa55",
    "Chan-Pa55",
    "Header-Token-123",
    "Meta-Pa55",
    "Env-Db-Pa55",
    "Session-Cookie-123",
    "Post-Pa55",
    "Query-Tok-123",
    "Local-Pa55",
    "Local-Secret-2",
    "Message-Pa55",
    "Adls-Key-Pa55",
    "Lazy-Pa55",
}


LOCAL_DSN = "postgres://u:Local-Pa55@db.internal/analytics"
LOCAL_PASSWORD = "Local-Secret-2"
MESSAGE = "could not connect to postgres://u:Message-Pa55@db.internal/x"


@pytest.fixture
def leaky_settings(settings):
    settings.DEBUG = True
    settings.DATABASE_URL = "postgres://app:Db-Pa55-word@db.internal:5432/analytics"
    settings.REDIS_URL = "redis://:Redis-Pa55@redis.internal:6379/0"
    settings.CELERY_BROKER_URL = "rediss://default:Broker-Pa55@redis.internal:6380/1"
    # Names that say nothing: only the value gives the credential away.
    settings.AE_SOMETHING_ODD = {"nested": ["amqp://guest:Nested-Pa55@mq.internal/"]}
    settings.AE_CHANNEL_HOSTS = [{"address": "redis://:Chan-Pa55@redis.internal:6379/3"}]
    settings.LAKEHOUSE_TARGETS = {"adls": {"ACCOUNT_KEY": "Adls-Key-Pa55", "ACCOUNT_URL": "https://acct.example"}}
    # A lazy string passes isinstance(str) yet is no str to a regex.
    settings.AE_LAZY_ENDPOINT = SimpleLazyObject(lambda: "https://svc:Lazy-Pa55@lazy.internal/")
    return settings


def _failing_request():
    request = RequestFactory().post(
        "/login/?token=Query-Tok-123&page=2",
        {"username": "someone", "password": "Post-Pa55"},
        HTTP_AUTHORIZATION="Bearer Header-Token-123",
        HTTP_X_UPSTREAM="https://svc:Meta-Pa55@upstream.internal/path",
    )
    request.COOKIES["sessionid"] = "Session-Cookie-123"
    # runserver and some WSGI servers put the process environment into META.
    request.META["DATABASE_URL"] = "postgres://app:Env-Db-Pa55@db.internal/analytics"
    return request


def test_the_technical_500_page_shows_no_credentials(leaky_settings):
    request = _failing_request()
    html = technical_500_response(request, *_exc_info()).content.decode()

    assert "could not connect to" in html  # the page is the real one, and useful:
    assert "db.internal" in html  # hosts stay visible, passwords do not
    assert "_raise_with_credentials_in_locals" in html
    leaked = sorted(secret for secret in SECRETS if secret in html)
    assert leaked == []


def test_the_text_report_of_the_admins_mail_shows_no_credentials(leaky_settings):
    request = _failing_request()
    reporter = get_exception_reporter_class(request)(request, *_exc_info())
    text = reporter.get_traceback_text()
    assert "RuntimeError" in text
    leaked = sorted(secret for secret in SECRETS if secret in text)
    assert leaked == []


def test_settings_that_are_not_secrets_stay_readable(leaky_settings):
    request = _failing_request()
    html = technical_500_response(request, *_exc_info()).content.decode()
    assert "analytics_engine.urls" in html  # ROOT_URLCONF
    assert "page" in html and "someone" in html  # harmless query and form values
