"""The address a request came from, as far as this deployment can vouch for it.

X-Forwarded-For is written by whoever sends the request: a client can put any
address there. Only the entries appended by our own reverse proxies can be
trusted, and only the deployment knows how many there are: TRUSTED_PROXY_COUNT
(0 by default: the header is ignored and the peer address counts). With N
proxies in front, each appends the address it received the request from, so
the N-th entry from the right is the client as the outermost proxy saw it;
whatever the client wrote stands further left and is never read.

Rate limits (apps.core.api.throttling) and the login lockout (django-axes,
apps.core.login_lockout) both ask this function, so they agree on who is who.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    remote = request.META.get("REMOTE_ADDR") or None
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < hops:
        # Fewer hops than proxies: the request did not come through all of
        # them, so no entry is vouched for; the peer is the one we know.
        return remote
    candidate = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote  # a proxy that appends something else is misconfigured
