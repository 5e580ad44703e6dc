"""Sign-in lockout (apps.core.login_lockout, django-axes) on the console login,
the admin login and the API token endpoint."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db.models import F, Sum

from apps.core.rate_limits import rate_limits_reset
from apps.core.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pass-word-123"
VICTIM_ADDRESS = "198.51.100.20"


@pytest.fixture
def limits(settings):
    rate_limits_reset()
    settings.AUTH_LOCKOUT_FAILURES = 3
    settings.AUTH_LOCKOUT_ADDRESS_FAILURES = 6
    settings.AUTH_LOCKOUT_COOLOFF_MINUTES = 15
    return settings


@pytest.fixture
def member(db):
    return UserFactory(username="alice")


def console_login(client, username, password, address="127.0.0.1", **extra):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address, **extra)


def token(api_client, username, password, address="127.0.0.1", **extra):
    return api_client.post(
        "/api/v1/auth/token/", {"username": username, "password": password}, REMOTE_ADDR=address, **extra
    )


def test_console_locks_an_account_at_an_address_after_repeated_failures(limits, client, member):
    answers = [console_login(client, "alice", f"wrong-{n}") for n in range(80)]
    assert [a.status_code for a in answers[:2]] == [200, 200]  # the form again, "did not match"
    assert {a.status_code for a in answers[2:]} == {429}
    locked = answers[-1]
    assert "Too many failed sign-in attempts" in locked.content.decode()
    assert int(locked["Retry-After"]) == 15 * 60

    right = console_login(client, "alice", PASSWORD)
    assert right.status_code == 429  # the right password does not get through a lock
    assert "_auth_user_id" not in client.session

    # The owner elsewhere is not locked out by someone guessing at their account.
    assert console_login(client, "alice", PASSWORD, address=VICTIM_ADDRESS).status_code == 302


def test_the_lock_ends_after_the_cool_off(limits, client, member):
    for n in range(3):
        console_login(client, "alice", f"wrong-{n}")
    assert console_login(client, "alice", PASSWORD).status_code == 429
    # The cool-off counts from the latest failure: age them all past it.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=15, seconds=1))
    assert console_login(client, "alice", PASSWORD).status_code == 302


def test_a_success_clears_the_account_count_only(limits, client, member):
    for n in range(2):
        console_login(client, "alice", f"wrong-{n}")
    assert console_login(client, "alice", PASSWORD).status_code == 302
    client.logout()
    for n in range(2):  # two more: under the limit again after the success
        assert console_login(client, "alice", f"again-{n}").status_code == 200
    assert console_login(client, "alice", PASSWORD).status_code == 302


def test_an_address_guessing_at_many_accounts_is_locked_for_all(limits, client, member):
    for n in range(5):  # one guess at each of five accounts: no account reaches its limit
        assert console_login(client, f"someone{n}", "guess").status_code == 200
    # Under the address's limit, a sign-in works, and it clears only its own
    # account's failures: the address's guesses at others still count.
    assert console_login(client, "alice", PASSWORD).status_code == 302
    client.logout()
    assert console_login(client, "someone5", "guess").status_code == 429  # the sixth from this address
    assert console_login(client, "alice", PASSWORD).status_code == 429
    assert console_login(client, "alice", PASSWORD, address=VICTIM_ADDRESS).status_code == 302


def test_forwarded_for_does_not_escape_the_lock(limits, client, member):
    answers = [console_login(client, "alice", "guess", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}") for n in range(75)]
    assert {a.status_code for a in answers[2:]} == {429}


def test_admin_login_is_locked_too(limits, client):
    UserFactory(username="root", is_staff=True, is_superuser=True)

    def admin_login(password):
        return client.post("/admin/login/?next=/admin/", {"username": "root", "password": password})

    answers = [admin_login(f"wrong-{n}").status_code for n in range(5)]
    assert answers == [200, 200, 429, 429, 429]
    assert admin_login(PASSWORD).status_code == 429
    assert "_auth_user_id" not in client.session


def test_api_token_lockout_answers_429_in_the_error_shape(limits, api_client, member):
    answers = [token(api_client, "alice", f"wrong-{n}") for n in range(4)]
    assert [a.status_code for a in answers] == [401, 401, 429, 429]
    body = answers[-1].json()
    assert body["error"]["code"] == "too_many_login_failures"
    assert "Too many failed sign-in attempts" in body["error"]["message"]
    assert int(answers[-1]["Retry-After"]) == 15 * 60

    assert token(api_client, "alice", PASSWORD).status_code == 429
    assert token(api_client, "alice", PASSWORD, address=VICTIM_ADDRESS).status_code == 200


def test_api_token_failures_and_console_failures_add_up(limits, client, api_client, member):
    token(api_client, "alice", "wrong-1")
    console_login(client, "alice", "wrong-2")
    assert token(api_client, "alice", "wrong-3").status_code == 429


class CountingHasher(PBKDF2PasswordHasher):
    """The production hasher (a check takes long enough for guesses sent
    together to be in flight at once), counting the passwords it checks."""

    checked = 0
    _lock = threading.Lock()

    def verify(self, password, encoded):
        with self._lock:
            CountingHasher.checked += 1
        return super().verify(password, encoded)


@pytest.mark.django_db(transaction=True)
def test_guesses_sent_together_get_no_more_password_checks_than_the_limit(limits):
    from django.db import connections
    from django.test import Client

    limits.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    UserFactory(username="bob")
    CountingHasher.checked = 0

    def guess(n: int) -> int:
        try:
            return console_login(Client(), "bob", f"wrong-{n}").status_code
        finally:
            connections.close_all()  # this thread's connection, so the test database can be dropped

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(guess, range(24)))
    # Two "did not match" pages; the third check locks; the rest never reach the password.
    assert sorted(answers) == [200, 200] + [429] * 22
    assert CountingHasher.checked == 3
    assert AccessAttempt.objects.filter(username="bob").aggregate(n=Sum("failures_since_start"))["n"] == 24


def test_the_lockout_page_is_served_under_asgi_too(limits, member):
    """Production serves ASGI (daphne), where the lockout middleware runs its async path."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    client = AsyncClient()
    post = async_to_sync(client.post)
    answers = [post("/accounts/login/", {"username": "alice", "password": f"wrong-{n}"}) for n in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert "Too many failed sign-in attempts" in answers[-1].content.decode()
    assert int(answers[-1]["Retry-After"]) == 15 * 60


@pytest.mark.parametrize("username", ["x" * 300, "é" * 256])
def test_an_overlong_username_is_a_failed_attempt_not_an_error(limits, api_client, client, username):
    assert token(api_client, username, "guess").status_code == 401
    assert token(api_client, username, "guess").status_code == 401
    assert token(api_client, username, "guess").status_code == 429  # counted like any other username
    assert console_login(client, username, "guess").status_code == 429  # the same name on the console
