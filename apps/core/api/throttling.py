"""API rate limits (docs/api.md, "Rate limits"), counted in Redis (apps.core.rate_limits).

- Signed in: per user ("user") and per client, the tenant all its users share
  ("client"). The user's own budget is checked first and a request refused by
  it takes nothing from the client's, so one user looping cannot use up the
  client's budget and lock its other users out; the user rate is the lower.
- Anonymous: per address ("anon"), which covers the token endpoint. The
  address is the one apps.core.client_address vouches for: X-Forwarded-For
  counts only behind TRUSTED_PROXY_COUNT proxies of our own.

Rates are read per request from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], so
they follow settings (tests change them). A refusal is a 429 whose
Retry-After says when the next request fits.
"""

from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from apps.core.api.tenancy import request_client
from apps.core.client_address import client_address
from apps.core.errors import AppError
from apps.core.rate_limits import RateDecision, rate_limit_hit


def _rate(scope: str) -> str | None:
    return api_settings.DEFAULT_THROTTLE_RATES.get(scope)


class _Throttle(BaseThrottle):
    decision = RateDecision(allowed=True)

    def get_ident(self, request) -> str:
        return client_address(request) or "unknown"

    def wait(self) -> float | None:
        return self.decision.retry_after


class ClientRateThrottle(_Throttle):
    """Signed-in callers: their own budget, then their client's."""

    def allow_request(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return True
        self.decision = rate_limit_hit(rate=_rate("user"), scope="user", ident=str(user.pk))
        if not self.decision.allowed:
            return False
        try:
            client = request_client(request).client_id
        except AppError:
            return True  # no client resolved: the view refuses the request anyway
        self.decision = rate_limit_hit(rate=_rate("client"), scope="client", ident=str(client))
        return self.decision.allowed


class AnonymousRateThrottle(_Throttle):
    """Anonymous callers, per address."""

    def allow_request(self, request, view) -> bool:
        if request.user and request.user.is_authenticated:
            return True
        self.decision = rate_limit_hit(rate=_rate("anon"), scope="anon", ident=self.get_ident(request))
        return self.decision.allowed
