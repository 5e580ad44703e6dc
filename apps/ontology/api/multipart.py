"""A CSV sent as a file of a multipart/form-data body (`curl -F
file=@weather.csv`), read under the load's own body limit. A body that is
not well-formed multipart is a 400 `malformed_multipart` saying why."""

import io
from collections.abc import Callable

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.files.uploadhandler import MemoryFileUploadHandler
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.utils.http import parse_header_parameters
from rest_framework.request import Request

from apps.core.errors import AppError

FILE_FIELD = "file"
MULTIPART_TYPE = "multipart/form-data"


def malformed_multipart(why: str) -> AppError:
    return AppError(
        f"The multipart/form-data body could not be read: {why}. Send the CSV as the file field "
        f"{FILE_FIELD!r} (curl -F {FILE_FIELD}=@data.csv), or the CSV itself as text/csv.",
        code="malformed_multipart",
        details={"reason": why},
    )


class _InMemory(MemoryFileUploadHandler):
    """Keeps the file in memory whatever its size: the body it comes from is
    already in memory, under AE_MAX_LOAD_BYTES."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):  # noqa: N803 - Django names it
        self.activated = True


def _parsed(request: Request, body_read: Callable[[], bytes]):
    _, params = parse_header_parameters(request.content_type)
    boundary = params.get("boundary")
    if not boundary:
        raise malformed_multipart("the Content-Type header has no boundary")
    body = body_read()
    if f"--{boundary}--".encode("latin-1", "replace") not in body:
        raise malformed_multipart(f"the body does not end with its closing boundary --{boundary}-- (truncated?)")
    meta = {**request._request.META, "CONTENT_TYPE": request.content_type, "CONTENT_LENGTH": str(len(body))}
    try:
        return MultiPartParser(meta, io.BytesIO(body), [_InMemory()]).parse()
    except (MultiPartParserError, TooManyFieldsSent, TooManyFilesSent, RequestDataTooBig) as exc:
        raise malformed_multipart(str(exc).rstrip(".") or type(exc).__name__) from None


def multipart_csv(request: Request, body_read: Callable[[], bytes], *, max_bytes: int) -> tuple[bytes, str | None]:
    """The bytes of the one file in the field `file`, and the charset its
    part declares (None: not declared)."""
    fields, files = _parsed(request, body_read)
    if FILE_FIELD in fields:
        raise AppError(
            f"The form field {FILE_FIELD!r} holds text, not a file: attach the file "
            f"(curl -F {FILE_FIELD}=@data.csv, with the @).",
            code="missing_file",
            details={"field": FILE_FIELD},
        )
    others = sorted({*fields, *(name for name in files if name != FILE_FIELD)})
    if others:
        raise AppError(
            f"Unknown form field {others[0]!r}: the form takes one file, {FILE_FIELD!r}; "
            "give load parameters (date_format, delimiter, ...) in the query string.",
            code="unknown_parameter",
            details={"parameters": others},
        )
    uploads = files.getlist(FILE_FIELD)
    if len(uploads) != 1:
        raise AppError(
            f"Send exactly one file in the form field {FILE_FIELD!r} (curl -F {FILE_FIELD}=@data.csv); "
            f"found {len(uploads)}.",
            code="missing_file" if not uploads else "too_many_files",
            details={"field": FILE_FIELD},
        )
    upload = uploads[0]
    if upload.size is not None and upload.size > max_bytes:
        raise AppError(
            f"The file is too large ({upload.size} bytes): at most {max_bytes} bytes per request; split the load.",
            code="payload_too_large",
            details={"max_bytes": max_bytes},
            status_code=413,
        )
    charset = upload.charset  # bytes or str, as Django's parser found it in the part's header
    return upload.read(), charset.decode("latin-1") if isinstance(charset, bytes) else charset
