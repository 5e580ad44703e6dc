"""The development provider's endpoints, laid out as Azure AD's under
`/idp/{tenant}/` (apps/identity/dev_provider/urls.py). Token, JWKS and
userinfo are django-oauth-toolkit's own views; discovery, the sign-in page,
authorize (its resource owner from the provider's cookie, session.py) and
end-session are ours."""

import functools
import json
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from jwcrypto import jws
from oauth2_provider.models import get_application_model
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.utils import jwk_from_pem
from oauth2_provider.views import AuthorizationView

from apps.identity.dev_provider import session
from apps.identity.dev_provider.accounts import account_signed_in, account_user, person_of
from apps.identity.dev_provider.claims import OIDC_SCOPES, issuer_v2, provider_root
from apps.identity.dev_provider.directory import (
    MULTI_TENANT_SEGMENTS,
    tenant_get,
    tenant_segment_valid,
    user_authenticate,
    users_for_segment,
)
from apps.identity.sign_in_pages import sign_in_rate_hit, sign_in_rate_message

CLAIMS_SUPPORTED = [
    "sub", "iss", "aud", "exp", "iat", "nbf", "auth_time", "nonce", "oid", "tid", "ver", "name",
    "preferred_username", "email", "roles", "groups", "at_hash",
]  # fmt: skip


def _tenant_error(segment: str) -> JsonResponse:
    # Azure AD answers an unknown tenant with AADSTS90002 (400).
    return JsonResponse(
        {
            "error": "invalid_tenant",
            "error_description": f"AADSTS90002: Tenant '{segment}' not found. The development provider knows the "
            f"tenants of apps/identity/dev_provider/directory.py, 'organizations' and 'common'.",
        },
        status=400,
    )


def tenant_checked(view):
    @functools.wraps(view)
    def wrapped(request, *args, tenant: str, **kwargs):
        if not tenant_segment_valid(tenant):
            return _tenant_error(tenant)
        return view(request, *args, tenant=tenant, **kwargs)

    return wrapped


@tenant_checked
def discovery(request, tenant: str):
    """`{tenant}/v2.0/.well-known/openid-configuration`, Azure's document: for
    `organizations`/`common` the issuer holds the literal `{tenantid}`."""
    root = provider_root(request)

    def url(name: str, **kwargs) -> str:
        return request.build_absolute_uri(reverse(f"dev_idp:{name}", kwargs=kwargs))

    issuer_tenant = "{tenantid}" if tenant in MULTI_TENANT_SEGMENTS else tenant.lower()
    document = {
        "token_endpoint": url("token", tenant=tenant),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "jwks_uri": url("jwks", tenant=tenant),
        "response_modes_supported": ["query"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code"],
        "scopes_supported": list(OIDC_SCOPES),
        "issuer": issuer_v2(root, issuer_tenant),
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": url("userinfo"),
        "authorization_endpoint": url("authorize", tenant=tenant),
        "http_logout_supported": True,
        "frontchannel_logout_supported": False,
        "end_session_endpoint": url("logout", tenant=tenant),
        "claims_supported": CLAIMS_SUPPORTED,
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "tenant_region_scope": None,
        "cloud_instance_name": "development.invalid",
    }
    response = JsonResponse(document)
    response["Access-Control-Allow-Origin"] = "*"
    return response


class AuthorizeView(AuthorizationView):
    """`{tenant}/oauth2/v2.0/authorize`: django-oauth-toolkit's, with the
    resource owner taken from the provider's own cookie (never the
    platform's session) and its sign-in page as the login URL."""

    def dispatch(self, request, *args, **kwargs):
        tenant = kwargs["tenant"]
        if not tenant_segment_valid(tenant):
            return _tenant_error(tenant)
        person = session.person_signed_in(request)
        if person is not None and person in users_for_segment(tenant):
            request.user = account_user(person)
        else:
            request.user = AnonymousUser()
        return super().dispatch(request, *args, **kwargs)

    def get_login_url(self):
        return reverse("dev_idp:login", kwargs={"tenant": self.kwargs["tenant"]})

    def create_authorization_response(self, request, scopes, credentials, allow):
        # RFC 9207: django-oauth-toolkit's `iss` is the host's root; ours is the
        # signed-in user's tenant issuer, the `iss` of the ID token to come.
        uri, headers, body, status = super().create_authorization_response(request, scopes, credentials, allow)
        person = person_of(request.user)
        if uri and person is not None:
            parts = urlsplit(uri)
            query = [(name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if name != "iss"]
            query.append(("iss", issuer_v2(provider_root(request), person.tenant_id)))
            uri = urlunsplit(parts._replace(query=urlencode(query)))
            headers["Location"] = uri
        return uri, headers, body, status


class LoginView(View):
    """The provider's sign-in page: pick a development user, type their
    password (apps/identity/dev_provider/directory.py)."""

    template_name = "identity/dev_provider/login.html"

    def dispatch(self, request, *args, **kwargs):
        if not tenant_segment_valid(kwargs["tenant"]):
            return _tenant_error(kwargs["tenant"])
        return super().dispatch(request, *args, **kwargs)

    def _next(self, request) -> str:
        candidate = request.POST.get("next") or request.GET.get("next") or ""
        root = reverse("dev_idp:root")
        safe = url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()})
        return candidate if safe and candidate.startswith(root) else ""

    def _render(self, request, tenant: str, *, error: str = "", status: int = 200, signed_in=None):
        people = users_for_segment(tenant)
        context = {
            "tenant": tenant,
            "tenant_name": tenant_get(tenant).name if tenant_get(tenant) else "any development tenant",
            "people": [(f"{p.tenant_id}:{p.object_id}", p, tenant_get(p.tenant_id).name) for p in people],
            "selected": request.POST.get("account", ""),
            "next": self._next(request),
            "error": error,
            "signed_in": signed_in,
        }
        return render(request, self.template_name, context, status=status)

    def get(self, request, tenant: str):
        return self._render(request, tenant)

    def post(self, request, tenant: str):
        # Password guessing here is limited like every sign-in path (IDENTITY_SIGN_IN_RATE per address).
        decision = sign_in_rate_hit(request)
        if not decision.allowed:
            response = self._render(request, tenant, error=sign_in_rate_message(decision.retry_after), status=429)
            response["Retry-After"] = str(decision.retry_after)
            return response
        tenant_id, _, object_id = request.POST.get("account", "").partition(":")
        person = user_authenticate(
            segment=tenant, tenant_id=tenant_id, object_id=object_id, password=request.POST.get("password", "")
        )
        if person is None:
            return self._render(request, tenant, error="Unknown user or wrong password.", status=400)
        account_signed_in(person)
        next_url = self._next(request)
        if next_url:
            # On to the authorization endpoint through a page that forwards itself, not a
            # 302: the authorization's redirect to the platform's callback (another origin
            # in `make run`) would otherwise follow this form's POST, and the platform's
            # Content-Security-Policy (form-action 'self') stops such a redirect chain.
            response = render(request, "identity/dev_provider/forward.html", {"next": next_url})
        else:
            response = self._render(request, tenant, signed_in=person)
        session.sign_in(response, request, person)
        return response


def _logout_application(client_id: str, id_token_hint: str):
    """The application named by `client_id`, or by the `aud` of an ID token
    this provider signed (expired ones too: logging out after expiry is normal)."""
    application_model = get_application_model()
    if not client_id and id_token_hint:
        try:
            token = jws.JWS()
            token.deserialize(id_token_hint)
            token.verify(jwk_from_pem(oauth2_settings.OIDC_RSA_PRIVATE_KEY))
            audience = json.loads(token.payload).get("aud", "")
            client_id = audience[0] if isinstance(audience, list) and audience else audience
        except (jws.InvalidJWSObject, jws.InvalidJWSSignature, ValueError, TypeError):
            return None
    if not client_id or not isinstance(client_id, str):
        return None
    return application_model.objects.filter(client_id=client_id).first()


@method_decorator(csrf_exempt, name="dispatch")
class LogoutView(View):
    """`{tenant}/oauth2/v2.0/logout` (end_session_endpoint): forget the
    provider's sign-in and go back to `post_logout_redirect_uri` when the
    application registered it (as a post-logout or a redirect URI)."""

    def dispatch(self, request, *args, **kwargs):
        if not tenant_segment_valid(kwargs["tenant"]):
            return _tenant_error(kwargs["tenant"])
        params = request.POST if request.method == "POST" else request.GET
        redirect_to = params.get("post_logout_redirect_uri", "")
        application = _logout_application(params.get("client_id", ""), params.get("id_token_hint", ""))
        registered = set()
        if application is not None:
            registered = set(application.post_logout_redirect_uris.split()) | set(application.redirect_uris.split())
        if redirect_to and redirect_to in registered:
            state = params.get("state")
            separator = "&" if "?" in redirect_to else "?"
            response = HttpResponseRedirect(redirect_to + (separator + urlencode({"state": state}) if state else ""))
        else:
            response = render(request, "identity/dev_provider/signed_out.html", {"tenant": kwargs["tenant"]})
        session.sign_out(response)
        return response
