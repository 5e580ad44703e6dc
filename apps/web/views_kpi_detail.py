"""KPI details (`/kpis/<code>/`): tabs Overview, Formula, Objects,
Benchmarks and Metadata, each an HTMX-loaded panel and deep-linkable with
`?tab=`; the cart button and the derive dialog prefilled with the KPI."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from apps.calculations.types import AccessContext
from apps.core.access import Permission
from apps.web import kpi_data
from apps.web.htmx import is_fragment
from apps.web.row_access import request_access_context
from apps.web.selectors import cart_codes
from apps.web.tenancy import client_required

TABS = {
    "overview": "Overview",
    "formula": "Formula",
    "objects": "Objects",
    "benchmarks": "Benchmarks",
    "metadata": "Metadata",
}


def _overview(context: AccessContext, metric) -> dict:
    series = kpi_data.metric_series(context=context, code=metric.code)
    if series.error:
        status = ("error", "Cannot be computed")
    elif series.has_data:
        status = ("ok", "Has data")
    else:
        status = ("empty", "No data in the last 30 days")
    return {"series": series, "chart": series.chart(metric.name), "status": status}


def _formula(context: AccessContext, metric) -> dict:
    return {"explain": kpi_data.metric_explain(context=context, code=metric.code)}


def _objects(context: AccessContext, metric) -> dict:
    return {"required": kpi_data.required_objects(metric)}


def _benchmarks(context: AccessContext, metric) -> dict:
    benchmarks = kpi_data.metric_benchmarks(context=context, code=metric.code)
    return {"benchmarks": benchmarks}


def _metadata(context: AccessContext, metric) -> dict:
    return {"metadata": kpi_data.metric_metadata(metric)}


TAB_CONTEXT = {
    "overview": _overview,
    "formula": _formula,
    "objects": _objects,
    "benchmarks": _benchmarks,
    "metadata": _metadata,
}


def _tab_context(request: HttpRequest, metric, tab: str) -> dict:
    context = request_access_context(request)  # the caller's row policies apply to every number
    return {"metric": metric, "tab": tab, "tabs": TABS, **TAB_CONTEXT[tab](context, metric)}


@require_GET
@client_required(read=Permission.VIEW_METRICS)
@vary_on_headers("HX-Request")
def kpi_detail(request: HttpRequest, code: str) -> HttpResponse:
    """The details page, opened on `?tab=` (default Overview); its HTMX
    fragment is that tab's panel."""
    metric = kpi_data.metric_get(client_id=request.console_client.client_id, code=code)
    tab = request.GET.get("tab", "overview")
    if tab not in TABS:
        tab = "overview"
    context = _tab_context(request, metric, tab)
    if is_fragment(request):
        return render(request, f"web/kpis/tabs/_{tab}.html", context)
    context["in_cart"] = code in cart_codes(user_id=request.user.pk, client_id=request.console_client.client_id)
    context["derive"] = {"values": {"formula": code}, "errors": {}}
    return render(request, "web/kpis/detail.html", context)


@require_GET
@client_required(read=Permission.VIEW_METRICS)
def kpi_tab(request: HttpRequest, code: str, tab: str) -> HttpResponse:
    """One tab's panel (the tablist loads them over HTMX)."""
    if tab not in TABS:
        raise Http404(f"No tab {tab!r}.")
    metric = kpi_data.metric_get(client_id=request.console_client.client_id, code=code)
    return render(request, f"web/kpis/tabs/_{tab}.html", _tab_context(request, metric, tab))
