"""KPI configuration (`/kpis/`): the metric tree grouped by industry, value
chain or domain with its search, the preview of a picked metric, the user's
cart, and the "derive a custom KPI" dialog with its live formula check.
Reads go through apps/web/kpi_data.py; the KPI is created by the ontology's
metric service, with the validation the API applies."""

import json
from urllib.parse import urlsplit

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from apps.core.access import Permission
from apps.core.errors import AppError
from apps.ontology import selectors
from apps.ontology.services.metrics import MetricInput, metric_create
from apps.web import kpi_data
from apps.web.htmx import is_fragment
from apps.web.row_access import request_access_context
from apps.web.selectors import cart_codes
from apps.web.services import cart_add as cart_put
from apps.web.services import cart_remove as cart_take
from apps.web.tenancy import client_required

MAX_QUERY = 100
DERIVE_FIELDS = ("name", "code", "formula", "unit", "description")
FIELD_OF_ERROR = {"invalid_code": "code", "duplicate_code": "code", "invalid_name": "name"}


def _grouping(request: HttpRequest) -> str:
    grouping = request.GET.get("group", "")
    return grouping if grouping in kpi_data.GROUPINGS else "industry"


def _cart(request: HttpRequest) -> list[str]:
    return cart_codes(user_id=request.user.pk, client_id=request.console_client.client_id)


def _cart_context(request: HttpRequest) -> dict:
    codes = _cart(request)
    names = {m.code: m.name for m in selectors.metrics(client_id=request.console_client.client_id)}
    return {"cart": [{"code": c, "name": names.get(c), "gone": c not in names} for c in codes], "cart_set": set(codes)}


def _tree_context(request: HttpRequest, *, selected: str = "") -> dict:
    client_id = request.console_client.client_id
    grouping = _grouping(request)
    query = request.GET.get("q", "").strip()[:MAX_QUERY]
    return {
        "groups": kpi_data.kpi_tree(client_id=client_id, grouping=grouping, query=query),
        "grouping": grouping,
        "groupings": kpi_data.GROUPINGS,
        "query": query,
        "selected": selected or request.GET.get("metric", ""),
        "has_metrics": selectors.metric_count(client_id=client_id) > 0,
        "cart_set": set(_cart(request)),
    }


def _preview_context(request: HttpRequest, code: str) -> dict:
    client_id = request.console_client.client_id
    metric = kpi_data.metric_get(client_id=client_id, code=code)
    series = kpi_data.metric_series(context=request_access_context(request), code=code)
    return {
        "metric": metric,
        "series": series,
        "chart": series.chart(metric.name),
        "in_cart": code in _cart(request),
        "required": kpi_data.required_objects(metric),
        "uses": kpi_data.metric_uses(metric),
        "aggregation": kpi_data.aggregation(metric),
    }


@require_GET
@client_required(read=Permission.VIEW_METRICS)
@vary_on_headers("HX-Request")
def kpis(request: HttpRequest) -> HttpResponse:
    """The configuration page; its HTMX fragment is the tree (tabs, search)."""
    context = _tree_context(request)
    if is_fragment(request):
        return render(request, "web/kpis/_tree.html", context)
    selected = context["selected"]
    if selected:
        try:
            context["preview"] = _preview_context(request, selected)
        except Http404:  # an unknown ?metric= shows the empty preview, not an error page
            context["selected"] = ""
    context.update(_cart_context(request))
    context["derive"] = {"values": {}, "errors": {}}
    return render(request, "web/kpis/config.html", context)


@require_GET
@client_required(read=Permission.VIEW_METRICS)
def kpi_tree(request: HttpRequest) -> HttpResponse:
    """The tree alone (tab switch, search): always a fragment."""
    return render(request, "web/kpis/_tree.html", _tree_context(request))


@require_GET
@client_required(read=Permission.VIEW_METRICS)
@vary_on_headers("HX-Request")
def kpi_preview(request: HttpRequest, code: str) -> HttpResponse:
    """The preview panel of one metric: its last 30 days and its metadata."""
    context = _preview_context(request, code)
    if is_fragment(request):
        return render(request, "web/kpis/_preview.html", context)
    return HttpResponse(status=302, headers={"Location": f"{reverse('web:kpis')}?metric={code}"})


@require_GET
@client_required(read=Permission.VIEW_METRICS)
def kpi_formula_check(request: HttpRequest) -> HttpResponse:
    """The live check under the formula field, as the user types."""
    check = kpi_data.formula_check(
        client_id=request.console_client.client_id,
        code=request.GET.get("code", "").strip(),
        formula=request.GET.get("formula", ""),
    )
    return render(request, "web/kpis/_formula_check.html", {"check": check})


def _derive_values(request: HttpRequest) -> dict:
    return {name: request.POST.get(name, "").strip() for name in DERIVE_FIELDS}


@require_POST
@client_required(
    read=Permission.VIEW_METRICS,
    write=Permission.EDIT_ONTOLOGY,
    refused="Your role in this client may read KPIs but not create them",
)
def kpi_derive(request: HttpRequest) -> HttpResponse:
    """Create a KPI from existing ones through the ontology's metric service.
    Invalid: the form again with the error next to its field (422). Created:
    from the configuration page, the refreshed tree with the new KPI picked
    (the `kpiDerived` event opens its preview); from a details page, that
    KPI's details. Viewers may not create metrics (403), as over the API."""
    values = _derive_values(request)
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = "The KPI needs a name."
    if not values["code"]:
        errors["code"] = "The KPI needs a code (lower snake case, e.g. net_growth)."
    if not values["formula"]:
        errors["formula"] = "Write a formula over metric codes, e.g. new_count / start_count."
    metric = None
    if not errors:
        data = MetricInput(
            code=values["code"],
            name=values["name"],
            formula=values["formula"],
            unit=values["unit"],
            description=values["description"],
        )
        try:
            metric = metric_create(client_id=request.console_client.client_id, data=data, user=request.user)
        except AppError as exc:
            errors[FIELD_OF_ERROR.get(exc.code, "formula")] = exc.message
    if metric is None:
        context = {"derive": {"values": values, "errors": errors}, "origin": request.POST.get("origin", "")}
        return render(request, "web/kpis/_derive_form.html", context, status=422)
    if request.POST.get("origin") == "detail" or not request.htmx:
        target = reverse("web:kpi_detail", args=[metric.code])
        if request.htmx:
            return HttpResponseClientRedirect(target)
        return HttpResponse(status=303, headers={"Location": target})
    response = render(request, "web/kpis/_tree.html", _tree_context(request, selected=metric.code))
    response["HX-Retarget"] = "#kpi-tree"
    response["HX-Reswap"] = "outerHTML"
    response["HX-Trigger"] = json.dumps({"kpiDerived": {"code": metric.code, "name": metric.name}})
    return response


def _on_configuration_page(request: HttpRequest) -> bool:
    """Whether the request comes from the configuration page (which shows the
    cart panel that a cart change updates out of band)."""
    current = urlsplit(request.htmx.current_url or "").path if request.htmx else ""
    return current in ("", reverse("web:kpis"))


def _cart_change(request: HttpRequest, code: str, *, add: bool) -> HttpResponse:
    client_id = request.console_client.client_id
    if add or code not in _cart(request):  # a KPI deleted since it was added can still be removed
        kpi_data.metric_get(client_id=client_id, code=code)  # 404 for another client's metric
    if add:
        try:
            cart_put(user_id=request.user.pk, client_id=client_id, metric_code=code)
        except AppError as exc:
            return render(request, "web/kpis/_cart_error.html", {"message": exc.message}, status=exc.status_code)
    else:
        cart_take(user_id=request.user.pk, client_id=client_id, metric_code=code)
    if not request.htmx:
        return HttpResponse(status=303, headers={"Location": reverse("web:kpi_detail", args=[code])})
    context = {
        "code": code,
        "in_cart": add,
        "from_cart": request.GET.get("from") == "cart",
        "with_cart": _on_configuration_page(request),
        **_cart_context(request),
    }
    return render(request, "web/kpis/_cart_change.html", context)


@require_POST
@client_required(read=Permission.VIEW_METRICS, write=Permission.VIEW_METRICS)  # the cart is the user's own
def cart_add(request: HttpRequest, code: str) -> HttpResponse:
    """Put a KPI in the cart: the button flips and the cart panel updates (out of band)."""
    return _cart_change(request, code, add=True)


@require_POST
@client_required(read=Permission.VIEW_METRICS, write=Permission.VIEW_METRICS)  # the cart is the user's own
def cart_remove(request: HttpRequest, code: str) -> HttpResponse:
    return _cart_change(request, code, add=False)
