"""Map every API error to `{"error": {"code", "message", "details"}}` (API.md)."""

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.errors import DEFAULT_RETRY_AFTER_SECONDS, TRY_LATER_STATUSES, AppError, dependency_unavailable

logger = logging.getLogger(__name__)


def _first_message(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        inner = _first_message(value)
        return inner if key == "non_field_errors" else f"{key}: {inner}"
    return str(detail)


def error_response(code: str, message: str, details: dict | None, status_code: int, headers=None) -> Response:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return Response(body, status=status_code, headers=headers)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    # A database that cannot take the request now (overload: no connection
    # within the connect timeout, too many clients) or a Redis that is away is
    # a 503 to retry, wherever it surfaced: throttling, authentication,
    # permissions or the view itself. An error of ours already says what is
    # missing (bus_unavailable, with its own retry advice): it is kept.
    unavailable = None if isinstance(exc, AppError) else dependency_unavailable(exc)
    if unavailable is not None:
        # The message the client gets names no host; the log keeps the cause.
        logger.warning("%s, answered 503: %s", unavailable.code, exc)
        exc = unavailable
    if isinstance(exc, RequestDataTooBig):  # a form body over DATA_UPLOAD_MAX_MEMORY_SIZE
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        exc = AppError(
            f"The request body is too large: at most {limit} bytes.",
            code="payload_too_large",
            details={"max_bytes": limit},
            status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, AppError):
        retry_after = exc.retry_after
        if retry_after is None and exc.status_code in TRY_LATER_STATUSES:
            retry_after = DEFAULT_RETRY_AFTER_SECONDS
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return error_response(exc.code, exc.message, exc.details, exc.status_code, headers)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response

    detail = exc.detail
    if isinstance(exc, exceptions.ValidationError):
        details = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        message = f"Invalid input: {_first_message(detail)}"
        code = "invalid"
    else:
        # The message and code already say what "detail"/"code" would repeat.
        details = {k: v for k, v in detail.items() if k not in ("detail", "code")} if isinstance(detail, dict) else {}
        message = _first_message(detail.get("detail", detail)) if isinstance(detail, dict) else str(detail)
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        if isinstance(detail, dict) and "code" in detail:
            code = str(detail["code"])
    headers = {k: v for k, v in response.items() if k in ("WWW-Authenticate", "Retry-After")}
    if response.status_code in TRY_LATER_STATUSES:  # a throttle that could not say when (wait() None)
        headers.setdefault("Retry-After", str(DEFAULT_RETRY_AFTER_SECONDS))
    return error_response(code, message, details, response.status_code or status.HTTP_400_BAD_REQUEST, headers)
