"""WebSocket authentication: the session cookie (browsers) or `?token=<access
token>` (API clients): one of our JWTs, or a bearer token a registered verifier
knows (apps.core.bearer_tokens: an access token a client's identity provider
issued for our API, verified as the DRF API verifies it). Cookie-authenticated
sockets must come from one of our own origins, so another site cannot ride a
user's session (cross-site WebSocket hijacking); token sockets carry their own
credential and need no Origin."""

from urllib.parse import parse_qs, urlparse

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError

from apps.core.api.authentication import RevocableJWTAuthentication
from apps.core.bearer_tokens import bearer_verify
from apps.core.errors import AppError


@database_sync_to_async
def _user_from_token(raw: str) -> dict:
    """The scope entries of a token socket: its user and its credential, our
    validated JWT (`auth_token`) or a registered verifier's (`auth_bearer`);
    the socket closes at its expiry and re-checks it on revocation
    (apps.core.ws_revocation). A token nobody accepts: the anonymous user."""
    auth = RevocableJWTAuthentication()
    try:
        token = auth.get_validated_token(raw.encode())
        return {"user": auth.get_user(token), "auth_token": token, "auth_bearer": None}
    except (InvalidToken, TokenError, AuthenticationFailed):
        pass
    try:
        credential = bearer_verify(raw)
    except AppError:  # refused, or its provider's keys unreadable: not signed in
        credential = None
    if credential is None:
        return {"user": AnonymousUser(), "auth_token": None, "auth_bearer": None}
    return {"user": credential.user, "auth_token": None, "auth_bearer": credential}


def _origin_allowed(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"origin":
            host = urlparse(value.decode("latin1")).hostname or ""
            return validate_host(host, settings.ALLOWED_HOSTS)
    return False


class _TokenOrOrigin:
    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        token = parse_qs(scope.get("query_string", b"").decode()).get("token", [None])[0]
        if token:
            scope = dict(scope, **await _user_from_token(token))
        elif not _origin_allowed(scope.get("headers", [])):
            return await WebsocketDenier()(scope, receive, send)
        return await self.inner(scope, receive, send)


def WebSocketAuthMiddleware(inner):  # noqa: N802 - reads like the middleware class it builds
    return AuthMiddlewareStack(_TokenOrOrigin(inner))
