"""What every sign-in page shares: the login page rendered with a message
(a refusal, a lockout, a rate limit) and the per-address rate limit of every
sign-in path (IDENTITY_SIGN_IN_RATE; counted in Redis by apps.core.rate_limits,
open when Redis is away, while password guessing stays limited by the
lockout in the database)."""

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.core.client_address import client_address
from apps.core.rate_limits import RateDecision, rate_limit_hit

LOGIN_TEMPLATE = "registration/login.html"


def login_page(
    request: HttpRequest,
    *,
    status: int = 200,
    sso_error: str = "",
    email: str = "",
    form: AuthenticationForm | None = None,
    next_url: str = "",
    retry_after: int | None = None,
) -> HttpResponse:
    context = {
        "form": form or AuthenticationForm(request),
        "sso_error": sso_error,
        "email": email,
        "next": next_url or request.GET.get("next", "") or request.POST.get("next", ""),
    }
    response = render(request, LOGIN_TEMPLATE, context, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def sign_in_rate_hit(request: HttpRequest) -> RateDecision:
    """Count this sign-in request against its address (one budget shared by
    every sign-in path, the development provider's sign-in page included)."""
    return rate_limit_hit(
        rate=settings.IDENTITY_SIGN_IN_RATE, scope="sign_in", ident=client_address(request) or "unknown"
    )


def sign_in_rate_message(retry_after: int | None) -> str:
    return f"Too many sign-in requests from your address; try again in {retry_after} seconds."


def sign_in_rate_limited(request: HttpRequest) -> HttpResponse | None:
    """Count this sign-in request against its address; the login page with a
    429 when over the limit, else None."""
    decision = sign_in_rate_hit(request)
    if decision.allowed:
        return None
    return login_page(
        request,
        status=429,
        sso_error=sign_in_rate_message(decision.retry_after),
        retry_after=decision.retry_after,
    )
