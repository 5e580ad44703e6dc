"""The object model browser (`/objects/`): entities grouped by value chain,
with their attributes, relationships and the metrics reading them, a
searchable index and the UML class diagram; and the required-objects
analysis (`/objects/required/`) of the KPIs in the user's cart."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from apps.core.access import Permission
from apps.ontology import selectors
from apps.ontology.selectors.uml import graph_build
from apps.web.htmx import is_fragment
from apps.web.object_model import object_model, objects_search, required_objects
from apps.web.ontology_forms import RELATIONSHIP_KINDS
from apps.web.selectors import cart_codes
from apps.web.tenancy import client_required

MAX_QUERY = 100


def _url(name: str, *args) -> str | None:
    """A console URL, or None while the page that owns it is not routed yet."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _link_metrics(metrics) -> None:
    for metric in metrics:
        metric.href = _url("web:kpi_detail", metric.code) or ""


@require_GET
@client_required(read=Permission.VIEW_METRICS)
@vary_on_headers("HX-Request")
def objects(request: HttpRequest) -> HttpResponse:
    """The browser. With `?q=` its HTMX fragment is the search results."""
    client_id = request.console_client.client_id
    query = request.GET.get("q", "").strip()[:MAX_QUERY]
    results = objects_search(client_id=client_id, query=query)
    if is_fragment(request):
        return render(request, "web/objects/_search_results.html", {"query": query, "results": results})
    model = object_model(client_id=client_id)
    _link_metrics(model["metrics"])
    entities = selectors.entities(client_id=client_id)
    context = {
        **model,
        "query": query,
        "results": results,
        "relationship_kinds": RELATIONSHIP_KINDS,
        "uml": graph_build(entities=entities, relationships=selectors.relationships(client_id=client_id)),
    }
    return render(request, "web/objects/browser.html", context)


@require_GET
@client_required(read=Permission.VIEW_METRICS)
@vary_on_headers("HX-Request")
def required(request: HttpRequest) -> HttpResponse:
    """What the cart's KPIs need: their metrics, the entities their statements
    read and the attributes used, as a graph and a list."""
    access = request.console_client
    cart = cart_codes(user_id=request.user.pk, client_id=access.client_id)
    analysis = required_objects(client_id=access.client_id, cart=cart) if cart else None
    if analysis:
        _link_metrics(analysis["metrics"])
    context = {"analysis": analysis, "kpis_url": _url("web:kpis")}
    template = "web/objects/_required.html" if is_fragment(request) else "web/objects/required.html"
    return render(request, template, context)
