"""KPI configuration (`/kpis/`): the page and its tree fragment (groupings,
search, empty state), the preview (the same numbers as the metrics API), the
cart (add, remove, kept), the derive dialog (live formula check, create
through the ontology's service), CSRF and tenant isolation."""

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from apps.core.tests.factories import MembershipFactory, UserFactory
from apps.ontology import selectors
from apps.ontology.services.metrics import MetricInput, metric_create
from apps.web.kpi_data import window
from apps.web.selectors import cart_codes
from apps.web.services import cart_add
from apps.web.tests.kpi_fixtures import snapshot_rows, snapshots_load, value_chain_create
from apps.web.tests.ontology_fixtures import insurer_define

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
# Metrics are computed on the read-only connection: it must see committed rows.
computes = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])


@pytest.fixture
def insurer(member):
    insurer_define(member.client_id)
    return member


@pytest.fixture
def stranger():
    """Another client with the same ontology: its metrics must never show."""
    other = MembershipFactory(is_default=True)
    insurer_define(other.client_id)
    metric_create(
        client_id=other.client_id,
        data=MetricInput(code="secret_rate", name="Secret rate", formula="NewCount / StartCount"),
    )
    return other


def _chart(html: str) -> dict:
    found = re.search(r"<script type=\"application/json\">(.*?)</script>", html, re.S)
    assert found, "no chart data"
    return json.loads(found.group(1))


def _tree_groups(html: str) -> dict[str, list[str]]:
    groups = {}
    for block in re.findall(r'<details class="kpi-group" open>(.*?)</details>', html, re.S):
        title = re.search(r"<summary><span>(.*?)</span>", block).group(1)
        groups[title] = re.findall(r'data-kpi="([a-z_0-9]+)"', block)
    return groups


# --- the page and the tree ------------------------------------------------------------


def test_page_shows_tree_split_preview_cart_and_dialog(console, insurer):
    response = console.get(reverse("web:kpis"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>KPI configuration</h1>" in html
    assert _tree_groups(html) == {"Unassigned": ["growth_rate", "new_count", "start_count"]}
    assert 'role="separator"' in html and 'aria-controls="kpi-nav"' in html
    assert 'id="kpi-preview"' in html and "Pick a KPI" in html
    assert 'id="kpi-cart"' in html and "Your cart is empty" in html
    assert '<dialog id="derive-dialog"' in html
    assert "vendor/echarts/echarts.min.js" in html and "js/kpis.js" in html and "css/kpis.css" in html
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_htmx_request_gets_the_tree_fragment_only(console, insurer):
    response = console.get(reverse("web:kpis"), **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'id="kpi-tree"' in html
    assert console.get(reverse("web:kpi_tree")).content.decode().startswith('<div id="kpi-tree"')


def test_tree_groups_by_industry_value_chain_and_domain(console, insurer, api_client):
    value_chain_create(
        api_client, insurer.user, code="retention", name="Health retention", industry="Health insurance",
        metrics=["start_count", "growth_rate"],
    )  # fmt: skip
    metric_create(
        client_id=insurer.client_id,
        data=MetricInput(code="churn_ratio", name="Churn ratio", formula="StartCount / NewCount", domain="Retention"),
    )
    tree = reverse("web:kpi_tree")
    by_industry = _tree_groups(console.get(tree, {"group": "industry"}).content.decode())
    rest = ["churn_ratio", "new_count"]
    assert by_industry == {"Health insurance": ["growth_rate", "start_count"], "Unassigned": rest}
    by_chain = _tree_groups(console.get(tree, {"group": "value_chain"}).content.decode())
    assert by_chain == {"Health retention": ["growth_rate", "start_count"], "Unassigned": rest}
    by_domain = console.get(tree, {"group": "domain"}).content.decode()
    assert _tree_groups(by_domain) == {
        "Retention": ["churn_ratio"],
        "Unassigned": ["growth_rate", "new_count", "start_count"],
    }
    assert 'id="kpi-group-domain" aria-selected="true"' in by_domain


def test_search_filters_the_tree_and_says_when_nothing_matches(console, insurer):
    html = console.get(reverse("web:kpi_tree"), {"q": "growth"}).content.decode()
    assert _tree_groups(html) == {"Unassigned": ["growth_rate"]}
    html = console.get(reverse("web:kpi_tree"), {"q": "active policies"}).content.decode()  # in a description
    assert _tree_groups(html) == {"Unassigned": ["start_count"]}
    html = console.get(reverse("web:kpi_tree"), {"q": "zzz"}).content.decode()
    assert "No KPI matches “zzz”." in html


def test_empty_state_for_a_client_without_metrics(console, member):
    html = console.get(reverse("web:kpis")).content.decode()
    assert "No KPIs yet." in html and reverse("web:ontology_studio") in html


def test_a_user_of_no_client_is_told_so(client):
    client.force_login(UserFactory())
    assert client.get(reverse("web:kpis")).status_code == 403


def test_another_clients_metrics_never_show(console, insurer, stranger):
    html = console.get(reverse("web:kpis"), {"q": "secret"}).content.decode()
    assert "secret_rate" not in html


# --- the preview -----------------------------------------------------------------------------


@computes
def test_preview_draws_the_same_numbers_as_the_metrics_api(console, insurer, api_client):
    snapshots_load(insurer.client_id)
    response = console.get(reverse("web:kpi_preview", args=["start_count"]), **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and '<h2 id="preview-title">Start count</h2>' in html
    assert "COUNT_DISTINCT(policy_id) WHERE status = &#x27;Active&#x27;" in html
    assert 'href="/objects/#entity-policy_snapshot"' in html and "policy_snapshot.status" in html
    assert "<dt>Aggregation</dt><dd>COUNT_DISTINCT over rows of policy_snapshot (exact)</dd>" in html
    chart = _chart(html)
    assert len(chart["labels"]) == 30 and chart["values"][-3:] == [3, 3, 3]
    assert chart["values"][:-3] == [None] * 27

    start, end = window()
    api_client.force_authenticate(insurer.user)
    api = api_client.get(
        "/api/v1/metrics/start_count/", {"start": start.isoformat(), "end": end.isoformat(), "granularity": "day"}
    ).json()
    assert [point["value"] for point in api["series"]] == chart["values"][-3:]


@computes
def test_preview_of_a_derived_metric_lists_its_dependencies(console, insurer):
    snapshots_load(insurer.client_id)
    html = console.get(reverse("web:kpi_preview", args=["growth_rate"]), **HX).content.decode()
    assert f'href="{reverse("web:kpi_detail", args=["new_count"])}"' in html
    assert "<dt>Aggregation</dt><dd>combines other KPIs (exact)</dd>" in html
    assert _chart(html)["values"][-1] == pytest.approx(1 / 3)


@computes
def test_preview_without_data_says_so(console, insurer):
    html = console.get(reverse("web:kpi_preview", args=["start_count"]), **HX).content.decode()
    assert "No data in the last 30 days." in html and "application/json" not in html


@computes
def test_preview_of_data_that_ended_years_ago_names_its_extent_and_links_to_it(console, insurer):
    """Issue 14 item 6: the empty window says where the data is."""
    old = [{**row, "snapshot_date": day} for row in snapshot_rows()[:1] for day in ("2019-01-01", "2019-12-31")]
    snapshots_load(insurer.client_id, rows=old)
    html = console.get(reverse("web:kpi_preview", args=["start_count"]), **HX).content.decode()
    assert "No data in the last 30 days" in html and "application/json" not in html
    assert "Data runs from 1 Jan 2019 to 31 Dec 2019." in html
    link = f"{reverse('web:dashboard_trend')}?metric=start_count&amp;start=2019-01-01&amp;end=2019-12-31"
    assert f'href="{link}" data-testid="show-extent"' in html
    assert "Show 1 Jan 2019 to 31 Dec 2019" in html
    overview = console.get(reverse("web:kpi_tab", args=["start_count", "overview"]), **HX).content.decode()
    assert "No data to draw. " in overview and "Data runs from 1 Jan 2019 to 31 Dec 2019." in overview
    benchmarks = console.get(reverse("web:kpi_tab", args=["start_count", "benchmarks"]), **HX).content.decode()
    assert "No data in the last 30 days. " in benchmarks and "Data runs from 1 Jan 2019 to 31 Dec 2019." in benchmarks


@computes
def test_preview_without_any_rows_says_there_are_none(console, insurer):
    html = console.get(reverse("web:kpi_preview", args=["start_count"]), **HX).content.decode()
    assert "Its data has no rows yet" in html and "show-extent" not in html


@computes
def test_preview_outside_htmx_opens_the_page_with_it(console, insurer):
    response = console.get(reverse("web:kpi_preview", args=["start_count"]))
    assert response.status_code == 302 and response["Location"] == "/kpis/?metric=start_count"
    html = console.get(response["Location"]).content.decode()
    assert '<h2 id="preview-title">Start count</h2>' in html and 'class="kpi-item selected"' in html


# --- the cart ---------------------------------------------------------------------------------


def test_cart_add_flips_the_button_updates_the_cart_and_survives_a_reload(console, insurer):
    response = console.post(reverse("web:cart_add", args=["start_count"]), **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "✓ In cart · Remove" in html and reverse("web:cart_remove", args=["start_count"]) in html
    assert '<section id="kpi-cart" class="card kpi-cart" aria-labelledby="kpi-cart-title" hx-swap-oob="true">' in html
    assert cart_codes(user_id=insurer.user.pk, client_id=insurer.client_id) == ["start_count"]
    page = console.get(reverse("web:kpis")).content.decode()
    cart = re.search(r'<section id="kpi-cart".*?</section>', page, re.S).group(0)
    assert "Start count" in cart and "in cart" in page

    response = console.post(reverse("web:cart_remove", args=["start_count"]), **HX)
    assert "Add to cart" in response.content.decode()
    assert cart_codes(user_id=insurer.user.pk, client_id=insurer.client_id) == []


def test_cart_remove_from_the_cart_panel_swaps_out_of_band(console, insurer):
    cart_add(user_id=insurer.user.pk, client_id=insurer.client_id, metric_code="new_count")
    html = console.post(reverse("web:cart_remove", args=["new_count"]) + "?from=cart", **HX).content.decode()
    assert 'id="cart-button-new_count" hx-swap-oob="true"' in html and "Your cart is empty" in html


def test_cart_change_from_the_details_page_has_no_cart_panel_to_update(console, insurer):
    detail = "http://testserver" + reverse("web:kpi_detail", args=["start_count"])
    response = console.post(reverse("web:cart_add", args=["start_count"]), HTTP_HX_CURRENT_URL=detail, **HX)
    html = response.content.decode()
    assert "✓ In cart · Remove" in html and 'id="kpi-cart"' not in html


def test_cart_without_htmx_redirects_to_the_details(console, insurer):
    response = console.post(reverse("web:cart_add", args=["start_count"]))
    assert response.status_code == 303 and response["Location"] == reverse("web:kpi_detail", args=["start_count"])


def test_posts_are_csrf_protected(member, insurer):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(member.user)
    assert browser.post(reverse("web:cart_add", args=["start_count"]), **HX).status_code == 403
    assert browser.post(reverse("web:cart_remove", args=["start_count"]), **HX).status_code == 403
    derive = {"name": "X", "code": "x_rate", "formula": "NewCount / StartCount"}
    assert browser.post(reverse("web:kpi_derive"), derive, **HX).status_code == 403
    assert cart_codes(user_id=member.user.pk, client_id=member.client_id) == []
    assert not selectors.metric_exists(client_id=member.client_id, code="x_rate")


def test_get_on_posts_is_refused(console, insurer):
    assert console.get(reverse("web:cart_add", args=["start_count"])).status_code == 405
    assert console.get(reverse("web:kpi_derive")).status_code == 405


@pytest.mark.parametrize(
    ("name", "method"),
    [("web:kpi_preview", "get"), ("web:kpi_detail", "get"), ("web:cart_add", "post"), ("web:cart_remove", "post")],
)
def test_another_clients_metric_is_404_on_every_route(console, insurer, stranger, name, method):
    response = getattr(console, method)(reverse(name, args=["secret_rate"]), **HX)
    assert response.status_code == 404
    assert cart_codes(user_id=insurer.user.pk, client_id=insurer.client_id) == []


def test_another_clients_metric_tab_is_404(console, insurer, stranger):
    assert console.get(reverse("web:kpi_tab", args=["secret_rate", "overview"])).status_code == 404


# --- deriving a KPI ---------------------------------------------------------------------------


def _check(console, formula: str, code: str = "net_growth") -> str:
    response = console.get(reverse("web:kpi_formula_check"), {"formula": formula, "code": code}, **HX)
    assert response.status_code == 200
    return response.content.decode()


def test_formula_check_names_the_unknown_metric_function_or_syntax_issue(console, insurer):
    unknown = _check(console, "NewCount / Nope")
    assert 'class="field-error"' in unknown and "Unknown name &#x27;Nope&#x27;" in unknown
    assert "FOO is not in the formula library" in _check(console, "FOO(new_count)")
    assert "The formula ends too early." in _check(console, "new_count +")
    assert "refers to itself" in _check(console, "net_growth / start_count")
    assert "Write a formula" in _check(console, "  ")


def test_formula_check_finds_a_circular_reference_as_saving_would(console, insurer):
    # growth reads start_count; start_count over growth would close a loop. The
    # check is the ontology's own dry run, so it says what saving would say.
    metric_create(
        client_id=insurer.client_id,
        data=MetricInput(code="growth", name="Growth", formula="new_count / start_count"),
    )
    html = _check(console, "growth * 2", code="start_count")
    assert 'class="field-error"' in html
    assert "Circular reference between metrics: start_count -&gt; growth -&gt; start_count." in html


def test_formula_check_accepts_a_formula_over_metrics(console, insurer):
    html = _check(console, "(new_count - start_count) / start_count")
    assert "✓ The formula compiles; it uses new_count, start_count." in html


def test_formula_check_runs_the_engines_check_too(console, insurer):
    """A formula the parser accepts but the engine cannot compute is refused
    with the engine's message (apps.calculations.checks)."""
    html = _check(console, "SUM(1)")
    assert "Metric &#x27;net_growth&#x27; aggregates rows but has no entity; give it one." in html


def test_derive_invalid_formula_shows_the_error_under_the_field(console, insurer):
    data = {"name": "Net growth", "code": "net_growth", "formula": "NewCount / Nope", "unit": "ratio"}
    response = console.post(reverse("web:kpi_derive"), data, **HX)
    assert response.status_code == 422
    html = response.content.decode()
    feedback = re.search(r'<div id="formula-feedback".*?</div>', html, re.S).group(0)
    assert "Unknown name &#x27;Nope&#x27;" in feedback
    assert 'value="Net growth"' in html and "NewCount / Nope</textarea>" in html
    assert not selectors.metric_exists(client_id=insurer.client_id, code="net_growth")


def test_derive_missing_fields_and_duplicate_code_are_named(console, insurer):
    html = console.post(reverse("web:kpi_derive"), {"formula": "new_count"}, **HX).content.decode()
    assert 'id="derive-name-error"' in html and 'id="derive-code-error"' in html
    data = {"name": "Again", "code": "start_count", "formula": "new_count * 2"}
    html = console.post(reverse("web:kpi_derive"), data, **HX).content.decode()
    assert re.search(r'id="derive-code-error" role="alert">A metric with code &#x27;start_count&#x27; already', html)
    data = {"name": "Bad code", "code": "Bad-Code", "formula": "new_count * 2"}
    assert "lower snake case" in console.post(reverse("web:kpi_derive"), data, **HX).content.decode()


def test_derive_creates_the_metric_through_the_service_and_selects_it(console, insurer):
    data = {
        "name": "Net growth",
        "code": "net_growth",
        "formula": "(NewCount - StartCount) / StartCount",
        "unit": "ratio",
        "description": "Growth net of the opening book.",
    }
    response = console.post(reverse("web:kpi_derive") + "?group=industry", data, **HX)
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#kpi-tree"
    assert json.loads(response["HX-Trigger"]) == {"kpiDerived": {"code": "net_growth", "name": "Net growth"}}
    html = response.content.decode()
    assert 'class="kpi-item selected" href="/kpis/?metric=net_growth' in html
    (metric,) = selectors.metrics(client_id=insurer.client_id, codes=["net_growth"])
    assert (metric.unit, metric.description, metric.entity) == ("ratio", "Growth net of the opening book.", None)
    assert sorted(metric.depends_on_metrics) == ["new_count", "start_count"]


def test_derive_from_a_details_page_redirects_to_the_new_kpi(console, insurer):
    data = {"name": "Double", "code": "double_start", "formula": "start_count * 2", "origin": "detail"}
    response = console.post(reverse("web:kpi_derive"), data, **HX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("web:kpi_detail", args=["double_start"])


@computes
def test_a_viewer_may_not_derive_a_kpi_and_sees_no_derive_button(client, insurer):
    viewer = MembershipFactory(client=insurer.client, role="viewer", is_default=True)
    client.force_login(viewer.user)
    page = client.get(reverse("web:kpis")).content.decode()
    assert "Derive custom KPI" not in page
    detail = client.get(reverse("web:kpi_detail", args=["start_count"])).content.decode()
    assert "Edit / Derive" not in detail
    derive = {"name": "X", "code": "x_rate", "formula": "NewCount / StartCount"}
    response = client.post(reverse("web:kpi_derive"), derive, **HX)
    assert response.status_code == 403 and "may read KPIs but not create them" in response.content.decode()
    assert not selectors.metric_exists(client_id=insurer.client_id, code="x_rate")
