import pytest

from apps.core.tests.factories import ClientFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_anonymous_request_is_401_with_error_shape_and_bearer_challenge(api_client):
    response = api_client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "code": "not_authenticated",
            "message": "Authentication credentials were not provided.",
            "details": {},
        }
    }
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_token_flow_obtain_use_and_refresh(api_client, user):
    response = api_client.post("/api/v1/auth/token/", {"username": user.username, "password": "pass-word-123"})
    assert response.status_code == 200, response.content
    tokens = response.json()

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    me = api_client.get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["username"] == user.username
    assert me.json()["client"]["code"] == user.memberships.get().client.code

    refreshed = api_client.post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]})
    assert refreshed.status_code == 200
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}")
    assert api_client.get("/api/v1/me").status_code == 200  # trailing slash optional


def test_wrong_password_is_401_naming_the_problem(api_client, user):
    response = api_client.post("/api/v1/auth/token", {"username": user.username, "password": "nope"})
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "no_active_account"
    assert "No active account" in error["message"]


def test_bad_input_is_400_with_field_details(api_client):
    response = api_client.post("/api/v1/auth/token/", {"username": "someone"}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["details"] == {"password": ["This field is required."]}
    assert "password" in error["message"]


def test_garbage_bearer_token_is_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    response = api_client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


def test_client_header_selects_among_memberships_and_refuses_others(api_client):
    user = UserFactory()
    first = MembershipFactory(user=user, client=ClientFactory(code="alpha")).client
    second = MembershipFactory(user=user, client=ClientFactory(code="beta")).client
    ClientFactory(code="gamma")
    api_client.force_authenticate(user)

    ambiguous = api_client.get("/api/v1/me/")
    assert ambiguous.status_code == 400
    assert ambiguous.json()["error"]["code"] == "client_required"
    assert ambiguous.json()["error"]["details"]["clients"] == ["alpha", "beta"]

    chosen = api_client.get("/api/v1/me/", HTTP_X_CLIENT="beta")
    assert chosen.json()["client"]["code"] == second.code
    assert [c["code"] for c in chosen.json()["clients"]] == [first.code, second.code]

    for foreign in ("gamma", "does_not_exist"):
        refused = api_client.get("/api/v1/me/", HTTP_X_CLIENT=foreign)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "client_forbidden"


def test_openapi_schema_and_swagger_ui_are_served_without_cdn(auth_client):
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/schema/").status_code == 401
    schema = auth_client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/auth/token/" in paths
    assert "/api/v1/me/" in paths

    docs = auth_client.get("/api/v1/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    assert "cdn." not in html and "unpkg" not in html
    assert "/static/drf_spectacular_sidecar/" in html


def test_correlation_id_is_echoed_and_generated(api_client):
    given = api_client.get("/api/v1/me/", HTTP_X_CORRELATION_ID="req-42")
    assert given["X-Correlation-ID"] == "req-42"
    generated = api_client.get("/api/v1/me/")
    assert len(generated["X-Correlation-ID"]) == 32


def test_rate_limits_per_client_and_per_anonymous_address(settings, api_client):
    from apps.core.rate_limits import rate_limits_reset

    rate_limits_reset()
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"client": "3/minute", "anon": "2/minute"},
    }
    colleague_a = MembershipFactory(client=ClientFactory(code="busy"), is_default=True).user
    colleague_b = MembershipFactory(client=ClientFactory(code="busy"), is_default=True).user
    outsider = MembershipFactory(is_default=True).user

    api_client.force_authenticate(colleague_a)
    assert [api_client.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 200]
    api_client.force_authenticate(colleague_b)  # same client: shares the budget
    throttled = api_client.get("/api/v1/me/")
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0
    api_client.force_authenticate(outsider)  # another client: its own budget
    assert api_client.get("/api/v1/me/").status_code == 200

    api_client.force_authenticate(None)
    guesses = [api_client.post("/api/v1/auth/token/", {"username": "x", "password": "y"}).status_code for _ in range(3)]
    assert guesses == [401, 401, 429]
