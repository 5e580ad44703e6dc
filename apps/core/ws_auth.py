"""WebSocket authentication: the session cookie (browsers) or `?token=<access
JWT>` (API clients). Cookie-authenticated sockets must come from one of our own
origins, so another site cannot ride a user's session (cross-site WebSocket
hijacking); token sockets carry their own credential and need no Origin."""

from urllib.parse import parse_qs, urlparse

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError

from apps.core.api.authentication import RevocableJWTAuthentication


@database_sync_to_async
def _user_from_token(raw: str):
    """The token's user and the validated token (the socket closes at its
    expiry and re-checks it on revocation, apps.core.ws_revocation)."""
    auth = RevocableJWTAuthentication()
    try:
        token = auth.get_validated_token(raw.encode())
        return auth.get_user(token), token
    except (InvalidToken, TokenError, AuthenticationFailed):
        return AnonymousUser(), None


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
            user, validated = await _user_from_token(token)
            scope = dict(scope, user=user, auth_token=validated)
        elif not _origin_allowed(scope.get("headers", [])):
            return await WebsocketDenier()(scope, receive, send)
        return await self.inner(scope, receive, send)


def WebSocketAuthMiddleware(inner):  # noqa: N802 - reads like the middleware class it builds
    return AuthMiddlewareStack(_TokenOrOrigin(inner))
