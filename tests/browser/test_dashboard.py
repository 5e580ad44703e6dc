"""The dashboard in a real browser on the real ASGI server (daphne, with /ws/):
sign in, see the KPI widgets, the trend chart and the health panel, switch
theme and tenant, and watch a widget change when new rows are loaded through
the API, without a reload.

The live path is the production one up to the process boundary: the rows go
through `POST /api/v1/data/<entity>/rows/` (in the test process), the bus
consumer group `calculations.live` handles the `ingestion.completed` event
(`GroupWorker.drain`, in the test process, Celery eager), the recalculation
records the history and pushes each point through the Channels layer in
Redis, and daphne's /ws/ consumer delivers it to the page's socket (live.js),
where the widget redraws."""

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from rest_framework.test import APIClient

from apps.calculations import cache
from apps.core.tests.factories import MembershipFactory
from apps.web.tests.test_dashboard import ORDERS, SHOP_ORDERS
from tests.browser.conftest import ARTIFACTS, PHONE, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases=["default", "readonly"])]


@pytest.fixture(autouse=True)
def _no_cached_results():
    connection = cache.cache_connection()
    for key in connection.scan_iter(f"{cache.PREFIX}:*"):
        connection.delete(key)


@pytest.fixture
def member():
    member = MembershipFactory(is_default=True, role="analyst", client__name="Acme Shop", client__code="acme_shop")
    MembershipFactory(user=member.user, role="analyst", client__name="Bright Motor", client__code="bright_motor")
    return member


@pytest.fixture
def api(member):
    client = APIClient()
    client.force_authenticate(member.user)
    return client


def shop_define(api) -> None:
    """shop_orders and its revenue (1 Mar 100, 2 Mar 150, 3 Mar 1,200 EUR),
    plus an order count, recorded by one computation over March."""
    assert api.post("/api/v1/ontology/entities/", SHOP_ORDERS, format="json").status_code == 201
    for code, name, formula, unit in (("revenue", "Revenue", "SUM(amount)", "EUR"),
                                      ("order_count", "Orders", "COUNT(order_id)", "count")):  # fmt: skip
        payload = {"code": code, "name": name, "formula": formula, "unit": unit, "entity": "shop_orders"}
        assert api.post("/api/v1/ontology/metrics/", {**payload, "domain": "finance"}, format="json").status_code == 201
    rows_load(api, [{"ordered_at": t, "order_id": o, "region": r, "amount": a} for t, o, r, a in ORDERS])
    for code in ("revenue", "order_count"):
        assert api.get(f"/api/v1/metrics/{code}", {"start": "2026-02-20", "end": "2026-03-04"}).status_code == 200


def rows_load(api, rows) -> None:
    response = api.post("/api/v1/data/shop_orders/rows/", rows, format="json")
    assert response.status_code in (200, 201) and response.json()["rejected"] == [], response.content


def widget_value(page, code: str) -> str:
    return page.locator(f'[data-kpi="{code}"] [data-kpi-value]').inner_text()


def test_sign_in_see_the_dashboard_and_watch_a_kpi_change_live(
    browser,
    page,
    asgi_server,
    api,
    member,
    make_worker,
    eager_celery,
):
    shop_define(api)
    live = make_worker("calculations.live")
    url = asgi_server["url"]

    # Sign in through the form.
    page.goto(url + "/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill(member.user.username)
    page.get_by_label("Password").fill("pass-word-123")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(url + "/")

    # The dashboard: navigation, client, widgets, trend chart, health panel.
    assert page.locator('#main-nav a[aria-current="page"]').inner_text() == "Dashboard"
    assert page.locator("body").get_attribute("data-client") == "acme_shop"
    page.locator('[data-kpi="revenue"]').wait_for()
    assert widget_value(page, "revenue") == "1,200 EUR"
    assert "+700.0 %" in page.locator('[data-kpi="revenue"] [data-kpi-delta]').inner_text()
    assert widget_value(page, "order_count") == "1"
    page.locator("#trend-chart svg").wait_for()  # ECharts drew the series
    page.get_by_test_id("health-overall").wait_for(timeout=15000)
    page.wait_for_function("() => document.body.dataset.live === 'open'")
    assert page.locator("[data-live-status]").inner_text() == "Live"
    screenshot(page, "dashboard-light")

    # New rows for 4 March, loaded through the API: the recalculation pushes the
    # new day, and the widget changes in place (no reload: the marker survives).
    page.evaluate("window.__not_reloaded = true")
    # The server acknowledged the widgets' subscriptions before we load.
    page.wait_for_function("() => AE.live.isSubscribed('metric.revenue') && AE.live.isSubscribed('metric.order_count')")
    rows_load(api, [
        {"ordered_at": "2026-03-04T08:00:00+00:00", "order_id": "o5", "region": "EU", "amount": "2000.00"},
        {"ordered_at": "2026-03-04T09:00:00+00:00", "order_id": "o6", "region": "US", "amount": "400.00"},
    ])  # fmt: skip
    # The load's ingestion.completed, handled: recalculated, recorded, pushed. In a
    # thread of its own: this one runs Playwright's event loop, and the push is
    # synchronous code over the async channel layer (async_to_sync).
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(live.drain).result() >= 1
    page.wait_for_function(
        "() => document.querySelector('[data-kpi=\"revenue\"] [data-kpi-value]').textContent === '2,400 EUR'",
        timeout=15000,
    )
    assert page.evaluate("window.__not_reloaded") is True
    assert "+100.0 %" in page.locator('[data-kpi="revenue"] [data-kpi-delta]').inner_text()  # 1,200 -> 2,400
    assert page.locator('[data-kpi="revenue"] [data-kpi-asof]').get_attribute("datetime") == "2026-03-04"
    assert widget_value(page, "order_count") == "2"
    assert len(page.locator('[data-kpi="revenue"] [data-kpi-spark]').get_attribute("points").split()) == 4

    # Trend: group by region, then a range with no data.
    page.get_by_label("Group by").select_option("region")
    page.wait_for_function(
        "() => document.querySelectorAll('#trend-chart svg').length === 1 && "
        "JSON.parse(document.getElementById('trend-data').textContent).group_by === 'region'"
    )
    assert page.locator("#trend-chart").get_attribute("aria-label").endswith("by region")
    page.get_by_role("button", name="Last 7 days").click()
    page.get_by_test_id("trend-empty").wait_for()
    assert "No data in this range" in page.get_by_test_id("trend-empty").inner_text()
    # It says where the data is, and one click shows those days (issue 14 item 6).
    assert page.get_by_test_id("trend-extent").inner_text() == "Data runs from 1 Mar 2026 to 4 Mar 2026."
    page.get_by_test_id("trend-show-extent").click()
    page.wait_for_function(
        "() => document.querySelectorAll('#trend-chart svg').length === 1 && "
        "JSON.parse(document.getElementById('trend-data').textContent).buckets.join() === "
        "'2026-03-01,2026-03-02,2026-03-03,2026-03-04'"
    )
    assert page.locator("#trend-start").input_value() == "2026-03-01"

    # Theme: the toggle switches to dark and the choice survives a reload.
    page.get_by_role("button", name="Switch to dark theme").click()
    assert page.locator("html").get_attribute("data-theme") == "dark"
    page.reload()
    assert page.locator("html").get_attribute("data-theme") == "dark"
    page.locator('[data-kpi="revenue"]').wait_for()
    page.locator("#trend-chart svg").wait_for()
    page.get_by_test_id("health-overall").wait_for(timeout=15000)
    page.wait_for_function("() => document.body.dataset.live === 'open'")
    screenshot(page, "dashboard-dark")
    page.get_by_role("button", name="Switch to light theme").click()
    assert page.locator("html").get_attribute("data-theme") == "light"

    # Tenant: switch to the other client; the page comes back acting for it.
    page.get_by_label("Client").select_option("bright_motor")
    page.wait_for_function("() => document.body.dataset.client === 'bright_motor'")
    assert page.get_by_label("Client").input_value() == "bright_motor"
    page.get_by_test_id("no-metrics").wait_for()
    assert "No metrics yet: define one" in page.get_by_test_id("no-metrics").inner_text()
    assert "Now working in Bright Motor." in page.locator("#toasts").inner_text()
    page.get_by_test_id("health-overall").wait_for(timeout=15000)
    screenshot(page, "dashboard-empty")


def test_the_dashboard_on_a_phone_light_and_dark(signed_in_page, asgi_server, api, member):
    shop_define(api)
    for scheme in ("light", "dark"):
        page = signed_in_page(asgi_server["url"], member.user, color_scheme=scheme, viewport=PHONE)
        page.locator('[data-kpi="revenue"]').wait_for()
        page.locator("#trend-chart svg").wait_for()
        page.get_by_test_id("health-overall").wait_for(timeout=15000)
        # Narrow: the navigation is behind the menu button, reachable by keyboard.
        nav = page.locator("#main-nav")
        assert not nav.is_visible()
        toggle = page.get_by_role("button", name="Menu")
        toggle.focus()
        page.keyboard.press("Enter")
        assert toggle.get_attribute("aria-expanded") == "true" and nav.is_visible()
        assert page.evaluate("document.activeElement.textContent.trim()") == "Dashboard"
        if scheme == "light":
            page.screenshot(path=str(ARTIFACTS / "dashboard-mobile-nav.png"))  # the open menu, as seen
        page.keyboard.press("Escape")
        assert not nav.is_visible()
        screenshot(page, f"dashboard-mobile-{scheme}")
        if scheme == "dark":
            # The system's preference applies with nothing stored.
            assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(13, 17, 23)"
        assert page.js_errors == [], page.js_errors


def test_the_skip_link_and_theme_toggle_work_from_the_keyboard(signed_in_page, asgi_server, member):
    page = signed_in_page(asgi_server["url"], member.user)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    assert skip.evaluate("el => el === document.activeElement")
    page.keyboard.press("Enter")
    assert re.search(r"#main$", page.url)
    toggle = page.locator("[data-theme-toggle]")
    toggle.focus()
    page.keyboard.press("Enter")
    assert page.locator("html").get_attribute("data-theme") == "dark"
    assert page.evaluate("localStorage.getItem('ae-theme')") == "dark"


def test_a_kpi_deactivated_in_the_client_configuration_leaves_the_open_dashboard(
    page, asgi_server, api, member, make_worker
):
    shop_define(api)
    config_group = make_worker("calculations.config")
    url = asgi_server["url"]
    page.goto(url + "/")
    page.get_by_label("Username").fill(member.user.username)
    page.get_by_label("Password").fill("pass-word-123")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(url + "/")
    page.locator('[data-kpi="order_count"]').wait_for()
    page.wait_for_function("() => AE.live.isSubscribed('metric.order_count')")
    page.evaluate("window.__not_reloaded = true")

    # An administrator switches the KPI off; the change's event reaches the page's socket.
    admin = APIClient()
    admin.force_authenticate(MembershipFactory(client=member.client, role="admin").user)
    response = admin.patch("/api/v1/client-config", {"active_kpis": ["revenue"]}, format="json")
    assert response.status_code == 200, response.content
    with ThreadPoolExecutor(max_workers=1) as pool:  # the handler pushes through async_to_sync
        assert pool.submit(config_group.drain).result() == 1
    page.locator('[data-kpi="order_count"]').wait_for(state="detached", timeout=15000)
    assert page.evaluate("window.__not_reloaded") is True
    assert page.locator('[data-kpi="revenue"]').is_visible()
    # The trend chart, which showed it (the first KPI with history), now charts revenue.
    page.wait_for_function("() => JSON.parse(document.getElementById('trend-data').textContent).metric === 'revenue'")
    page.wait_for_function("() => !AE.live.channels().includes('metric.order_count')")
    assert page.locator('#trend-metric option[value="order_count"]').count() == 0

    # A reload shows the dashboard without it; reactivated, it is back.
    page.reload()
    page.locator('[data-kpi="revenue"]').wait_for()
    assert page.locator('[data-kpi="order_count"]').count() == 0
    admin.patch("/api/v1/client-config", {"active_kpis": ["revenue", "order_count"]}, format="json")
    page.reload()
    page.locator('[data-kpi="order_count"]').wait_for()
