from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.observability.selectors import health_report


@never_cache
@require_GET
def health(request):
    """Liveness and readiness for load balancers and people: 200 when every
    dependency answers, 503 naming the ones that do not. Public by design (no
    data, only dependency state), like any load-balancer probe."""
    report = health_report()
    return JsonResponse(report.as_dict(), status=200 if report.ok else 503)
