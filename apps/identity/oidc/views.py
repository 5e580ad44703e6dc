"""The sign-in endpoints (docs/identity.md, "Endpoints"):

- GET  /auth/oidc/login/?email=<address> | ?provider=<id> [&next=<path>]:
  picks the provider, stores state, nonce and PKCE verifier in the session
  and redirects to the provider's authorize endpoint;
- GET  /auth/oidc/callback/?code=&state=: exchanges the code, verifies the
  ID token, signs the user in and redirects to `next`; any refusal renders
  the login page with its message (401), never a bare 400;
- POST /auth/oidc/logout/ (CSRF): ends our session and sends the browser to
  the provider's end-session endpoint with `id_token_hint` and
  `post_logout_redirect_uri` (a page that moves on by itself: see the view).
"""

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import auth
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils.crypto import get_random_string
from django.views import View
from mozilla_django_oidc.utils import (
    absolutify,
    add_state_and_verifier_and_nonce_to_session,
    generate_code_challenge,
)
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
    OIDCLogoutView,
    get_next_url,
)

from apps.core.errors import AppError
from apps.core.ws_revocation import user_sockets_recheck
from apps.identity.oidc.backend import BACKEND_PATH, CALLBACK_URL_NAME, ProviderOIDCBackend
from apps.identity.oidc.discovery import provider_metadata
from apps.identity.selectors.providers import email_domain, provider_for_email, provider_for_sign_in
from apps.identity.sign_in_pages import login_page, sign_in_rate_limited
from apps.identity.types import ProviderUnavailable, SignInRefused

logger = logging.getLogger(__name__)
SESSION_PROVIDER = "identity_provider_id"
SESSION_ID_TOKEN = "identity_id_token"  # noqa: S105 - a session key name


class ProviderLoginView(OIDCAuthenticationRequestView):
    http_method_names = ["get"]

    def __init__(self, *args, **kwargs):
        View.__init__(self, *args, **kwargs)  # the base reads one provider's endpoint from settings

    def get(self, request: HttpRequest) -> HttpResponse:
        limited = sign_in_rate_limited(request)
        if limited:
            return limited
        email = request.GET.get("email", "").strip()
        if request.GET.get("provider"):
            provider = provider_for_sign_in(provider_id=request.GET["provider"])
            missing = "That identity provider does not exist or is switched off."
        else:
            provider = provider_for_email(email=email)
            domain = email_domain(email)
            missing = (
                f"No single sign-on is set up for {domain}. Sign in with a username and password if you have them."
                if domain
                else "Enter your work e-mail address to sign in with your organisation's account."
            )
        if provider is None:
            return login_page(request, status=400, sso_error=missing, email=email)
        try:
            metadata = provider_metadata(provider)
        except ProviderUnavailable as exc:
            return login_page(request, status=503, sso_error=exc.message, email=email)

        state = get_random_string(32)
        nonce = get_random_string(32)
        verifier = get_random_string(64)
        params = {
            "response_type": "code",
            "response_mode": "query",
            "scope": settings.IDENTITY_OIDC_SCOPES,
            "client_id": provider.application_id,
            "redirect_uri": absolutify(request, reverse(CALLBACK_URL_NAME)),
            "state": state,
            "nonce": nonce,
            "code_challenge": generate_code_challenge(verifier, "S256"),
            "code_challenge_method": "S256",
        }
        if email:
            params["login_hint"] = email
        add_state_and_verifier_and_nonce_to_session(request, state, params, verifier)
        entry = request.session["oidc_states"][state]
        entry["provider_id"] = provider.pk
        entry["next"] = get_next_url(request, "next") or ""
        request.session.modified = True
        return HttpResponseRedirect(f"{metadata.authorization_endpoint}?{urlencode(params)}")


class ProviderCallbackView(OIDCAuthenticationCallbackView):
    http_method_names = ["get"]

    def failure(self, message: str, *, status: int = 401) -> HttpResponse:
        return login_page(self.request, status=status, sso_error=message)

    def get(self, request: HttpRequest) -> HttpResponse:
        limited = sign_in_rate_limited(request)
        if limited:
            return limited
        states = request.session.get("oidc_states")
        states = states if isinstance(states, dict) else {}
        state = request.GET.get("state", "")
        entry = states.pop(state, None) if state else None
        if entry is not None:
            request.session["oidc_states"] = states  # used once: a replayed callback finds nothing
            request.session.save()
        if request.GET.get("error"):
            reason = request.GET.get("error_description") or request.GET["error"]
            return self.failure(f"The identity provider did not sign you in: {reason[:300]}")
        if entry is None:
            return self.failure("This sign-in was not started here or was already completed; start again.")
        provider = provider_for_sign_in(provider_id=entry.get("provider_id", ""))
        if provider is None:
            return self.failure("The identity provider of this sign-in is no longer enabled.")
        backend = ProviderOIDCBackend()
        try:
            user = backend.authenticate(
                request,
                identity_provider=provider,
                nonce=entry.get("nonce"),
                code_verifier=entry.get("code_verifier"),
            )
        except SignInRefused as exc:
            logger.warning("sign-in refused (provider %s): %s (%s)", provider.pk, exc.message, exc.code)
            return self.failure(exc.message)
        except AppError as exc:
            return self.failure(exc.message, status=exc.status_code)
        auth.login(request, user, backend=BACKEND_PATH)
        request.session[SESSION_PROVIDER] = provider.pk
        request.session[SESSION_ID_TOKEN] = backend.id_token
        return HttpResponseRedirect(entry.get("next") or resolve_url(settings.LOGIN_REDIRECT_URL))


class ProviderLogoutView(OIDCLogoutView):
    """RP-initiated logout. POST only (with the CSRF token): a GET from
    another site cannot sign anyone out."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        url = resolve_url(settings.LOGOUT_REDIRECT_URL)
        provider = provider_for_sign_in(provider_id=request.session.get(SESSION_PROVIDER, ""))
        id_token = request.session.get(SESSION_ID_TOKEN, "")
        if provider is not None and id_token:
            try:
                end_session = provider_metadata(provider).end_session_endpoint
            except ProviderUnavailable:
                end_session = ""  # our session ends anyway; the provider's stays
            if end_session:
                query = urlencode(
                    {"id_token_hint": id_token, "post_logout_redirect_uri": absolutify(request, reverse("login"))}
                )
                url = f"{end_session}?{query}"
        user_id = request.user.pk if request.user.is_authenticated else None
        auth.logout(request)
        if user_id is not None:
            user_sockets_recheck(user_id=user_id)
        if url.startswith(("http://", "https://")):
            # To the provider: a page that moves on by itself rather than a 302.
            # The sign-out is a form POST, and the console's CSP (`form-action
            # 'self'`) holds the redirects that follow a form submission to this
            # site too, so a 302 to the provider would be blocked.
            context = {
                "sso_url": url,
                "heading": "Signing out",
                "lead": "Signing you out of your organisation's account…",
            }
            return render(request, "registration/sso_redirect.html", context)
        return HttpResponseRedirect(url)
