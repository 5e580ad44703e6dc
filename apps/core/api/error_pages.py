"""Django's last-resort error views (handler400/403/404/500 in
analytics_engine/urls.py): under /api/ they answer the API's error shape in
JSON, like every other API error (API.md), so a client never has to parse an
HTML page; elsewhere Django's own pages.

They serve what never reaches a DRF view or escapes it: an unknown path, a
body over DATA_UPLOAD_MAX_MEMORY_SIZE (RequestDataTooBig, 413), an exception
no handler knew (500, with the correlation id the logs carry and nothing of
the exception itself)."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django_guid import get_guid

API_PREFIX = "/api/"


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def api_error(code: str, message: str, status: int, details: dict | None = None) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "details": details or {}}}, status=status)


def too_large(limit: int | None) -> JsonResponse:
    return api_error(
        "payload_too_large",
        f"The request body is too large: at most {limit} bytes." if limit else "The request body is too large.",
        413,
        {"max_bytes": limit} if limit else {},
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if is_api(request):
            return too_large(limit)
        return HttpResponse("413 Payload too large", status=413, content_type="text/plain")
    if is_api(request):
        return api_error("bad_request", "The request is malformed.", 400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api(request):
        return api_error("permission_denied", "You do not have permission to perform this action.", 403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api(request):
        return api_error(
            "not_found", f"No API endpoint at {request.path!r}; see /api/v1/docs/.", 404, {"path": request.path}
        )
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api(request):
        correlation_id = get_guid()
        return api_error(
            "internal_error",
            "The server failed to answer this request; it has been logged"
            + (f" under correlation id {correlation_id}." if correlation_id else "."),
            500,
            {"correlation_id": correlation_id} if correlation_id else {},
        )
    return defaults.server_error(request)
