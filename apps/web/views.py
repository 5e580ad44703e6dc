from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from apps.core.selectors import user_clients
from apps.observability.selectors import health_report


@require_GET
@login_required
@vary_on_headers("HX-Request")
def home(request):
    """The landing page. Its health panel loads (and refreshes) over HTMX from
    this same view, which then renders only the fragment."""
    if request.htmx and not request.htmx.boosted:
        return render(request, "web/partials/health_panel.html", {"report": health_report()})
    return render(request, "web/home.html", {"clients": user_clients(user=request.user)})
