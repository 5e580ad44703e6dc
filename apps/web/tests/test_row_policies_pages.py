"""Row policies on the console's numbers (docs/access.md, "Row policies"):
a viewer under `region = 'EU'` sees EU numbers only in the dashboard's
widgets and trend (HTMX partials and pages) and on the KPI pages (overview,
benchmarks), even after an unrestricted user recorded history and warmed
the cache."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from apps.calculations import cache
from apps.calculations.tests.row_policy_fixtures import book_define, policy
from apps.calculations.tests.scenarios import rows_load
from apps.core.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _no_cached_results():
    connection = cache.cache_connection()
    for key in connection.scan_iter(f"{cache.PREFIX}:*"):
        connection.delete(key)


@pytest.fixture
def shop():
    """Yesterday: EU orders 100, US orders 1,000 (revenue 1,100). The admin
    computes revenue over the last days first (recording history, warming
    the cache); viewers are under `region = 'EU'`."""
    membership = MembershipFactory(role="admin", is_default=True)
    admin = APIClient()
    admin.force_authenticate(membership.user)
    book_define(admin)
    day = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=1)
    rows = [
        {"ordered_at": day.isoformat(), "order_id": "e1", "region": "EU", "lob": "Health", "amount": "100.00"},
        {"ordered_at": day.isoformat(), "order_id": "u1", "region": "US", "lob": "Motor", "amount": "1000.00"},
    ]
    rows_load(admin, "orders", rows)
    start = (day - timedelta(days=5)).date().isoformat()
    end = (day + timedelta(days=2)).date().isoformat()
    assert admin.get("/api/v1/metrics/revenue/", {"start": start, "end": end}).status_code == 200
    policy(membership.client, "region = 'EU'")
    return membership, day, start, end


def console_for(membership) -> Client:
    console = Client()
    console.force_login(membership.user)
    return console


def widget_value(html: str) -> str:
    return re.search(r"<p class=\"widget-value\"[^>]*>([^<]*)</p>", html).group(1)


def trend_values(html: str) -> list:
    data = json.loads(re.search(r'<script id="trend-data" type="application/json">(.*?)</script>', html, re.S)[1])
    return [v for s in data["series"] for v in s["values"] if v is not None]


def test_dashboard_widgets_and_trend_show_a_restricted_viewer_only_their_rows(shop):
    admin_membership, day, start, _ = shop
    admin = console_for(admin_membership)
    viewer = console_for(MembershipFactory(client=admin_membership.client, role="viewer", is_default=True))
    assert widget_value(admin.get("/dashboard/widgets/", **HX).content.decode()) == "1,100 EUR"
    assert widget_value(viewer.get("/dashboard/widgets/", **HX).content.decode()) == "100 EUR"
    trend = {"metric": "revenue", "start": start, "end": day.date().isoformat()}
    assert trend_values(admin.get("/dashboard/trend/", trend, **HX).content.decode()) == [1100.0]
    assert trend_values(viewer.get("/dashboard/trend/", trend, **HX).content.decode()) == [100.0]
    by_region = viewer.get("/dashboard/trend/", {**trend, "group_by": "region"}, **HX).content.decode()
    assert trend_values(by_region) == [100.0] and '"name": "US"' not in by_region


def test_kpi_pages_and_benchmarks_show_a_restricted_viewer_only_their_rows(shop):
    admin_membership, *_ = shop
    admin = console_for(admin_membership)
    viewer = console_for(MembershipFactory(client=admin_membership.client, role="viewer", is_default=True))

    def tab(console: Client, name: str) -> str:
        response = console.get(reverse("web:kpi_tab", args=["revenue", name]))
        assert response.status_code == 200
        return response.content.decode()

    def value_now(html: str) -> str:
        return re.search(r"<span class=\"kpi-stat-value\" data-value-now>([^<]*)</span>", html).group(1)

    assert value_now(tab(admin, "overview")) == "1100"
    assert value_now(tab(viewer, "overview")) == "100"
    admin_rows = re.findall(r"<tr><td>(\w+)</td>", tab(admin, "benchmarks"))
    viewer_rows = re.findall(r"<tr><td>(\w+)</td>", tab(viewer, "benchmarks"))
    assert {"EU", "US"} <= set(admin_rows)
    assert "EU" in viewer_rows and "US" not in viewer_rows
