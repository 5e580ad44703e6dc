"""The console request's access context (tenant + row policies), built once
per request for every page and HTMX partial that shows numbers computed
from rows (dashboard, KPI pages and their benchmarks): the same builder as
the API's (apps.calculations.selectors.access_context_for)."""

from django.http import HttpRequest

from apps.calculations.selectors import access_context_for
from apps.calculations.types import AccessContext


def request_access_context(request: HttpRequest) -> AccessContext:
    context = getattr(request, "_access_context", None)
    if context is None:
        access = request.console_client
        context = access_context_for(client_id=access.client_id, user_id=request.user.pk, role=access.role)
        request._access_context = context
    return context
