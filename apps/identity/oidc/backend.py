"""mozilla-django-oidc's backend, subclassed where it falls short for Azure AD
(../shared/research/identity-azure-ad.md):

- settings per provider, per request (one backend, many clients' providers;
  mozilla-django-oidc issues #362/#415): the callback names the provider, the
  endpoints come from its discovery document, the secret from its encrypted
  field;
- `verify_token` checks what the base leaves out (audience, issuer per
  tenant, tenant, RS256 only, nonce once) in apps.identity.oidc.tokens;
- claims come from the verified ID token (`get_userinfo`), not userinfo,
  which on Azure lacks oid/tid/groups;
- `verify_claims` requires oid and tid, not email; users are keyed on
  (tid, oid) (`filter_users_by_claims`, `create_user`, `update_user` go
  through apps.identity.services.sign_in).

A refusal raises SignInRefused with the message the login page shows (the
base would answer a bare 400 or fall through silently).
"""

from typing import Any

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import absolutify

from apps.identity.models import IdentityProvider
from apps.identity.oidc.discovery import provider_metadata
from apps.identity.oidc.tokens import id_token_verify
from apps.identity.selectors.providers import provider_client_secret
from apps.identity.selectors.sign_in import external_identity_user
from apps.identity.services.sign_in import sign_in_complete
from apps.identity.types import ProviderUnavailable, SignInRefused

BACKEND_PATH = "apps.identity.oidc.backend.ProviderOIDCBackend"
CALLBACK_URL_NAME = "oidc_callback"


class ProviderOIDCBackend(OIDCAuthenticationBackend):
    """In AUTHENTICATION_BACKENDS (last) so sessions it opened load their
    user; it authenticates only when called with `identity_provider` (the
    callback view), never a username and password."""

    def __init__(self, *args, **kwargs):
        # The base reads one provider's endpoints from settings; ours come per request.
        self.UserModel = get_user_model()
        self.provider: IdentityProvider | None = None
        self.sign_in = None
        self.id_token = ""

    def authenticate(self, request, identity_provider=None, nonce=None, code_verifier=None, **kwargs):
        if request is None or identity_provider is None:
            return None
        self.request = request
        self.provider = identity_provider
        code = request.GET.get("code")
        if not code:
            raise SignInRefused("The provider's answer carries no authorization code.", code="missing_code")
        metadata = provider_metadata(identity_provider)
        self.OIDC_OP_TOKEN_ENDPOINT = metadata.token_endpoint
        self.OIDC_RP_CLIENT_ID = identity_provider.application_id
        self.OIDC_RP_CLIENT_SECRET = provider_client_secret(provider=identity_provider)
        payload = {
            "client_id": self.OIDC_RP_CLIENT_ID,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": absolutify(request, reverse(CALLBACK_URL_NAME)),
        }
        if self.OIDC_RP_CLIENT_SECRET:
            payload["client_secret"] = self.OIDC_RP_CLIENT_SECRET
        if code_verifier:
            payload["code_verifier"] = code_verifier
        token_info = self.get_token(payload)
        id_token = token_info.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise SignInRefused("The provider's token answer carries no ID token.", code="missing_id_token")
        claims = self.verify_token(id_token, nonce=nonce)
        self.id_token = id_token
        return self.get_or_create_user(token_info.get("access_token"), id_token, claims)

    def get_token(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The back-channel code exchange (base: no timeout, HTTPError on refusal)."""
        try:
            response = requests.post(
                self.OIDC_OP_TOKEN_ENDPOINT, data=payload, timeout=settings.IDENTITY_OIDC_TIMEOUT_SECONDS
            )
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"The identity provider's token endpoint did not answer ({exc}).") from None
        if response.status_code != 200:
            try:
                body = response.json()
            except ValueError:
                body = {}
            reason = body.get("error_description") or body.get("error") or f"HTTP {response.status_code}"
            raise SignInRefused(f"The identity provider refused the sign-in code: {reason}", code="code_refused")
        try:
            return response.json()
        except ValueError:
            raise ProviderUnavailable("The identity provider's token answer is not JSON.") from None

    def verify_token(self, token, **kwargs):
        return id_token_verify(provider=self.provider, token=token, nonce=kwargs.get("nonce"))

    def get_userinfo(self, access_token, id_token, payload):
        return payload  # the verified ID token's claims: userinfo lacks oid, tid and groups on Azure

    def verify_claims(self, claims):
        return bool(claims.get("oid")) and bool(claims.get("tid"))

    def filter_users_by_claims(self, claims):
        user = external_identity_user(tenant_id=claims.get("tid", ""), object_id=claims.get("oid", ""))
        return self.UserModel.objects.filter(pk=user.pk) if user else self.UserModel.objects.none()

    def create_user(self, claims):
        return self._complete(claims)

    def update_user(self, user, claims):
        return self._complete(claims)

    def _complete(self, claims):
        self.sign_in = sign_in_complete(provider=self.provider, claims=claims)
        return self.UserModel.objects.get(pk=self.sign_in.user_id)

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        if not self.verify_claims(claims):
            raise SignInRefused("The token lacks the tid and oid claims that identify a user.", code="missing_claim")
        return self._complete(claims)
