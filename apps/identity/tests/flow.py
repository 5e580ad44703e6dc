"""Drive a sign-in through the Django test client and the stand-in provider."""

from urllib.parse import parse_qs, urlsplit

from apps.identity.tests.idp_standin import StandInIdP


def sign_in_start(client, idp: StandInIdP, email: str = "ann@contoso.com", **extra) -> dict[str, str]:
    """GET /auth/oidc/login/: the redirect to the provider's authorize URL, parsed."""
    response = client.get("/auth/oidc/login/", {"email": email, **extra})
    assert response.status_code == 302, response.content.decode()[:500]
    location = response["Location"]
    assert location.startswith(f"{idp.base()}/oauth2/v2.0/authorize?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def callback(client, params: dict[str, str], code: str):
    return client.get("/auth/oidc/callback/", {"code": code, "state": params["state"]})


def sign_in(client, idp: StandInIdP, login_email: str = "ann@contoso.com", **authorize_kwargs):
    """The whole flow: login -> authorize at the provider -> callback."""
    params = sign_in_start(client, idp, login_email)
    return callback(client, params, idp.authorize(params, **authorize_kwargs))
