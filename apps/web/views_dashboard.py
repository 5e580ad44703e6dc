"""The demo dashboard (`/`): service health, quick actions, live KPI widgets
and a KPI trend chart, plus the tenant switcher the layout posts to.

Each region loads over HTMX from its own view, which renders the whole
dashboard when asked without HTMX (a shared or reloaded URL still shows the
page). What the regions show is read in dashboard_data.py."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from apps.core.access import Permission
from apps.observability.selectors import health_report
from apps.web.dashboard_data import trend_context, widgets_read
from apps.web.htmx import is_fragment
from apps.web.tenancy import client_required, console_client_choose

# --- pages --------------------------------------------------------------------------


def dashboard_render(request: HttpRequest, *, status: int = 200) -> HttpResponse:
    """The whole dashboard; its regions load themselves over HTMX."""
    query = request.GET.urlencode()
    context = {
        "trend_url": reverse("web:dashboard_trend") + (f"?{query}" if query else ""),
        "health_url": reverse("web:home"),
        "widgets_url": reverse("web:dashboard_widgets"),
    }
    return render(request, "web/dashboard/page.html", context, status=status)


@require_GET
@client_required(read=Permission.VIEW_METRICS)
@vary_on_headers("HX-Request")
def dashboard(request: HttpRequest) -> HttpResponse:
    """`/`: the page; HTMX's request for the health panel (the region polls
    this same URL) gets the fragment."""
    if is_fragment(request):
        return render(request, "web/partials/health_panel.html", {"report": health_report()})
    return dashboard_render(request)


@require_GET
@client_required(read=Permission.VIEW_METRICS)
@vary_on_headers("HX-Request")
def dashboard_widgets(request: HttpRequest) -> HttpResponse:
    """The live KPI widgets (fragment), or the dashboard around them."""
    if not is_fragment(request):
        return dashboard_render(request)
    widgets, metric_count = widgets_read(request)
    return render(
        request,
        "web/dashboard/_widgets.html",
        {"widgets": widgets, "metric_count": metric_count, "widget_data": [w.as_json() for w in widgets]},
    )


@require_GET
@client_required(read=Permission.VIEW_METRICS)
@vary_on_headers("HX-Request")
def dashboard_trend(request: HttpRequest) -> HttpResponse:
    """The trend chart region (fragment with the series as JSON), or the
    dashboard showing these choices."""
    if not is_fragment(request):
        return dashboard_render(request)
    context, status = trend_context(request)
    return render(request, "web/dashboard/_trend.html", context, status=status)


@require_POST
@client_required(read=Permission.VIEW_METRICS, write=Permission.VIEW_METRICS)
def client_switch(request: HttpRequest) -> HttpResponse:
    """The tenant switcher: act for another of the user's clients, then go
    back where they were. A client they are not a member of is a 404."""
    code = (request.POST.get("client") or "").strip()
    if not code:
        return HttpResponseBadRequest("Name the client to switch to (field 'client').")
    access = console_client_choose(request, code)
    if access is None:
        raise Http404("You are not a member of that client.")
    messages.success(request, f"Now working in {access.name}.")
    target = request.POST.get("next") or ""
    hosts = {request.get_host()}
    if not url_has_allowed_host_and_scheme(target, allowed_hosts=hosts, require_https=request.is_secure()):
        target = reverse("web:home")
    if request.htmx:
        return HttpResponseClientRedirect(target)
    return redirect(target)
