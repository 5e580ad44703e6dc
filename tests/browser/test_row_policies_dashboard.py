"""A viewer under the row policy `region = 'EU'` on the dashboard
(docs/access.md, "Row policies"), in Chromium against daphne: the widgets
show EU numbers only although an unrestricted user recorded the history,
and a load's live recalculation reaches their widget over the WebSocket
(their own restricted channel, live.js follows the server's pointer to it)
with the EU value, while the unrestricted value is never shown."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from apps.calculations import cache
from apps.core.tests.factories import MembershipFactory
from apps.governance.models import RowPolicy
from tests.browser.test_dashboard import api as api
from tests.browser.test_dashboard import member as member
from tests.browser.test_dashboard import rows_load, shop_define, widget_value

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases=["default", "readonly"])]


@pytest.fixture(autouse=True)
def _no_cached_results():
    connection = cache.cache_connection()
    for key in connection.scan_iter(f"{cache.PREFIX}:*"):
        connection.delete(key)


def test_a_restricted_viewer_sees_only_eu_numbers_on_the_dashboard_and_live(
    signed_in_page,
    asgi_server,
    api,
    member,
    make_worker,
    eager_celery,
):
    shop_define(api)  # the analyst (unrestricted) records March: 1 Mar 100 EU, 2 Mar 50 EU + 100 US, 3 Mar 1,200 US
    RowPolicy.objects.create(
        client=member.client,
        name="EU only",
        subject_kind="role",
        subject_value="viewer",
        entity_code="shop_orders",
        predicate="region = 'EU'",
    )
    viewer = MembershipFactory(client=member.client, role="viewer", is_default=True).user
    live = make_worker("calculations.live")
    page = signed_in_page(asgi_server["url"], viewer)
    page.locator('[data-kpi="revenue"]').wait_for()
    assert widget_value(page, "revenue") == "50 EUR"  # 2 March, EU only (3 March has no EU rows)
    page.wait_for_function("() => document.body.dataset.live === 'open'")
    page.wait_for_function("() => AE.live.isSubscribed('metric.revenue')")  # through the restricted channel
    page.evaluate("window.__not_reloaded = true")
    rows_load(api, [
        {"ordered_at": "2026-03-04T08:00:00+00:00", "order_id": "o5", "region": "EU", "amount": "2000.00"},
        {"ordered_at": "2026-03-04T09:00:00+00:00", "order_id": "o6", "region": "US", "amount": "400.00"},
    ])  # fmt: skip
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(live.drain).result() >= 1
    page.wait_for_function(
        "() => document.querySelector('[data-kpi=\"revenue\"] [data-kpi-value]').textContent === '2,000 EUR'",
        timeout=15000,
    )
    assert page.evaluate("window.__not_reloaded") is True
    assert [e for e in page.js_errors if "row_policy_restricted" not in e] == []
