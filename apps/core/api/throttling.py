"""Rate limits per client (tenant), shared by all its users, and per address
for anonymous callers (which covers the token endpoint against password
guessing). Counters live in the Redis cache, so every web process sees them."""

from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle

from apps.core.api.tenancy import request_client
from apps.core.errors import AppError


class _LiveRates:
    # DRF binds THROTTLE_RATES at import; read them per request instead so the
    # rates follow settings (and tests can change them).
    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class ClientRateThrottle(_LiveRates, SimpleRateThrottle):
    scope = "client"

    def get_cache_key(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return None
        try:
            ident = f"client:{request_client(request).client_id}"
        except AppError:
            ident = f"user:{request.user.pk}"  # no client resolved: the view will refuse anyway
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AnonymousRateThrottle(_LiveRates, AnonRateThrottle):
    scope = "anon"
