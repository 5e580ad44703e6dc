"""KPI configuration and details in a real browser (Playwright driving
Debian's Chromium, the daphne server of `asgi_server`): sign in, pick a KPI
and see its chart, derive a KPI (an invalid formula refused inline as typed,
then a valid one created), keep it in the cart across a reload, resize the
split with the keyboard, and open every tab of the details page. Screenshots
go to tests/artifacts/ (kpis.png, derive_modal.png, kpi_detail.png, kpi_detail_formula.png,
kpi_detail_dark.png, kpis_dark.png). Fixtures: tests/browser/conftest.py."""

import re

import pytest

from apps.core.tests.factories import MembershipFactory
from apps.web.selectors import cart_codes
from apps.web.tests.kpi_fixtures import history_rows, snapshots_load, value_chain_create
from apps.web.tests.ontology_fixtures import insurer_define
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases=["default", "readonly"])]


@pytest.fixture
def insurer(api_client):
    member = MembershipFactory(is_default=True, role="analyst", client__name="Acme Health")
    insurer_define(member.client_id)
    snapshots_load(member.client_id, rows=history_rows())
    value_chain_create(
        api_client, member.user, code="retention", name="Health retention", industry="Health insurance",
        metrics=["start_count", "new_count"],
    )  # fmt: skip
    return member


def _sign_in(page, base: str, user, next_path: str) -> None:
    page.goto(f"{base}/accounts/login/?next={next_path}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("pass-word-123")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}{next_path}")


def test_configure_derive_cart_and_details(page, insurer, asgi_server, signed_in_page):
    base = asgi_server["url"]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    _sign_in(page, base, insurer.user, "/kpis/")

    # -- the tree, grouped by industry; pick a KPI: its chart and metadata --
    tree = page.locator("#kpi-tree")
    assert tree.get_by_text("Health insurance").is_visible()
    tree.locator('[data-kpi="start_count"]').click()
    page.locator('#kpi-preview [data-preview="start_count"] [data-chart-ready] canvas').wait_for()
    assert page.url.endswith("/kpis/?metric=start_count&group=industry")
    assert page.locator("#kpi-preview").get_by_text("policy_snapshot.status").is_visible()
    page.get_by_role("tab", name="Domains").click()
    page.locator('#kpi-group-domain[aria-selected="true"]').wait_for()
    page.get_by_role("tab", name="Industries").click()
    page.locator('#kpi-group-industry[aria-selected="true"]').wait_for()
    page.get_by_label("Search KPIs").fill("growth")
    page.locator('#kpi-tree [data-kpi="start_count"]').wait_for(state="detached")
    assert page.locator("#kpi-tree [data-kpi]").count() == 1
    page.get_by_label("Search KPIs").fill("")
    page.locator('#kpi-tree [data-kpi="start_count"].selected').wait_for()  # still the KPI shown
    screenshot(page, "kpis")

    # -- the split: keyboard-resizable, remembered --
    splitter = page.get_by_role("separator", name="Resize the KPI tree")
    before = int(splitter.get_attribute("aria-valuenow"))
    splitter.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert int(splitter.get_attribute("aria-valuenow")) == before + 4

    # -- derive a KPI: an unknown metric refused as typed, then a valid formula --
    page.get_by_role("button", name="+ Derive custom KPI").click()
    dialog = page.locator("#derive-dialog")
    dialog.get_by_label("Name").fill("New business share")
    dialog.get_by_label("Code").fill("new_share")
    dialog.get_by_label("Formula").fill("NewCount * 100 / Nope")
    error = dialog.locator("#formula-feedback .field-error")
    error.wait_for()
    assert "Unknown name 'Nope'" in error.inner_text()
    screenshot(page, "derive_modal")
    dialog.get_by_label("Formula").fill("NewCount * 100 / StartCount")
    dialog.locator("#formula-feedback .field-ok").wait_for()
    assert "it uses new_count, start_count" in dialog.locator("#formula-feedback").inner_text()
    dialog.get_by_label("Unit").fill("%")
    dialog.get_by_role("button", name="Create KPI").click()
    page.locator('#kpi-tree [data-kpi="new_share"].selected').wait_for()
    page.locator('#kpi-preview [data-preview="new_share"]').wait_for()
    assert not dialog.is_visible()
    assert "metric=new_share" in page.url

    # -- the cart: add from the preview; it survives a reload --
    page.locator("#kpi-preview").get_by_role("button", name="Add to cart").click()
    page.locator("#kpi-preview").get_by_role("button", name=re.compile("In cart")).wait_for()
    assert page.locator("#kpi-cart").get_by_text("New business share").is_visible()
    page.reload()
    assert page.locator("#kpi-cart").get_by_text("New business share").is_visible()
    assert page.locator('#kpi-tree [data-kpi="new_share"] .kpi-in-cart').is_visible()
    assert int(page.get_by_role("separator", name="Resize the KPI tree").get_attribute("aria-valuenow")) == before + 4
    assert cart_codes(user_id=insurer.user.pk, client_id=insurer.client_id) == ["new_share"]

    # -- details: every tab, over HTMX, deep-linkable --
    page.locator("#kpi-preview").get_by_role("link", name="Details").click()
    page.wait_for_url(f"{base}/kpis/new_share/")
    page.locator("#kpi-tabpanel [data-value-now]").wait_for()
    page.locator("#kpi-tabpanel [data-sparkline][data-chart-ready]").wait_for()
    screenshot(page, "kpi_detail")
    checks = {
        "Formula": "#kpi-tabpanel [data-sql]",
        "Objects": '#kpi-tabpanel a[href="/objects/#entity-policy_snapshot"]',
        "Benchmarks": '#kpi-tabpanel [data-dimension="status"] [data-chart-ready]',
        "Metadata": "#kpi-tabpanel [data-versions]",
        "Overview": "#kpi-tabpanel [data-sparkline][data-chart-ready]",
    }
    for name, selector in checks.items():
        page.get_by_role("tab", name=name).click()
        page.locator(selector).first.wait_for()
        assert page.get_by_role("tab", name=name).get_attribute("aria-selected") == "true"
        assert page.url.endswith(f"?tab={name.lower()}")
    page.get_by_role("tab", name="Formula").click()
    page.locator("#kpi-tabpanel [data-sql]").wait_for()
    assert "SELECT" in page.locator("#kpi-tabpanel [data-sql]").inner_text()
    screenshot(page, "kpi_detail_formula")

    # -- the cart button on the details page; the derive dialog prefilled --
    page.get_by_role("button", name=re.compile("In cart")).click()
    page.get_by_role("button", name="Add to cart").wait_for()
    page.get_by_role("button", name="Edit / Derive").click()
    assert page.locator("#derive-dialog").get_by_label("Formula").input_value().strip() == "new_share"
    page.locator("#derive-dialog").get_by_role("button", name="Cancel").click()
    assert errors == []

    # -- dark --
    dark = signed_in_page(base, insurer.user, path="/kpis/start_count/?tab=benchmarks", color_scheme="dark")
    dark.locator('#kpi-tabpanel [data-dimension="status"] [data-chart-ready]').wait_for()
    screenshot(dark, "kpi_detail_dark")
    dark.goto(base + "/kpis/?metric=start_count")
    dark.locator("#kpi-preview [data-chart-ready]").wait_for()
    screenshot(dark, "kpis_dark")
    assert dark.js_errors == []
