"""The access console (docs/access.md, "The access console") in Chromium
against daphne, walked by a client's administrator: adds an identity
provider (its secret field is empty when edited again), creates a custom
role with permissions, gives a member that role, maps a directory group to
it, adds the row policy `region = 'EU'` for viewers (a predicate that does
not compile is refused next to its field first) and previews what a viewer
sees: the restricted number next to a different unrestricted one. A viewer
has no Access entry in the navigation and gets the 403 page."""

import re

import pytest
from rest_framework.test import APIClient

from apps.calculations import cache
from apps.core.models import Membership
from apps.core.tests.factories import MembershipFactory
from apps.governance.models import RowPolicy
from apps.identity.models import IdentityProvider, Role, RoleMapping
from apps.identity.selectors.providers import provider_client_secret
from tests.browser.conftest import screenshot
from tests.browser.test_dashboard import shop_define

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases=["default", "readonly"])]
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
APP_ID = "4a1aa1d5-c567-49d0-ad0b-cd957a47f842"
GROUP = "9f000000-0000-4000-8000-0000000a0a1f"


@pytest.fixture(autouse=True)
def _no_cached_results():
    connection = cache.cache_connection()
    for key in connection.scan_iter(f"{cache.PREFIX}:*"):
        connection.delete(key)


def submit(page, form_id: str, label: str) -> None:
    """Press the form's button and wait for the page HTMX redirects to."""
    with page.expect_navigation():
        page.locator(f"#{form_id} button[type=submit]", has_text=label).click()


def test_an_administrator_walks_the_access_console(signed_in_page, asgi_server):
    admin = MembershipFactory(role="admin", is_default=True, client__name="Acme Shop", client__code="acme_shop")
    client = admin.client
    api = APIClient()
    api.force_authenticate(admin.user)
    shop_define(api)  # shop_orders, 1-3 March 2026: EU 100 + 50, US 100 + 1,200 EUR of revenue
    megan = MembershipFactory(client=client, role="viewer", user__username="megan").user
    viewer = MembershipFactory(client=client, role="viewer", is_default=True, user__username="victor").user
    page = signed_in_page(asgi_server["url"], admin.user, path="/")

    # The Access entry of the navigation leads to the members.
    page.locator("#main-nav a", has_text="Access").click()
    page.locator('table[data-testid="members"]').wait_for()
    assert "By hand" in page.locator('tr[data-member="megan"]').inner_text()

    # An identity provider, with a client secret that is never shown again.
    page.goto(asgi_server["url"] + "/access/providers/new/")
    page.fill("#provider-name", "Contoso")
    page.fill("#provider-tenant", TENANT)
    page.fill("#provider-application", APP_ID)
    page.fill("#provider-secret", "s3cret~value")
    page.fill("#provider-domains", "contoso.example")
    submit(page, "provider-form", "Add provider")
    row = page.locator('tr[data-provider="Contoso"]')
    assert "stored" in row.inner_text() and "contoso.example" in row.inner_text()
    provider = IdentityProvider.objects.get(client=client)
    assert provider_client_secret(provider=provider) == "s3cret~value"
    row.locator("a", has_text="Edit").click()
    page.locator("#provider-secret").wait_for()
    assert page.locator("#provider-secret").input_value() == ""
    assert "s3cret" not in page.content()
    screenshot(page, "access-provider-edit")

    # A custom role with two permissions.
    page.goto(asgi_server["url"] + "/access/roles/")
    page.fill("#role-code", "Auditor")  # refused: a code is lower snake case
    page.fill("#role-name", "Auditor")
    page.locator("#role-form button[type=submit]").click()
    page.locator("#role-code-error").wait_for()
    assert "lower snake case" in page.locator("#role-code-error").inner_text()
    page.fill("#role-code", "auditor")
    page.check('#role-form input[name=permissions][value="view_metrics"]')
    page.check('#role-form input[name=permissions][value="load_data"]')
    submit(page, "role-form", "Create role")
    auditor = page.locator('tr[data-role="auditor"]')
    assert auditor.locator('[aria-label="view_metrics: granted"]').count() == 1
    assert auditor.locator('[aria-label="load_data: granted"]').count() == 1
    assert auditor.locator('[aria-label="manage_access: not granted"]').count() == 1
    assert sorted(Role.objects.get(client=client, code="auditor").permissions) == ["load_data", "view_metrics"]
    screenshot(page, "access-roles")

    # Megan gets the role.
    page.goto(asgi_server["url"] + "/access/")
    row = page.locator('tr[data-member="megan"]')
    row.locator("select").select_option("auditor")
    with page.expect_navigation():
        row.locator("button", has_text="Change role").click()
    assert page.locator('tr[data-member="megan"] select').input_value() == "auditor"
    assert Membership.objects.get(client=client, user=megan).role == "auditor"
    screenshot(page, "access-members")

    # A role mapping: the empty state says how, then the group's members get the role.
    page.goto(asgi_server["url"] + "/access/mappings/")
    assert "No role mappings yet" in page.locator('[data-testid="mappings-empty"]').inner_text()
    page.select_option("#mapping-provider", str(provider.pk))
    page.fill("#mapping-group", GROUP)
    page.select_option("#mapping-role", "auditor")
    page.fill("#mapping-priority", "10")
    submit(page, "mapping-form", "Add mapping")
    mapping = RoleMapping.objects.get(client=client)
    assert (mapping.group_object_id, mapping.role_code) == (GROUP, "auditor")
    assert "auditor" in page.locator(f'tr[data-mapping="{mapping.pk}"]').inner_text()
    screenshot(page, "access-mappings")

    # A row policy for viewers: first a predicate that does not compile, shown next to its field.
    page.goto(asgi_server["url"] + "/access/policies/")
    page.fill("#policy-name", "EU only")
    page.select_option("#policy-subject-kind", "role")
    page.fill("#policy-subject-value", "viewer")
    page.select_option("#policy-entity", "shop_orders")
    page.fill("#policy-predicate", "regio = 'EU'")
    page.locator("#policy-form button[type=submit]").click()
    page.locator("#policy-predicate-error").wait_for()
    assert "regio" in page.locator("#policy-predicate-error").inner_text()
    assert page.locator("#policy-predicate").input_value() == "regio = 'EU'"  # kept as typed
    page.fill("#policy-predicate", "region = 'EU'")
    submit(page, "policy-form", "Add policy")
    assert "region = 'EU'" in page.locator('tr[data-policy="EU only"]').inner_text()
    assert RowPolicy.objects.get(client=client).predicate == "region = 'EU'"

    # The preview: what Victor (a viewer) sees next to the unrestricted value.
    page.select_option("#preview-user", str(viewer.pk))
    page.select_option("#preview-metric", "revenue")
    page.fill("#preview-start", "2026-03-01")
    page.fill("#preview-end", "2026-03-04")
    page.locator('[data-testid="preview-form"] button[type=submit]').click()
    page.locator('[data-testid="restricted-total"]').wait_for()
    restricted = float(page.locator('[data-testid="restricted-total"]').inner_text())
    unrestricted = float(page.locator('[data-testid="unrestricted-total"]').inner_text())
    assert (restricted, unrestricted) == (150.0, 1450.0)
    assert "region = 'EU'" in page.locator('[data-testid="preview"]').inner_text()
    screenshot(page, "access-policy-preview")
    # The browser logs the two refused forms' 400s; nothing else went wrong.
    assert [e for e in page.js_errors if "status of 400" not in e] == []
    assert len(page.js_errors) == 2

    # A viewer: no Access entry, and the console answers 403.
    viewer_page = signed_in_page(asgi_server["url"], viewer, path="/")
    assert viewer_page.locator("#main-nav a", has_text="Access").count() == 0
    assert viewer_page.locator("#main-nav a", has_text="Dashboard").count() == 1
    answer = viewer_page.goto(asgi_server["url"] + "/access/")
    assert answer.status == 403
    assert re.search(r"manage_access", viewer_page.content())
