"""KPI details (`/kpis/<code>/`): the page deep-linked to each tab, each tab's
HTMX panel with its key content (value now, compiled SQL and route, required
objects, benchmarks per enum value, metadata and versions), the cart button,
the derive button, and tenant isolation."""

import json
import re

import pytest
from django.urls import reverse

from apps.core.tests.factories import MembershipFactory
from apps.ontology.services.metrics import MetricInput, metric_create
from apps.web.services import cart_add
from apps.web.tests.kpi_fixtures import snapshots_load
from apps.web.tests.ontology_fixtures import insurer_define
from apps.web.views_kpi_detail import TABS

# Metrics are computed on the read-only connection: it must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def insurer(member):
    insurer_define(member.client_id)
    snapshots_load(member.client_id)
    return member


def _tab(console, code: str, tab: str) -> str:
    response = console.get(reverse("web:kpi_tab", args=[code, tab]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    return html


def _charts(html: str) -> list[dict]:
    found = re.findall(r"<script type=\"application/json\">(.*?)</script>", html, re.S)
    return [json.loads(m) for m in found]


@pytest.mark.parametrize("tab", list(TABS))
def test_page_is_deep_linkable_to_each_tab(console, insurer, tab):
    response = console.get(reverse("web:kpi_detail", args=["start_count"]), {"tab": tab})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Start count</h1>" in html and 'role="tablist"' in html
    selected = re.findall(r'<a role="tab" id="tab-(\w+)"[^>]*aria-selected="true"', html)
    assert selected == [tab]
    assert f'aria-labelledby="tab-{tab}"' in html
    assert reverse("web:kpi_tab", args=["start_count", tab]) in html
    assert "HX-Request" in response["Vary"]


def test_htmx_request_gets_the_tab_panel_only(console, insurer):
    response = console.get(reverse("web:kpi_detail", args=["start_count"]), {"tab": "formula"}, **HX)
    html = response.content.decode()
    assert "<html" not in html and "Compiled SQL" in html


def test_unknown_tab_falls_back_to_overview_and_its_partial_is_404(console, insurer):
    html = console.get(reverse("web:kpi_detail", args=["start_count"]), {"tab": "nope"}).content.decode()
    assert re.findall(r'id="tab-(\w+)"[^>]*aria-selected="true"', html) == ["overview"]
    assert console.get(reverse("web:kpi_tab", args=["start_count", "nope"])).status_code == 404


def test_overview_shows_value_now_trend_and_status(console, insurer):
    html = _tab(console, "start_count", "overview")
    assert re.search(r"<span class=\"kpi-stat-value\" data-value-now>3</span>", html)
    assert "Has data" in html and "Active policies at the start of the period." in html
    (trend,) = _charts(html)
    assert trend["values"][-3:] == [3, 3, 3] and "data-sparkline" in html


def test_overview_of_a_metric_without_data(console, member):
    insurer_define(member.client_id)
    html = _tab(console, "start_count", "overview")
    assert "No data in the last 30 days" in html and "data-value-now>—<" in html


def test_formula_tab_shows_sql_bound_values_and_route(console, insurer):
    html = _tab(console, "start_count", "formula")
    assert "COUNT_DISTINCT(policy_id) WHERE status = &#x27;Active&#x27;" in html
    sql = re.search(r"<pre class=\"kpi-code kpi-sql\" data-sql><code>(.*?)</code></pre>", html, re.S).group(1)
    assert "SELECT" in sql and "\n" in sql  # pretty-printed
    assert 'data-route="raw"' in html and "Raw rows" in html
    assert "&#x27;Active&#x27;" in re.search(r'<dl class="kpi-params">(.*?)</dl>', html, re.S).group(1)
    assert "policy_snapshot" in re.search(r'<table class="kpi-table">(.*?)</table>', html, re.S).group(1)


def test_objects_tab_links_each_required_entity_to_the_object_browser(console, insurer):
    html = _tab(console, "growth_rate", "objects")
    assert 'href="/objects/#entity-policy_snapshot"' in html
    for attribute in ("policy_id", "snapshot_date", "start_date", "status"):
        assert f">{attribute}</a>" in html


def test_benchmarks_tab_compares_the_metric_across_each_enum_value(console, insurer):
    html = _tab(console, "start_count", "benchmarks")
    assert '<section class="kpi-benchmark" data-dimension="status">' in html
    (chart,) = _charts(html)
    # Active policies by status: 3 of the Active ones, none of the Terminated one.
    assert chart["kind"] == "bar" and chart["labels"] == ["Active", "Terminated"] and chart["values"] == [3, 0]
    rows = re.findall(r"<tr><td>(\w+)</td><td class=\"num\">([\d.]+)</td>", html)
    assert rows == [("Active", "3"), ("Terminated", "0")]


def test_benchmarks_tab_without_enum_dimensions(console, insurer):
    metric_create(
        client_id=insurer.client_id,
        data=MetricInput(code="members", name="Members", entity="member", formula="COUNT_DISTINCT(member_id)"),
    )
    assert "no enumerated attribute" in _tab(console, "members", "benchmarks")


def test_metadata_tab_lists_every_field_and_the_versions(console, insurer):
    html = _tab(console, "growth_rate", "metadata")
    assert "<dt>Formula</dt>" in html and "NewCount / StartCount" in html
    assert "<dt>Depends on metrics</dt><dd>new_count, start_count</dd>" in html
    assert re.search(r"data-versions>1 version<", html)


def test_cart_button_reflects_the_cart(console, insurer):
    url = reverse("web:kpi_detail", args=["start_count"])
    assert "Add to cart" in console.get(url).content.decode()
    cart_add(user_id=insurer.user.pk, client_id=insurer.client_id, metric_code="start_count")
    assert "✓ In cart · Remove" in console.get(url).content.decode()


def test_derive_button_prefills_the_formula_and_returns_to_details(console, insurer):
    html = console.get(reverse("web:kpi_detail", args=["start_count"])).content.decode()
    assert 'data-derive-open data-derive-formula="start_count" data-derive-origin="detail"' in html
    assert '<input type="hidden" name="origin" value="detail" data-derive-origin>' in html


@pytest.mark.parametrize("tab", list(TABS))
def test_another_clients_metric_is_404_on_each_tab(console, insurer, tab):
    other = MembershipFactory(is_default=True)
    insurer_define(other.client_id)
    metric_create(
        client_id=other.client_id, data=MetricInput(code="secret_rate", name="Secret", formula="NewCount / StartCount")
    )
    assert console.get(reverse("web:kpi_detail", args=["secret_rate"]), {"tab": tab}).status_code == 404
    assert console.get(reverse("web:kpi_tab", args=["secret_rate", tab])).status_code == 404
