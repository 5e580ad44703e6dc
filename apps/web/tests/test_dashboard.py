"""The demo dashboard (`/`) and its regions: the health panel, the live KPI
widgets (`/dashboard/widgets/`) and the KPI trend chart (`/dashboard/trend/`),
each a fragment for HTMX and the whole page otherwise; empty, error and
tenancy cases (another client's metric answers 404)."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.calculations import cache
from apps.core.tests.factories import MembershipFactory
from apps.core.tests.waiting import day_clear
from apps.ontology.services.client_config import client_config_update

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

HX = {"HTTP_HX_REQUEST": "true"}
WIDGETS = "/dashboard/widgets/"
TREND = "/dashboard/trend/"
SHOP_ORDERS = {
    "code": "shop_orders",
    "name": "Shop orders",
    "kind": "time_series",
    "time_attribute": "ordered_at",
    "attributes": [
        {"code": "ordered_at", "data_type": "timestamp", "nullable": False},
        {"code": "order_id", "data_type": "string", "nullable": False},
        {"code": "region", "data_type": "string", "enum_values": ["EU", "US"]},
        {"code": "amount", "data_type": "decimal"},
    ],
}
# Revenue by day: 1 Mar 100 (EU), 2 Mar 150 (EU 50 + US 100), 3 Mar 1,200 (US).
ORDERS = [
    ("2026-03-01T10:00:00+00:00", "o1", "EU", "100.00"),
    ("2026-03-02T10:00:00+00:00", "o2", "EU", "50.00"),
    ("2026-03-02T11:00:00+00:00", "o3", "US", "100.00"),
    ("2026-03-03T09:00:00+00:00", "o4", "US", "1200.00"),
]


@pytest.fixture(autouse=True)
def _no_cached_results():
    """Results cached by another test never answer this one."""
    connection = cache.cache_connection()
    for key in connection.scan_iter(f"{cache.PREFIX}:*"):
        connection.delete(key)


@pytest.fixture
def member():
    return MembershipFactory(is_default=True, role="analyst", client__name="Acme Shop")


def api_for(member) -> APIClient:
    api = APIClient()
    api.force_authenticate(member.user)
    return api


def shop_define(member, *, load: bool = True, history: bool = True) -> None:
    """The shop_orders entity and its revenue metric, through the API; with
    `history`, revenue is computed once over March (which records it)."""
    api = api_for(member)
    assert api.post("/api/v1/ontology/entities/", SHOP_ORDERS, format="json").status_code == 201
    metric = {"code": "revenue", "name": "Revenue", "formula": "SUM(amount)", "unit": "EUR", "entity": "shop_orders"}
    assert api.post("/api/v1/ontology/metrics/", {**metric, "domain": "finance"}, format="json").status_code == 201
    if load:
        rows = [{"ordered_at": t, "order_id": o, "region": r, "amount": a} for t, o, r, a in ORDERS]
        response = api.post("/api/v1/data/shop_orders/rows/", rows, format="json")
        assert response.status_code in (200, 201) and response.json()["rejected"] == []
    if history:
        response = api.get("/api/v1/metrics/revenue", {"start": "2026-03-01", "end": "2026-03-04"})
        assert response.status_code == 200, response.content


def trend_data(html: str) -> dict:
    match = re.search(r'<script id="trend-data" type="application/json">(.*?)</script>', html, re.S)
    assert match, "no trend data in the fragment"
    return json.loads(match.group(1))


def field_error(html: str, field_id: str) -> str:
    match = re.search(rf'<p class="field-error" id="{field_id}-error">(.*?)</p>', html, re.S)
    assert match, f"no inline error for {field_id}"
    return match.group(1).strip()


def test_the_dashboard_page_has_its_regions_and_quick_actions(console, member):
    response = console.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Dashboard</h1>" in html and "Acme Shop" in html
    for region, url in (("health-panel", "/"), ("kpi-widgets", WIDGETS), ("trend-region", TREND)):
        assert re.search(rf'id="{region}" hx-get="{re.escape(url)}" hx-trigger="load', html), region
    # Each region starts in its loading state and has an error state.
    assert "Checking services…" in html and "Loading KPIs…" in html and "Loading the trend…" in html
    for box in ("health-error", "kpi-widgets-error", "trend-error"):
        assert f'data-error-target="{box}"' in html and f'id="{box}"' in html
    assert "Define a KPI" in html or "Open the ontology studio" in html or "API docs" in html
    assert f'href="{reverse("swagger-ui")}"' in html
    assert "vendor/echarts/echarts.min.js" in html and "js/dashboard.js" in html
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_the_health_panel_is_the_fragment_of_the_home_page(console):
    response = console.get("/", **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="health-overall"' in html and "<h1>" not in html
    for check in ("database", "timescaledb", "redis"):
        assert f'data-check="{check}"' in html
    assert "apache licence" in html


def test_widgets_show_the_latest_value_delta_and_sparkline(console, member):
    shop_define(member)
    response = console.get(WIDGETS, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>" not in html  # a fragment
    widget = re.search(r'<article class="widget" data-kpi="revenue".*?</article>', html, re.S).group(0)
    assert '<p class="widget-value" data-kpi-value aria-live="polite">1,200 EUR</p>' in widget
    assert "widget-delta up" in widget and "+700.0 %" in widget  # 150 -> 1,200
    points = re.search(r'data-kpi-spark points="([^"]*)"', widget).group(1).split()
    assert len(points) == 3 and points[0].startswith("0.0,") and points[-1] == "120.0,2.0"  # the highest, at the top
    assert 'datetime="2026-03-03"' in widget
    data = json.loads(re.search(r'<script id="kpi-widget-data" type="application/json">(.*?)</script>', html).group(1))
    assert data == [
        {"code": "revenue", "name": "Revenue", "unit": "EUR", "points": [
            {"bucket": "2026-03-01T00:00:00+00:00", "value": 100.0},
            {"bucket": "2026-03-02T00:00:00+00:00", "value": 150.0},
            {"bucket": "2026-03-03T00:00:00+00:00", "value": 1200.0},
        ]},
    ]  # fmt: skip
    # Without HTMX the same URL is the whole dashboard.
    full = console.get(WIDGETS).content.decode()
    assert "<h1>Dashboard</h1>" in full and 'id="kpi-widgets"' in full


def test_widgets_empty_states(console, member):
    html = console.get(WIDGETS, **HX).content.decode()
    assert "No metrics yet: define one" in html and "kpi-widget-data" not in html
    shop_define(member, load=False, history=False)
    html = console.get(WIDGETS, **HX).content.decode()
    assert "No KPI values yet" in html and "1 metric," in html


def test_widgets_show_only_the_clients_own_metrics(console, member):
    shop_define(MembershipFactory(is_default=True, role="admin"))  # another client's revenue, with history
    html = console.get(WIDGETS, **HX).content.decode()
    assert "No metrics yet: define one" in html and "data-kpi=" not in html


def test_a_kpi_deactivated_in_the_client_configuration_leaves_the_dashboard_until_reactivated(console, member):
    shop_define(member)
    api = api_for(member)
    count = {"code": "order_count", "name": "Orders", "formula": "COUNT(order_id)", "unit": "orders",
             "entity": "shop_orders", "domain": "finance"}  # fmt: skip
    assert api.post("/api/v1/ontology/metrics/", count, format="json").status_code == 201
    assert api.get("/api/v1/metrics/order_count", {"start": "2026-03-01", "end": "2026-03-04"}).status_code == 200
    assert 'data-kpi="revenue"' in console.get(WIDGETS, **HX).content.decode()

    client_config_update(client_id=member.client_id, active_kpis=["order_count"])
    widgets = console.get(WIDGETS, **HX).content.decode()
    assert 'data-kpi="revenue"' not in widgets and 'data-kpi="order_count"' in widgets
    trend = console.get(TREND, **HX)
    assert trend.status_code == 200 and trend_data(trend.content.decode())["metric"] == "order_count"
    assert 'value="revenue"' not in trend.content.decode()  # not offered in the chooser
    asked = console.get(TREND, {"metric": "revenue"}, **HX)
    assert asked.status_code == 422 and "KPI &#x27;revenue&#x27; is deactivated for this client." in (
        asked.content.decode()
    )

    client_config_update(client_id=member.client_id, active_kpis=["order_count", "revenue"])
    assert 'data-kpi="revenue"' in console.get(WIDGETS, **HX).content.decode()


def test_the_trend_fragment_carries_the_series_as_json(console, member):
    shop_define(member)
    response = console.get(TREND, {"metric": "revenue", "start": "2026-03-01", "end": "2026-03-03"}, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>" not in html and 'id="trend-chart"' in html
    data = trend_data(html)
    assert data["metric"] == "revenue" and data["unit"] == "EUR" and data["group_by"] == ""
    assert data["buckets"] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert data["series"] == [{"name": "Revenue", "values": [100.0, 150.0, 1200.0]}]
    assert '<option value="region">region</option>' in html  # the entity's attributes, not its time
    assert '<option value="ordered_at"' not in html and '<option value="amount"' not in html
    assert '<td class="num">1,200 EUR</td>' in html  # the table for screen readers

    by_region = trend_data(
        console.get(
            TREND, {"metric": "revenue", "start": "2026-03-01", "end": "2026-03-03", "group_by": "region"}, **HX
        ).content.decode()
    )
    assert by_region["group_by"] == "region" and by_region["groups_total"] == 2
    assert {s["name"]: s["values"] for s in by_region["series"]} == {
        "US": [None, 100.0, 1200.0],
        "EU": [100.0, 50.0, None],
    }
    assert by_region["series"][0]["name"] == "US"  # the largest group first


def test_the_trend_defaults_to_the_last_thirty_days_of_data_and_full_page_keeps_choices(console, member):
    shop_define(member)
    html = console.get(TREND, **HX).content.decode()
    assert 'id="trend-start" name="start" type="date" value="2026-02-02"' in html
    assert 'id="trend-end" name="end" type="date" value="2026-03-03"' in html
    assert trend_data(html)["buckets"][-1] == "2026-03-03"
    # Without HTMX: the dashboard, its trend region loading these same choices.
    full = console.get(TREND, {"metric": "revenue", "group_by": "region"}).content.decode()
    assert "<h1>Dashboard</h1>" in full
    assert 'hx-get="/dashboard/trend/?metric=revenue&amp;group_by=region"' in full
    # `/?metric=<code>` (the simulation page links there after a run) opens the trend on that KPI.
    assert 'hx-get="/dashboard/trend/?metric=revenue"' in console.get("/", {"metric": "revenue"}).content.decode()


def test_trend_presets_count_days_up_to_today(console, member):
    shop_define(member)
    day_clear()  # "today" here and in the view: the same day
    html = console.get(TREND, {"metric": "revenue", "preset": "7"}, **HX).content.decode()
    today = datetime.now(UTC).date()
    assert f'value="{(today - timedelta(days=6)).isoformat()}"' in html and f'value="{today.isoformat()}"' in html
    assert "No data in this range" in html  # March 2026 is not in the last week
    response = console.get(TREND, {"metric": "revenue", "preset": "11"}, **HX)
    assert response.status_code == 422 and "Pick one of 7, 30, 90 days." in response.content.decode()


def test_trend_choices_it_refuses_are_shown_next_to_the_field(console, member):
    shop_define(member, history=False)
    cases = [
        ({"start": "2026-03-05", "end": "2026-03-01"}, "trend-end", "The end date is before the start date."),
        ({"start": "yesterday", "end": "2026-03-01"}, "trend-start", "'yesterday' is not a date (YYYY-MM-DD)."),
        ({"start": "2024-01-01", "end": "2026-03-01"}, "trend-start", "At most 366 days at a time."),
        ({"group_by": "amount"}, "trend-group-by", "revenue cannot be split by 'amount'."),
    ]
    for params, field, message in cases:
        response = console.get(TREND, {"metric": "revenue", **params}, **HX)
        assert response.status_code == 422, params
        html = response.content.decode()
        assert field_error(html, field) == message.replace("'", "&#x27;")
        assert f'id="{field}"' in html and 'aria-invalid="true"' in html
        assert "trend-data" not in html


def test_trend_of_another_clients_metric_is_not_found(console, member):
    shop_define(MembershipFactory(is_default=True, role="admin"))
    assert console.get(TREND, {"metric": "revenue"}, **HX).status_code == 200  # no metrics here: empty state
    assert "No metrics yet: define one" in console.get(TREND, **HX).content.decode()
    api_for(member).post(
        "/api/v1/ontology/entities/", {**SHOP_ORDERS, "code": "shop_orders"}, format="json"
    )  # this client has an entity but no revenue metric
    api_for(member).post(
        "/api/v1/ontology/metrics/",
        {"code": "order_count", "name": "Orders", "formula": "COUNT(order_id)", "unit": "orders",
         "entity": "shop_orders", "domain": "finance"},
        format="json",
    )  # fmt: skip
    assert console.get(TREND, {"metric": "revenue"}, **HX).status_code == 404
    assert console.get(TREND, {"metric": "order_count"}, **HX).status_code == 200


def test_trend_with_no_data_in_the_range_says_so(console, member):
    shop_define(member, history=False)
    html = console.get(TREND, {"metric": "revenue", "start": "2025-01-01", "end": "2025-01-31"}, **HX).content.decode()
    assert "No data in this range" in html and 'data-testid="trend-empty"' in html and "trend-data" not in html


def test_an_empty_trend_names_the_data_extent_and_offers_to_show_it(console, member):
    """Issue 14 item 6: "No data in this range" says where the data is, and one click shows it."""
    shop_define(member, history=False)
    html = console.get(TREND, {"metric": "revenue", "start": "2025-01-01", "end": "2025-01-31"}, **HX).content.decode()
    assert "No data in this range" in html
    assert re.search(r'data-testid="trend-extent">Data runs from 1 Mar 2026 to 3 Mar 2026\.<', html), html
    link = re.search(r'data-testid="trend-empty">.*?hx-get="([^"]+)"[^>]*data-testid="trend-show-extent"', html, re.S)
    assert link, html
    target = link.group(1).replace("&amp;", "&")
    assert target == "/dashboard/trend/?metric=revenue&start=2026-03-01&end=2026-03-03"
    shown = console.get(target, **HX).content.decode()
    assert trend_data(shown)["buckets"] == ["2026-03-01", "2026-03-02", "2026-03-03"]


def test_an_empty_trend_without_rows_says_there_are_none(console, member):
    shop_define(member, load=False, history=False)
    html = console.get(TREND, {"metric": "revenue", "start": "2025-01-01", "end": "2025-01-31"}, **HX).content.decode()
    assert "Its data has no rows yet" in html and "trend-show-extent" not in html


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for url in ("/", WIDGETS, TREND):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url


def test_a_user_of_no_client_sees_the_page_that_says_so(client):
    user = MembershipFactory().user
    user.memberships.all().delete()
    client.force_login(user)
    for url in ("/", WIDGETS, TREND):
        response = client.get(url)
        assert response.status_code == 403 and b"No client yet" in response.content, url


def test_value_formatting():
    from apps.web.dashboard_data import sparkline_points, value_format

    assert value_format(0.9, "ratio") == "90.0 %"
    assert value_format(1234.4, "EUR") == "1,234 EUR"
    assert value_format(12.345, "") == "12.35"
    assert value_format(950, "count") == "950"
    assert value_format(None, "EUR") == "—"
    assert sparkline_points([1.0]) == "" and sparkline_points([1.0, None, 3.0]) == "0.0,30.0 120.0,2.0"
