"""The authorization-code flow with PKCE against the development provider, as
a relying party runs it: through Django's test client (the provider's own
URLs, its own sign-in page and cookie) or through `requests` against a live
server. Used by the development provider's tests."""

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

from django.test import Client

from apps.identity.dev_provider.directory import DevUser
from apps.identity.services.dev_provider import dev_application_ensure

REDIRECT_URI = "http://rp.example/auth/oidc/callback/"
SECRET = "test-client-secret-0123456789"


def application_make(client_id: str, *, version: int = 2, redirect_uri: str = REDIRECT_URI):
    application, _ = dev_application_ensure(
        client_id=client_id,
        name=f"test app {client_id}",
        redirect_uris=[redirect_uri],
        client_secret=SECRET,
        access_token_version=version,
    )
    return application


def forwarded_to(page: str) -> str:
    """Where the provider's sign-in forwards the browser once signed in: the
    "continue" link of its forwarding page (it forwards through a page, not a
    302: see apps/identity/dev_provider/views.py LoginView.post)."""
    found = re.search(r'<a id="continue" href="([^"]+)"', page)
    assert found, page[:500]
    return html.unescape(found.group(1))


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


@dataclass
class FlowResult:
    tokens: dict  # the token endpoint's JSON answer
    nonce: str
    state: str


def sign_in(http: Client, person: DevUser, *, tenant: str) -> None:
    """The provider's sign-in page, as the person would use it."""
    response = http.post(
        f"/idp/{tenant}/login", {"account": f"{person.tenant_id}:{person.object_id}", "password": person.password}
    )
    assert response.status_code == 200, response.content


def authorize_url(
    *, tenant: str, client_id: str, scope: str, nonce: str, state: str, challenge: str, redirect_uri: str = REDIRECT_URI
) -> str:
    params = {"client_id": client_id, "response_type": "code", "redirect_uri": redirect_uri, "scope": scope}
    params.update(state=state, nonce=nonce, code_challenge=challenge, code_challenge_method="S256")
    query = urlencode(params)
    return f"/idp/{tenant}/oauth2/v2.0/authorize?{query}"


def code_flow(
    http: Client, person: DevUser, *, client_id: str, tenant: str | None = None, scope: str = "openid profile email"
) -> FlowResult:
    """Sign `person` in and run authorize + token; the token endpoint's answer."""
    tenant = tenant or person.tenant_id
    sign_in(http, person, tenant=tenant)
    verifier, challenge = pkce_pair()
    nonce, state = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    response = http.get(
        authorize_url(tenant=tenant, client_id=client_id, scope=scope, nonce=nonce, state=state, challenge=challenge)
    )
    assert response.status_code == 302, response.content
    location = urlsplit(response["Location"])
    params = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    assert params["state"] == [state]
    assert params["iss"] == [f"http://testserver/idp/{person.tenant_id}/v2.0"]  # RFC 9207: the ID token's issuer
    token = http.post(
        f"/idp/{tenant}/oauth2/v2.0/token",
        {
            "grant_type": "authorization_code",
            "code": params["code"][0],
            "redirect_uri": REDIRECT_URI,
            "client_id": client_id,
            "client_secret": SECRET,
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.content
    return FlowResult(tokens=token.json(), nonce=nonce, state=state)
