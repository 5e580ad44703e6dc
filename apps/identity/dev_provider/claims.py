"""Azure AD v2's claims for a development user (docs/identity.md, "The
development provider"): what an ID token and an access token of Azure AD carry,
built from apps/identity/dev_provider/directory.py. Pure functions: the
validator (ID tokens, userinfo) and the access-token generator call them.

Claims Azure AD adds for its own use (aio, rh, uti's meaning, sid, xms_*) are
left out, except `uti` on access tokens (a unique token id, as Azure's)."""

import base64
import time
import uuid

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils.crypto import salted_hmac

from apps.identity.dev_provider.directory import DevUser

# Microsoft Graph's application id: the audience of an access token requested
# without a scope of our API (Azure AD issues Graph tokens for openid/profile/email).
GRAPH_APPLICATION_ID = "00000003-0000-0000-c000-000000000000"
OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
# The scopes the platform's API exposes, requested as `api://<application id>/<name>`.
API_SCOPES = {"access_as_user": "Use the analytics API as the signed-in user"}


class _HeadersRequest(HttpRequest):
    """A Django request rebuilt from an oauthlib request's headers (its `uri`
    is a path only), as django-oauth-toolkit builds its issuer."""

    def __init__(self, oauthlib_request):
        super().__init__()
        self.META = oauthlib_request.headers
        self._secure = bool(oauthlib_request.headers.get("X_DJANGO_OAUTH_TOOLKIT_SECURE"))

    def _get_scheme(self):
        return "https" if self._secure else "http"


def provider_root(request) -> str:
    """`{scheme}://{host}/idp/` for a request (Django's or oauthlib's) to any
    of the provider's URLs: the issuer and the endpoints are built on the host
    the caller used, as Django builds absolute URLs."""
    if not isinstance(request, HttpRequest):
        request = _HeadersRequest(request)
    return request.build_absolute_uri(reverse("dev_idp:root"))


def issuer_v2(root: str, tenant_id: str) -> str:
    """Like `https://login.microsoftonline.com/{tid}/v2.0`."""
    return f"{root}{tenant_id}/v2.0"


def issuer_v1(root: str, tenant_id: str) -> str:
    """Like `https://sts.windows.net/{tid}/` (v1 access tokens)."""
    return f"{root}{tenant_id}/"


def pairwise_subject(*, tenant_id: str, object_id: str, client_id: str) -> str:
    """`sub`: stable for one user and one application, different across
    applications (Azure AD's pairwise subject), 43 url-safe characters like Azure's."""
    digest = salted_hmac(
        "identity.dev_provider.sub", f"{tenant_id}:{object_id}:{client_id}", algorithm="sha256"
    ).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def groups_claims(user: DevUser) -> dict:
    """`groups` (GUIDs), or Azure's overage form when the user is in more
    groups than a token holds: no `groups`, a pointer to Graph's
    getMemberObjects instead (the relying party fetches them)."""
    if len(user.group_ids) <= settings.AE_DEV_IDP_GROUPS_OVERAGE_LIMIT:
        return {"groups": list(user.group_ids)}
    endpoint = f"https://graph.windows.net/{user.tenant_id}/users/{user.object_id}/getMemberObjects"
    return {"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {"endpoint": endpoint}}}


def id_token_claims(user: DevUser, *, client_id: str, scopes: list[str], root: str) -> dict:
    """The ID token's claims besides those django-oauth-toolkit and oauthlib
    add (iss through the validator, aud, iat, exp, nonce, and their own
    auth_time, jti, at_hash)."""
    claims = {
        "sub": pairwise_subject(tenant_id=user.tenant_id, object_id=user.object_id, client_id=client_id),
        "oid": user.object_id,
        "tid": user.tenant_id,
        "nbf": int(time.time()),
        "ver": "2.0",
    }
    if "profile" in scopes:
        claims["name"] = user.display_name
        claims["preferred_username"] = user.user_principal_name
    if "email" in scopes and user.mail:
        claims["email"] = user.mail
    if user.roles:  # Azure AD omits `roles` when no app role is assigned
        claims["roles"] = list(user.roles)
    claims.update(groups_claims(user))
    return claims


def userinfo_claims(user: DevUser, *, client_id: str, scopes: list[str]) -> dict:
    """Azure's userinfo (graph.microsoft.com/oidc/userinfo): no oid, tid, roles or groups."""
    claims = {"sub": pairwise_subject(tenant_id=user.tenant_id, object_id=user.object_id, client_id=client_id)}
    if "profile" in scopes:
        claims.update(name=user.display_name, given_name=user.given_name, family_name=user.surname)
    if "email" in scopes and user.mail:
        claims["email"] = user.mail
    return claims


def api_scopes_granted(scopes: list[str], *, client_id: str) -> list[str]:
    """The short names (`scp`) of the API scopes among `scopes` requested for `client_id`'s API."""
    prefix = f"api://{client_id}/"
    return [scope.removeprefix(prefix) for scope in scopes if scope.startswith(prefix)]


def access_token_claims(
    user: DevUser, *, client_id: str, scopes: list[str], root: str, version: int, lifetime_seconds: int
) -> dict:
    """An access token as Azure AD issues it: for our API (`aud` = the
    application id in v2, `api://<id>` in v1) when an `api://<id>/...` scope
    was requested, else for Microsoft Graph (as Azure does for openid/profile/email)."""
    now = int(time.time())
    api_scopes = api_scopes_granted(scopes, client_id=client_id)
    if api_scopes:
        audience = client_id if version == 2 else f"api://{client_id}"
        scp = " ".join(api_scopes)
    else:
        audience = GRAPH_APPLICATION_ID
        scp = " ".join([*(s for s in scopes if s in ("openid", "profile", "email")), "User.Read"])
    claims = {
        "aud": audience,
        "iss": issuer_v2(root, user.tenant_id) if version == 2 else issuer_v1(root, user.tenant_id),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime_seconds,
        "name": user.display_name,
        "oid": user.object_id,
        "scp": scp,
        "sub": pairwise_subject(tenant_id=user.tenant_id, object_id=user.object_id, client_id=client_id),
        "tid": user.tenant_id,
        "uti": uuid.uuid4().hex,
        "ver": f"{version}.0",
    }
    if version == 2:
        claims.update(azp=client_id, azpacr="1", preferred_username=user.user_principal_name)
    else:
        claims.update(appid=client_id, appidacr="1", unique_name=user.user_principal_name, upn=user.user_principal_name)
    if user.roles:
        claims["roles"] = list(user.roles)
    if api_scopes:
        claims.update(groups_claims(user))
    return claims
