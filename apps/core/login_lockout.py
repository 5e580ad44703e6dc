"""Password guessing limits for every login: the console (/accounts/login/),
the admin (/admin/login/) and the API token (POST /api/v1/auth/token/), all of
which call django.contrib.auth.authenticate with the request. django-axes
counts the failures (in the database, so the limits hold while Redis is away);
this module sets its policy (docs/console.md, "Sign-in lockout"):

- per account and address: AUTH_LOCKOUT_FAILURES failures of one username
  from one address lock that pair. The owner signing in from elsewhere is not
  locked out, so nobody can lock a victim out by guessing at their account.
- per address: AUTH_LOCKOUT_ADDRESS_FAILURES failures from one address, over
  any usernames, lock the address (one guesser trying many accounts).

Both last AUTH_LOCKOUT_COOLOFF_MINUTES after the latest failure (a try while
locked counts and starts the wait again). A successful sign-in clears the
failures of that username at that address, not the address's other failures:
signing in to one's own account does not wipe out guesses at others.
"""

from datetime import timedelta

from axes.backends import AxesBackend
from axes.exceptions import AxesBackendPermissionDenied
from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_credentials
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied
from django.db import connections, router, transaction
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.core.advisory_locks import advisory_xact_lock
from apps.core.errors import AppError

LOCKOUT_CODE = "too_many_login_failures"
_USERNAME_LENGTH = AccessAttempt._meta.get_field("username").max_length


def failure_limit(request: HttpRequest, credentials: dict | None) -> int:
    """AXES_FAILURE_LIMIT: the per account and address limit, read per request."""
    return settings.AUTH_LOCKOUT_FAILURES


def cool_off(request: HttpRequest | None = None) -> timedelta:
    """AXES_COOLOFF_TIME, read per request."""
    return timedelta(minutes=settings.AUTH_LOCKOUT_COOLOFF_MINUTES)


def attempt_username(request: HttpRequest, credentials: dict | None) -> str | None:
    """AXES_USERNAME_CALLABLE: the username as axes reads it by default, cut to
    the length its records hold (an API caller may send any length; no
    account has a longer name, and a longer one must not fail the insert)."""
    field = settings.AXES_USERNAME_FORM_FIELD
    if credentials:
        username = credentials.get(field)
    else:
        data = getattr(request, "data", request.POST)
        username = data.get(field) if hasattr(data, "get") else None
    return username[:_USERNAME_LENGTH] if isinstance(username, str) else username


def _cool_off_seconds() -> int:
    return int(cool_off().total_seconds())


def lockout_message() -> str:
    minutes = settings.AUTH_LOCKOUT_COOLOFF_MINUTES
    return (
        f"Too many failed sign-in attempts. Sign-in is locked for {minutes} minute{'s' if minutes != 1 else ''}: "
        "try again later."
    )


class LoginLockedOut(AppError):
    status_code = 429
    code = LOCKOUT_CODE

    def __init__(self) -> None:
        seconds = _cool_off_seconds()
        super().__init__(lockout_message(), details={"retry_after_seconds": seconds}, retry_after=seconds)


class LockoutHandler(AxesDatabaseHandler):
    """AXES_HANDLER. AXES_LOCKOUT_PARAMETERS lists the pair first, then the
    address; axes compares one number with one limit, so the address's own
    (higher) limit is folded in: an address over its limit reports the pair's
    limit as reached."""

    def get_failures(self, request, credentials: dict | None = None) -> int:
        pair, address = (
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        if address >= settings.AUTH_LOCKOUT_ADDRESS_FAILURES:
            return max(pair, failure_limit(request, credentials))
        return pair

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        if request is not None and getattr(request, "axes_failure_counted", False):
            request.axes_failure_counted = False  # LockoutBackend counted this attempt when it began
            return
        super().user_login_failed(sender, credentials, request, **kwargs)

    def reset_user_attempts(self, request, credentials: dict | None = None) -> int:
        username = get_client_username(request, credentials)
        count, _ = AccessAttempt.objects.filter(username=username, ip_address=request.axes_ip_address).delete()
        return count


class LockoutBackend(AxesBackend):
    """First in AUTHENTICATION_BACKENDS: the password check with the lockout
    around it. The lock is checked and the attempt counted as a failure
    before the password is, in one step per address (a transaction holding an
    advisory lock on it): attempts sent together cannot all pass the check
    before any of them is counted. A right password then takes its count
    back (and clears that username's failures at that address).

    A call without a request (a management command, a test) has no address
    to count and is no guessing surface: a plain password check. (An
    AxesBackend for axes' system check; its own authenticate is replaced.)"""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None or not settings.AXES_ENABLED:
            return ModelBackend.authenticate(self, request, username, password, **kwargs)
        credentials = get_credentials(username)
        with transaction.atomic(using=router.db_for_write(AccessAttempt)):
            AxesProxyHandler.update_request(request)
            advisory_xact_lock(_lock_key(request), db=connections[router.db_for_write(AccessAttempt)])
            if not AxesProxyHandler.is_allowed(request, credentials):
                # Django's authenticate() then reports the failure, which axes counts.
                raise AxesBackendPermissionDenied("locked out")
            AxesProxyHandler.user_login_failed(sender=self, credentials=credentials, request=request)
            request.axes_failure_counted = True
        user = ModelBackend.authenticate(self, request, username, password, **kwargs)
        if user is None:
            raise PermissionDenied("wrong credentials")  # counted already; no other backend tries again
        AxesProxyHandler.get_implementation().reset_user_attempts(request, credentials)
        request.axes_locked_out = False
        return user


def _lock_key(request) -> str:
    return f"ae:login:{request.axes_ip_address}"


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE, for the pages (console and admin login): the
    sign-in page again, with the lockout message, as a 429 with Retry-After.
    The API token view raises LoginLockedOut instead (the API's error shape)."""
    username = get_client_username(request, credentials) or ""
    # Unbound: a bound form would authenticate again to show its errors.
    form = AuthenticationForm(request, initial={"username": username})
    context = {
        "form": form,
        "locked_out": True,
        "lockout_message": lockout_message(),
        "next": request.POST.get("next", ""),
    }
    response = render(request, "registration/login.html", context, status=429)
    response["Retry-After"] = str(_cool_off_seconds())
    return response
