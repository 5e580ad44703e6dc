"""Every endpoint, page and WebSocket channel family is guarded by the
permission it declares (issue #17, item 6; docs/access.md).

The test walks the whole URL conf (`get_resolver()`: /api/v1, the console
pages, everything) and every registered channel family. A view must declare
what each method needs (`required_permissions`: API views read by
`HasClientPermission`, pages by `client_required`) unless it is on one of the
short allow-lists below, each entry with its reason. For each declared
(method, permission), a member whose role has every permission BUT that one
gets 403 naming it, and a member whose role has ONLY that one does not get
403; each route proves this for at least one method it serves."""

import re
from collections.abc import Iterator

import pytest
from django.test import Client as DjangoClient
from django.urls import URLPattern, URLResolver, get_resolver

from apps.core.access import ALL_PERMISSIONS, Permission
from apps.core.api.permissions import HasClientPermission, required_permission
from apps.core.errors import AppError
from apps.core.realtime import ChannelRequest, channel_authorize, channel_families, channel_family_permission
from apps.core.tests.factories import ClientFactory, MembershipFactory, UserFactory
from apps.identity.services.roles import role_create

pytestmark = pytest.mark.django_db

# Reachable without any client permission. Each entry: view -> why.
PUBLIC = {
    "apps.identity.views.SignInView": "the sign-in page (e-mail step, break-glass password): nobody is signed in yet",
    "apps.identity.oidc.views.ProviderLoginView": "starts the identity provider's sign-in: nobody is signed in yet",
    "apps.identity.oidc.views.ProviderCallbackView": "the provider's redirect back, proven by its ID token",
    "apps.identity.oidc.views.ProviderLogoutView": "signing out (RP-initiated) needs no permission",
    "apps.core.views.LogoutView": "signing out of the console needs no permission",
    # The development OIDC provider (off in production, where /idp/ is not routed):
    # the protocol endpoints of an identity provider, authenticated by what OIDC
    # says (client secret, PKCE, bearer token, its own sign-in cookie), never by
    # a client permission of this platform.
    "apps.identity.dev_provider.views.LoginView": "the development provider's own sign-in page",
    "apps.identity.dev_provider.views.discovery": "OIDC discovery document, public by the protocol",
    "apps.identity.dev_provider.views.AuthorizeView": "OIDC authorize, needs the provider's own sign-in",
    "oauth2_provider.views.oidc.UserInfoView": "OIDC userinfo, authenticated by the provider's bearer token",
    "oauth2_provider.views.base.TokenView": "OAuth token endpoint, authenticated by client secret and PKCE",
    "oauth2_provider.views.oidc.JwksInfoView": "the provider's public signing keys",
    "apps.identity.dev_provider.views.LogoutView": "OIDC end-session",
    "apps.observability.views.health": "liveness probe for load balancers; says nothing about any client",
    "apps.observability.views.metrics": "Prometheus scrape, guarded by its own token/network rule (test_metrics.py)",
    "apps.core.api.auth_views.TokenObtainView": "obtaining a token is how an API client signs in",
    "rest_framework_simplejwt.views.TokenRefreshView": "authenticated by the refresh token itself",
    "apps.core.api.views.LogoutView": "authenticated by the refresh token itself",
}
# Any signed-in user, whatever their role: nothing of one client's data.
SIGNED_IN = {
    "apps.core.api.views.MeView": "the caller's own clients and permissions",
    "drf_spectacular.views.SpectacularAPIView": "the OpenAPI schema, the same for everyone",
    "drf_spectacular.views.SpectacularSwaggerSplitView": "the API docs page, the same for everyone",
    "apps.observability.api.views.SystemHealthView": "the platform's health, no client's data",
    "apps.identity.api.roles_views.PermissionListView": "the permission vocabulary, the same for everyone",
}
# Platform staff (Django's is_staff), not a client permission: they operate
# the shared warehouse, which belongs to no one client.
STAFF = {
    "apps.warehouse.api.views.MigrationStatusView": "schema migrations of the shared warehouse",
    "apps.warehouse.api.views.MigrationSqlView": "schema migrations of the shared warehouse",
    "apps.warehouse.api.views.MigrationApplyView": "schema migrations of the shared warehouse",
    "apps.warehouse.api.retention_views.RetentionStatusView": "retention of the shared warehouse",
    "apps.warehouse.api.retention_views.RetentionJobListView": "retention of the shared warehouse",
    "apps.warehouse.api.retention_views.TriggerArchivalView": "retention of the shared warehouse",
    "apps.warehouse.api.retention_views.RetentionPolicyViewSet": "retention of the shared warehouse",
}
ADMIN_SITE = "admin/"  # Django's admin: staff only (its own login), walked separately

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
DUMMY = "999999"  # fits every path parameter ([^/]+, \d+, <int:...>, <str:...>) and names nothing


def _walk(patterns, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def _url(route: str) -> str:
    """A concrete path for a route, its parameters filled with DUMMY."""
    path = route.replace("^", "").replace("$", "").replace("/?", "/")
    path = re.sub(r"\(\?P<\w+>[^)]*\)", DUMMY, path)
    path = re.sub(r"<(?:\w+:)?\w+>", DUMMY, path)
    assert not re.search(r"[()?*+\\\[\]]", path), f"cannot build a URL from {route!r}"
    return "/" + path


def _view(pattern: URLPattern):
    callback = pattern.callback
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    target = cls or callback
    return callback, cls, f"{target.__module__}.{target.__qualname__}"


def _routes() -> list[tuple[str, URLPattern]]:
    return [(route, p) for route, p in _walk(get_resolver().url_patterns) if not route.startswith(ADMIN_SITE)]


def _declared(callback, cls) -> dict[str, str]:
    """method -> permission, as the view declares it (and enforces it)."""
    if cls is not None and hasattr(cls, "permission_classes"):  # a DRF view
        if HasClientPermission not in cls.permission_classes:
            return {}
        holder = cls
    else:
        holder = callback
    if not getattr(holder, "required_permissions", None):
        return {}
    return {m: p for m in METHODS if (p := required_permission(holder, m))}


class Members:
    """One client; for each permission, a member whose role has only it and
    one whose role has all the others (roles made through the service)."""

    def __init__(self) -> None:
        self.client = ClientFactory()
        self._browsers: dict[tuple[str, bool], DjangoClient] = {}
        for permission in Permission:
            for having in (True, False):
                code = f"{'only' if having else 'not'}_{permission.value}"
                perms = [permission] if having else sorted(ALL_PERMISSIONS - {permission})
                role_create(client_id=self.client.pk, code=code, name=code, permissions=perms)
                member = MembershipFactory(client=self.client, role=code, is_default=True)
                browser = DjangoClient()
                browser.force_login(member.user)
                self._browsers[(permission, having)] = browser

    def browser(self, permission: str, *, having: bool) -> DjangoClient:
        return self._browsers[(permission, having)]


def _request(browser: DjangoClient, method: str, url: str):
    return browser.generic(method, url, b"{}", content_type="application/json", HTTP_ACCEPT="application/json")


def test_every_route_is_declared_or_allow_listed():
    undeclared = []
    for route, pattern in _routes():
        callback, cls, name = _view(pattern)
        listed = name in PUBLIC or name in SIGNED_IN or name in STAFF
        declared = _declared(callback, cls)
        if declared and listed:
            undeclared.append(f"{route} ({name}) declares permissions and is allow-listed too")
        elif not declared and not listed:
            undeclared.append(f"{route} ({name}) declares no permission")
    assert undeclared == []


def test_every_declared_permission_is_enforced():
    members = Members()
    unproven = []
    checked = 0
    for route, pattern in _routes():
        callback, cls, name = _view(pattern)
        declared = _declared(callback, cls)
        if not declared:
            continue
        url = _url(route)
        proven = False
        for method, permission in declared.items():
            allowed = _request(members.browser(permission, having=True), method, url)
            if allowed.status_code == 405:
                continue  # the route does not serve this method
            assert allowed.status_code != 403, f"{method} {url} refused a role that has {permission!r}"
            refused = _request(members.browser(permission, having=False), method, url)
            assert refused.status_code == 403, f"{method} {url} let in a role without {permission!r}"
            assert f"needs the permission '{permission}'" in refused.content.decode(), (method, url)
            proven = True
            checked += 1
        if not proven:
            unproven.append(f"{route} ({name}): no declared method answered")
    assert unproven == []
    assert checked > 60  # the walk really reached the API and the pages


def test_the_allow_listed_views_are_what_their_list_says():
    member = MembershipFactory(is_default=True)
    role_create(client_id=member.client_id, code="nothing", name="Nothing", permissions=[])
    member.role = "nothing"
    member.save(update_fields=["role"])
    browser, anonymous = DjangoClient(), DjangoClient()
    browser.force_login(member.user)
    seen = set()
    for route, pattern in _routes():
        _, _, name = _view(pattern)
        url = _url(route)
        if name in SIGNED_IN:
            seen.add(name)
            assert anonymous.get(url).status_code in (401, 403), url
            assert browser.get(url).status_code not in (401, 403), url  # (system health may be 503 here)
        elif name in STAFF:
            seen.add(name)
            assert browser.get(url).status_code in (403, 405), url  # a client's admin is not platform staff
        elif name in PUBLIC:
            seen.add(name)
    assert seen == set(PUBLIC) | set(SIGNED_IN) | set(STAFF)  # no stale entries
    staff = UserFactory(is_staff=False)
    admin = DjangoClient()
    admin.force_login(staff)
    assert admin.get("/admin/").status_code == 302  # the admin site sends non-staff to its login


def test_every_channel_family_declares_and_enforces_its_permission():
    client = ClientFactory()
    families = channel_families()
    assert {"metric", "simulation", "telemetry"} <= set(families)
    for family in families:
        permission = channel_family_permission(family)
        assert permission in ALL_PERMISSIONS, family
        channel = f"{family}.{DUMMY if family != 'simulation' else 'run_' + DUMMY}"
        without = ChannelRequest(client.pk, 1, "x", channel, permissions=ALL_PERMISSIONS - {permission})
        with pytest.raises(AppError) as refused:
            channel_authorize(without)
        assert refused.value.code == "channel_forbidden" and refused.value.details["permission"] == permission
        assert f"needs the permission '{permission}'" in refused.value.message
        with_it = ChannelRequest(client.pk, 1, "x", channel, permissions=frozenset({permission}))
        try:
            channel_authorize(with_it)
        except AppError as exc:  # the family may still refuse a channel naming nothing (unknown_channel)
            assert exc.code != "channel_forbidden", family
