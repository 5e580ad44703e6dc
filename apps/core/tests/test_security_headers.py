"""Every answer carries the browser security headers: a Content-Security-Policy
that allows scripts from our own origin only (no inline script, no eval), a
Permissions-Policy turning off the powerful features no page uses, and a
Referrer-Policy. The Swagger UI at /api/v1/docs/ works under that policy: its
start-up code is a script of its own, not inline."""

import re

import pytest
from django.conf import settings
from django.test import override_settings

from apps.core.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in header.split(";")) if part}


@pytest.fixture
def signed_in(client):
    member = MembershipFactory(is_default=True, role="analyst")
    client.force_login(member.user)
    return client


@pytest.mark.parametrize("path", ["/accounts/login/", "/api/v1/me/", "/health", "/no-such-page/"])
def test_anonymous_answers_carry_the_headers(client, path):
    response = client.get(path)
    policy = _policy(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert "camera=()" in response["Permissions-Policy"]
    assert "geolocation=()" in response["Permissions-Policy"]
    assert response["Referrer-Policy"] == "same-origin"


def test_console_page_allows_no_inline_script_and_connects_only_to_its_own_origin(signed_in):
    response = signed_in.get("/")
    assert response.status_code == 200
    policy = _policy(response)
    assert "'unsafe-inline'" not in policy["script-src"]
    assert policy["connect-src"] == ["'self'"]  # the /ws/ socket is same-origin
    assert policy["default-src"] == ["'self'"]
    html = response.content.decode()
    inline = [m for m in re.findall(r"<script\b([^>]*)>", html) if "src=" not in m and "application/json" not in m]
    assert inline == []


def test_swagger_ui_loads_its_start_up_code_as_a_script_of_its_own(signed_in):
    page = signed_in.get("/api/v1/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert re.findall(r"<script>", html) == []
    script_url = re.search(r'<script src="([^"]*script=[^"]*)"', html).group(1).replace("&amp;", "&")
    script = signed_in.get(script_url)
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def test_report_only_mode_sends_the_policy_as_a_report(client):
    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    report_only = {"DIRECTIVES": directives}
    with override_settings(CONTENT_SECURITY_POLICY=None, CONTENT_SECURITY_POLICY_REPORT_ONLY=report_only):
        response = client.get("/accounts/login/")
    assert "Content-Security-Policy" not in response
    assert "script-src 'self'" in response["Content-Security-Policy-Report-Only"]
