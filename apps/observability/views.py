import hmac

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from rest_framework.exceptions import AuthenticationFailed

from apps.core.api.authentication import RevocableJWTAuthentication
from apps.core.errors import DEFAULT_RETRY_AFTER_SECONDS
from apps.observability.metrics import CONTENT_TYPE_LATEST, metrics_render
from apps.observability.selectors import health_report


@never_cache
@require_http_methods(["GET", "HEAD"])
def health(request):
    """Liveness and readiness for load balancers and people: 200 when every
    dependency answers, 503 naming the ones that do not, within
    HEALTH_CHECK_TIMEOUT_SECONDS. Public by design (no data, only dependency
    state), like any load-balancer probe. HEAD runs the same checks and answers
    the same status, without a body."""
    report = health_report()
    status = 200 if report.ok else 503
    if request.method == "HEAD":
        response = HttpResponse(status=status, content_type="application/json")
    else:
        response = JsonResponse(report.as_dict(), status=status)
    if not report.ok:  # a balancer or a person probes again then
        response["Retry-After"] = str(DEFAULT_RETRY_AFTER_SECONDS)
    return response


def _metrics_refusal(request) -> HttpResponse | None:
    """None when the caller may read /metrics: with METRICS_TOKEN set, only a
    request bearing it (the scraper); otherwise a staff user, by session or
    API token. Metric names and labels describe the system's internals."""
    unauthorized = HttpResponse("Authentication required.\n", status=401, content_type="text/plain")
    unauthorized["WWW-Authenticate"] = 'Bearer realm="metrics"'
    header = request.headers.get("Authorization", "")
    if settings.METRICS_TOKEN:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), settings.METRICS_TOKEN.encode()):
            return None
        return unauthorized
    user = request.user
    if not user.is_authenticated and header:
        try:
            authenticated = RevocableJWTAuthentication().authenticate(request)
        except AuthenticationFailed:
            return unauthorized
        user = authenticated[0] if authenticated else user
    if not user.is_authenticated:
        return unauthorized
    if not user.is_staff:
        return HttpResponse("Staff only.\n", status=403, content_type="text/plain")
    return None


@never_cache
@require_GET
def metrics(request):
    """Prometheus text exposition of every process's metrics (apps.observability.metrics)."""
    refusal = _metrics_refusal(request)
    if refusal is not None:
        return refusal
    return HttpResponse(metrics_render(), content_type=CONTENT_TYPE_LATEST)
