"""The development provider's sign-in, authorize, logout, seeding and switch
(issue #17, item 3; its claims: test_dev_provider_parity.py)."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.management import call_command
from oauth2_provider.models import get_application_model

from apps.core.crypto import secret_decrypt
from apps.core.rate_limits import rate_limits_reset
from apps.core.secret_fields import secret_purpose
from apps.core.services import demo_bootstrap
from apps.core.tests.factories import UserFactory
from apps.core.tests.servers import database_url_of_tests, free_port
from apps.core.tests.waiting import wait_until
from apps.identity.dev_provider import session
from apps.identity.dev_provider.accounts import USERNAME_PREFIX
from apps.identity.dev_provider.directory import ADELE, ADELE_FABRIKAM, CONTOSO, DEMO_APPLICATION_ID, FABRIKAM
from apps.identity.models import IdentityProvider
from apps.identity.tests.dev_provider_flow import (
    REDIRECT_URI,
    SECRET,
    application_make,
    authorize_url,
    code_flow,
    forwarded_to,
    pkce_pair,
    sign_in,
)

ROOT = Path(__file__).resolve().parents[3]
APP = "45dd07cc-0000-4000-8000-000000000001"
CONTOSO_ID = CONTOSO.tenant_id


def _authorize(http, *, tenant=CONTOSO_ID, client_id=APP, **overrides):
    _, challenge = pkce_pair()
    params = {"scope": "openid profile", "nonce": "n-1", "state": "s-1", "challenge": challenge, **overrides}
    return http.get(authorize_url(tenant=tenant, client_id=client_id, **params))


@pytest.mark.django_db
def test_signing_in_to_the_provider_leaves_the_platform_session_alone(client):
    sign_in(client, ADELE, tenant=CONTOSO_ID)
    assert "_auth_user_id" not in client.session  # the platform's session knows nobody
    cookie = client.cookies[session.COOKIE_NAME]
    assert cookie["path"] == "/idp/" and cookie["httponly"]
    # The resource owner behind the provider's grants cannot sign in to the platform.
    owner = get_user_model().objects.get(username=f"{USERNAME_PREFIX}{ADELE.tenant_id}:{ADELE.object_id}")
    assert not owner.is_active and not owner.has_usable_password()
    assert authenticate(username=owner.username, password=ADELE.password) is None


@pytest.mark.django_db
def test_authorize_uses_the_provider_sign_in_never_the_platform_user(client, user):
    application_make(APP)
    client.force_login(user)  # signed in to the platform, not to the provider
    response = _authorize(client)
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == f"/idp/{CONTOSO_ID}/login"
    assert parse_qs(location.query)["next"][0].startswith(f"/idp/{CONTOSO_ID}/oauth2/v2.0/authorize?")


@pytest.mark.django_db
def test_a_wrong_password_signs_nobody_in(client):
    response = client.post(
        f"/idp/{CONTOSO_ID}/login", {"account": f"{CONTOSO_ID}:{ADELE.object_id}", "password": "nope"}
    )
    assert response.status_code == 400 and b"wrong password" in response.content
    assert session.COOKIE_NAME not in response.cookies


@pytest.mark.django_db
def test_the_provider_sign_in_page_is_rate_limited(client, settings):
    """Password guessing at the provider's page meets IDENTITY_SIGN_IN_RATE, like every sign-in path:
    a 429 on its own page, with the wait, and not even the right password gets through meanwhile."""
    rate_limits_reset()
    settings.IDENTITY_SIGN_IN_RATE = "3/minute"
    url = f"/idp/{CONTOSO_ID}/login"
    guesses = [
        client.post(url, {"account": f"{CONTOSO_ID}:{ADELE.object_id}", "password": f"guess-{n}"}) for n in range(3)
    ]
    assert [r.status_code for r in guesses] == [400, 400, 400]
    limited = client.post(url, {"account": f"{CONTOSO_ID}:{ADELE.object_id}", "password": ADELE.password})
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
    assert "Too many sign-in requests from your address" in limited.content.decode()
    assert session.COOKIE_NAME not in limited.cookies
    assert client.get(url).status_code == 200  # the page itself still shows
    rate_limits_reset()
    signed_in = client.post(url, {"account": f"{CONTOSO_ID}:{ADELE.object_id}", "password": ADELE.password})
    assert signed_in.status_code == 200 and session.COOKIE_NAME in signed_in.cookies


@pytest.mark.django_db
def test_sign_in_returns_only_to_the_provider_itself(client):
    account = {"account": f"{CONTOSO_ID}:{ADELE.object_id}", "password": ADELE.password}
    inside = client.post(f"/idp/{CONTOSO_ID}/login", {**account, "next": f"/idp/{CONTOSO_ID}/oauth2/v2.0/authorize"})
    assert (
        inside.status_code == 200
        and forwarded_to(inside.content.decode()) == f"/idp/{CONTOSO_ID}/oauth2/v2.0/authorize"
    )
    for elsewhere in ("https://evil.example/", "/admin/", "//evil.example/idp/"):
        response = client.post(f"/idp/{CONTOSO_ID}/login", {**account, "next": elsewhere})
        assert response.status_code == 200 and b"Signed in to the development provider" in response.content


@pytest.mark.django_db
def test_a_tenant_signs_in_only_its_own_users(client):
    application_make(APP)
    refused = client.post(
        f"/idp/{CONTOSO_ID}/login",
        {"account": f"{FABRIKAM.tenant_id}:{ADELE_FABRIKAM.object_id}", "password": ADELE_FABRIKAM.password},
    )
    assert refused.status_code == 400
    sign_in(client, ADELE_FABRIKAM, tenant=FABRIKAM.tenant_id)
    # Signed in at Fabrikam: Contoso's authorize asks for a Contoso sign-in.
    assert urlsplit(_authorize(client)["Location"]).path == f"/idp/{CONTOSO_ID}/login"
    # `organizations` takes any tenant's user, and the token names the user's own tenant.
    tokens = code_flow(client, ADELE_FABRIKAM, client_id=APP, tenant="organizations").tokens
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims["tid"] == FABRIKAM.tenant_id and claims["iss"].endswith(f"/idp/{FABRIKAM.tenant_id}/v2.0")


@pytest.mark.django_db
def test_a_tampered_provider_cookie_is_nobody(client):
    application_make(APP)
    sign_in(client, ADELE, tenant=CONTOSO_ID)
    value = client.cookies[session.COOKIE_NAME].value
    client.cookies[session.COOKIE_NAME] = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    assert urlsplit(_authorize(client)["Location"]).path == f"/idp/{CONTOSO_ID}/login"


@pytest.mark.django_db
def test_pkce_is_required_and_checked(client):
    application_make(APP)
    sign_in(client, ADELE, tenant=CONTOSO_ID)
    response = client.get(
        f"/idp/{CONTOSO_ID}/oauth2/v2.0/authorize?client_id={APP}&response_type=code&scope=openid"
        f"&redirect_uri={REDIRECT_URI}&state=s"
    )
    assert response.status_code == 302 and "error=invalid_request" in response["Location"]

    response = _authorize(client)  # with a challenge, but redeemed with another verifier
    code = parse_qs(urlsplit(response["Location"]).query)["code"][0]
    wrong_verifier, _ = pkce_pair()
    token = client.post(
        f"/idp/{CONTOSO_ID}/oauth2/v2.0/token",
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "client_id": APP,
         "client_secret": SECRET, "code_verifier": wrong_verifier},
    )  # fmt: skip
    assert token.status_code == 400 and token.json()["error"] == "invalid_grant"


@pytest.mark.django_db
def test_end_session_returns_only_to_registered_uris(client):
    application_make(APP)
    sign_in(client, ADELE, tenant=CONTOSO_ID)
    logout = f"/idp/{CONTOSO_ID}/oauth2/v2.0/logout"
    response = client.get(logout, {"post_logout_redirect_uri": REDIRECT_URI, "client_id": APP, "state": "x"})
    assert response.status_code == 302 and response["Location"] == f"{REDIRECT_URI}?state=x"
    assert client.cookies[session.COOKIE_NAME].value == ""  # the provider's sign-in is forgotten
    assert urlsplit(_authorize(client)["Location"]).path == f"/idp/{CONTOSO_ID}/login"

    tokens = code_flow(client, ADELE, client_id=APP).tokens
    by_hint = client.get(logout, {"post_logout_redirect_uri": REDIRECT_URI, "id_token_hint": tokens["id_token"]})
    assert by_hint.status_code == 302 and by_hint["Location"] == REDIRECT_URI
    site_root = client.get(logout, {"post_logout_redirect_uri": "http://rp.example/", "client_id": APP})
    assert site_root.status_code == 302 and site_root["Location"] == "http://rp.example/"
    elsewhere = client.get(logout, {"post_logout_redirect_uri": "https://evil.example/", "client_id": APP})
    assert elsewhere.status_code == 200 and b"Signed out" in elsewhere.content


@pytest.mark.django_db
def test_idp_seed_makes_the_demo_client_sign_in_through_the_provider(client, capsys):
    demo_bootstrap(admin_password="irrelevant-0123456789")
    call_command("idp_seed", client="demo", base_url="http://testserver", redirect_uri=[REDIRECT_URI])
    first = capsys.readouterr().out
    assert first.count("provider created") == 2 and "new client secret stored" in first
    call_command("idp_seed", client="demo", base_url="http://testserver", redirect_uri=[REDIRECT_URI])
    assert capsys.readouterr().out.count("(unchanged)") == 2  # idempotent

    providers = IdentityProvider.objects.filter(kind=IdentityProvider.Kind.DEVELOPMENT).order_by("name")
    assert [p.tenant_id for p in providers] == [CONTOSO.tenant_id, FABRIKAM.tenant_id]
    contoso = providers[0]
    assert contoso.authority == "http://testserver/idp" and contoso.application_id == DEMO_APPLICATION_ID
    assert contoso.allowed_domains == [CONTOSO.domain]
    # The stored secret is the one the provider accepts at its token endpoint.
    secret = secret_decrypt(
        contoso.client_secret_encrypted,
        purpose=secret_purpose(model="identity.IdentityProvider", field="client_secret_encrypted"),
    )
    assert secret == secret_decrypt(
        providers[1].client_secret_encrypted,
        purpose=secret_purpose(model="identity.IdentityProvider", field="client_secret_encrypted"),
    )
    sign_in(client, ADELE, tenant=CONTOSO_ID)
    verifier, challenge = pkce_pair()
    response = _authorize(client, client_id=DEMO_APPLICATION_ID, challenge=challenge)
    code = parse_qs(urlsplit(response["Location"]).query)["code"][0]
    token = client.post(
        f"/idp/{CONTOSO_ID}/oauth2/v2.0/token",
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
         "client_id": DEMO_APPLICATION_ID, "client_secret": secret, "code_verifier": verifier},
    )  # fmt: skip
    assert token.status_code == 200, token.content


def test_production_settings_do_not_route_the_provider():
    """The base settings without AE_DEV_IDP_ENABLED (a deployment's): /idp/ resolves to nothing."""
    environment = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "AE_DEV_IDP_ENABLED")}
    environment["DJANGO_SETTINGS_MODULE"] = "analytics_engine.settings.base"
    probe = (
        "import django; django.setup()\n"
        "from django.conf import settings; from django.urls import Resolver404, resolve\n"
        "assert settings.AE_DEV_IDP_ENABLED is False\n"
        f"for path in ('/idp/{CONTOSO_ID}/oauth2/v2.0/authorize', '/idp/{CONTOSO_ID}/oauth2/v2.0/token', "
        "'/idp/oidc/userinfo', '/idp/organizations/v2.0/.well-known/openid-configuration'):\n"
        "    try:\n"
        "        resolve(path)\n"
        "    except Resolver404:\n"
        "        continue\n"
        "    raise SystemExit('routed: ' + path)\n"
        "print('not routed')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and "not routed" in result.stdout, result.stdout + result.stderr


DEV_PROVIDER_ADMIN_PAGES = (
    "/admin/oauth2_provider/application/",
    "/admin/oauth2_provider/accesstoken/",
    "/admin/oauth2_provider/refreshtoken/",
    "/admin/oauth2_provider/idtoken/",
    "/admin/oauth2_provider/grant/",
)


@pytest.mark.django_db
def test_the_provider_admin_pages_show_when_the_provider_is_on(client):
    """Test settings switch the provider on: its applications, tokens and grants are in the admin."""
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    for page in DEV_PROVIDER_ADMIN_PAGES:
        assert client.get(page).status_code == 200, page
    assert "oauth2_provider" in client.get("/admin/").content.decode()


def test_production_settings_hide_the_provider_admin_pages():
    """A deployment's settings (provider off): django-oauth-toolkit's admin pages are unregistered."""
    environment = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "AE_DEV_IDP_ENABLED")}
    environment["DJANGO_SETTINGS_MODULE"] = "analytics_engine.settings.base"
    probe = (
        "import django; django.setup()\n"
        "from django.conf import settings; from django.contrib import admin\n"
        "from django.urls import NoReverseMatch, reverse\n"
        "assert settings.AE_DEV_IDP_ENABLED is False\n"
        "registered = sorted(m._meta.label for m in admin.site._registry if m._meta.app_label == 'oauth2_provider')\n"
        "if registered: raise SystemExit('registered: ' + ', '.join(registered))\n"
        "for name in ('application', 'accesstoken', 'refreshtoken', 'idtoken', 'grant'):\n"
        "    try:\n"
        "        reverse(f'admin:oauth2_provider_{name}_changelist')\n"
        "    except NoReverseMatch:\n"
        "        continue\n"
        "    raise SystemExit('routed: ' + name)\n"
        "assert admin.site.is_registered(__import__('apps.identity.models', fromlist=['Role']).Role)\n"
        "print('hidden')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and "hidden" in result.stdout, result.stdout + result.stderr


def _code_flow_over_http(server_url: str) -> dict:
    """As a relying party on another host runs it: discovery, the sign-in page
    (with its CSRF token), authorize, the token endpoint over the back channel,
    and the ID token verified with PyJWT's JWKS client. The verified claims."""
    document = requests.get(f"{server_url}/idp/{CONTOSO_ID}/v2.0/.well-known/openid-configuration", timeout=30).json()
    browser = requests.Session()
    verifier, challenge = pkce_pair()
    response = browser.get(
        document["authorization_endpoint"],
        params={"client_id": APP, "response_type": "code", "redirect_uri": REDIRECT_URI, "state": "s",
                "scope": "openid profile email", "nonce": "n-live", "code_challenge": challenge,
                "code_challenge_method": "S256"},
        timeout=30,
    )  # fmt: skip
    assert response.status_code == 200 and 'name="password"' in response.text  # the provider's sign-in page
    response = browser.post(
        response.url,
        data={"csrfmiddlewaretoken": browser.cookies["csrftoken"], "account": f"{CONTOSO_ID}:{ADELE.object_id}",
              "password": ADELE.password, "next": parse_qs(urlsplit(response.url).query)["next"][0]},
        allow_redirects=False,
        timeout=30,
    )  # fmt: skip
    assert response.status_code == 200  # the page that forwards to the authorization endpoint
    response = browser.get(f"{server_url}{forwarded_to(response.text)}", allow_redirects=False, timeout=30)
    callback = urlsplit(response.headers["Location"])
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == REDIRECT_URI
    token = requests.post(
        document["token_endpoint"],
        data={"grant_type": "authorization_code", "code": parse_qs(callback.query)["code"][0],
              "redirect_uri": REDIRECT_URI, "client_id": APP, "client_secret": SECRET, "code_verifier": verifier},
        timeout=30,
    )  # fmt: skip
    assert token.status_code == 200, token.text
    id_token = token.json()["id_token"]
    key = jwt.PyJWKClient(document["jwks_uri"]).get_signing_key_from_jwt(id_token)
    return jwt.decode(id_token, key.key, algorithms=["RS256"], audience=APP, issuer=document["issuer"])


@pytest.mark.django_db(transaction=True)
def test_the_code_flow_over_http_against_a_live_server(live_server):
    application_make(APP)
    claims = _code_flow_over_http(live_server.url)
    assert claims["oid"] == ADELE.object_id and claims["nonce"] == "n-live"
    assert claims["iss"] == f"{live_server.url}/idp/{CONTOSO_ID}/v2.0"


@pytest.mark.django_db(transaction=True)
def test_make_run_serves_the_provider_on_its_own_daphne(tmp_path):
    """scripts/dev_idp.sh as supervisord starts it: a daphne of its own serving
    /idp/ alone, through which the whole flow runs (the platform's callback
    can call its token endpoint without waiting for itself)."""
    application_make(APP)
    # Its settings are a deployment's (PBKDF2), not the tests' fast MD5: the secret hashed as it checks it.
    get_application_model().objects.filter(client_id=APP).update(
        client_secret=PBKDF2PasswordHasher().encode(SECRET, "dev-idp-test-salt", iterations=1000)
    )
    port = free_port()
    log = tmp_path / "idp.log"
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "AE_VENV": str(Path(sys.executable).parent.parent),
        "IDP_PORT": str(port),
        "AE_DEV_IDP_ENABLED": "true",
        "DATABASE_URL": database_url_of_tests(),
    }
    with open(log, "wb") as out:
        process = subprocess.Popen([str(ROOT / "scripts" / "dev_idp.sh")], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)  # fmt: skip
    try:
        server = f"http://127.0.0.1:{port}"

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            except OSError:
                return False
            return True

        wait_until(listening, what="the provider's daphne", logs=log.read_text,
                   gone=lambda: process.poll() is not None and "daphne exited")  # fmt: skip
        claims = _code_flow_over_http(server)
        assert claims["oid"] == ADELE.object_id and claims["iss"] == f"{server}/idp/{CONTOSO_ID}/v2.0"
        assert requests.get(f"{server}/api/v1/", timeout=30).status_code == 404  # the provider alone
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
