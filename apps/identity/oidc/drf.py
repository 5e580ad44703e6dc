"""DRF authentication for bearer access tokens a client's identity provider
issued for our API (docs/identity.md, "API access with provider tokens"),
verified by apps.identity.oidc.bearer (the WebSocket's `?token=` uses the same
verification). A token that is not a provider's is left to the next class."""

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from apps.identity.oidc.bearer import provider_bearer_authenticate
from apps.identity.types import SignInRefused


class ProviderBearerAuthentication(BaseAuthentication):
    www_authenticate_realm = "api"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != b"bearer":
            return None
        try:
            return provider_bearer_authenticate(parts[1].decode("latin-1"))
        except SignInRefused as exc:
            raise AuthenticationFailed(exc.message, code=exc.code) from None

    def authenticate_header(self, request) -> str:
        return f'Bearer realm="{self.www_authenticate_realm}"'
