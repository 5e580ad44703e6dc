"""Pages answer 503 with Retry-After, not a 500, when the database cannot
take the request now (overload: no connection within the connect timeout,
too many clients, shutting down), Redis is away (down, paused, restarting)
or a calculation found no free slot. The
API's exception handler does the same for /api/v1 (apps.core.api.exceptions);
this covers the server-rendered pages and the admin."""

import logging

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from apps.core.errors import (
    DEFAULT_RETRY_AFTER_SECONDS,
    TRY_LATER_STATUSES,
    ServiceUnavailable,
    dependency_unavailable,
)

logger = logging.getLogger(__name__)


class ServiceUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        error = exception if isinstance(exception, ServiceUnavailable) else dependency_unavailable(exception)
        if error is None:
            return None
        logger.warning("page answered 503 (%s): %s", error.code, exception)
        # A page of its own, rendered without the layout: the layout's context
        # reads the database, which is what cannot answer now.
        body = render_to_string("503.html", {"message": error.message, "retry_after": error.retry_after})
        response = HttpResponse(body, status=503)
        response["Retry-After"] = str(error.retry_after)
        return response


class RetryAfterMiddleware:
    """Every 429 and 503 says when to try again: an answer that does not
    already carry Retry-After (a page rendering an error's status, a view of
    a dependency that is down) gets DEFAULT_RETRY_AFTER_SECONDS. The API's
    exception handler sets its own estimates; they are kept."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code in TRY_LATER_STATUSES and not response.has_header("Retry-After"):
            response["Retry-After"] = str(DEFAULT_RETRY_AFTER_SECONDS)
        return response
