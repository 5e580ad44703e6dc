"""Loading an entity's rows over the API (docs/loading-data.md)."""

import codecs
import io

from django.conf import settings
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import BaseParser, DataAndFiles
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.access import Permission
from apps.core.api.tenancy import request_client
from apps.core.errors import AppError
from apps.ontology.api.data_params import load_options_parse
from apps.ontology.api.data_serializers import LoadResultSerializer
from apps.ontology.api.multipart import FILE_FIELD, MULTIPART_TYPE, multipart_csv
from apps.ontology.queries import entity_get
from apps.ontology.services.data_load import entity_csv_load, entity_rows_load, json_rows_parse

JSON_TYPES = {"application/json"}
CSV_TYPES = {"text/csv", "application/csv"}


def _max_bytes() -> int:
    return settings.AE_MAX_LOAD_BYTES


def _too_large(limit: int, size: int | None = None) -> AppError:
    sent = f" ({size} bytes)" if size is not None else ""
    return AppError(
        f"The body is too large{sent}: at most {limit} bytes per request; split the load.",
        code="payload_too_large",
        details={"max_bytes": limit},
        status_code=413,
    )


def _body_read(request: Request) -> bytes:
    """The raw body, refused (413) from Content-Length before reading when it
    is over the limit, and never read past the limit whatever the header says.
    Django's DATA_UPLOAD_MAX_MEMORY_SIZE does not apply: it guards form
    parsing, which this view never does."""
    limit = _max_bytes()
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise AppError("The Content-Length header is not a number.", code="invalid_content_length") from None
    if declared > limit:
        raise _too_large(limit, declared)
    stream = request.stream
    if stream is None and not declared:
        # DRF offers no stream without a Content-Length, but a chunked body (Transfer-Encoding: chunked)
        # is there all the same: read it from Django's request, under the same limit.
        stream = request._request
    body = stream.read(limit + 1) if stream is not None else b""
    if len(body) > limit:
        raise _too_large(limit)
    return body


# Python codecs that are text encodings but not character sets of a document: they encode host names
# (idna, punycode), escape sequences (unicode_escape) or nothing at all (undefined).
_NOT_CHARSETS = {"undefined", "idna", "punycode", "unicode_escape", "raw_unicode_escape", "mbcs", "oem"}


def _unsupported_charset(charset: str, why: str) -> AppError:
    return AppError(
        f"Unsupported charset {charset!r}: {why}; send UTF-8 (or another text encoding such as latin-1).",
        code="unsupported_charset",
        details={"charset": charset},
        status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    )


def _csv_text(body: bytes, charset: str) -> str:
    try:
        info = codecs.lookup(charset)
    except (LookupError, ValueError):  # ValueError: a name with NUL
        raise _unsupported_charset(charset, "no such character encoding") from None
    # rot13, base64, zlib, hex, bz2, uu, quopri: codecs between bytes (or between strings), not charsets.
    if not getattr(info, "_is_text_encoding", True) or info.name.replace("-", "_") in _NOT_CHARSETS:
        raise _unsupported_charset(charset, "it is not a character encoding of text")
    try:
        return body.decode("utf-8-sig" if info.name == "utf-8" else info.name)  # Excel starts UTF-8 with a BOM
    except UnicodeDecodeError as exc:
        raise AppError(
            f"The CSV is not valid {charset} text at byte {exc.start}: {exc.reason}.",
            code="invalid_encoding",
            details={"byte": exc.start},
        ) from None
    except (UnicodeError, ValueError, TypeError) as exc:
        raise AppError(f"The CSV is not valid {charset} text: {exc}.", code="invalid_encoding") from None


class BodyLeftUnread(BaseParser):
    """Takes every media type and reads nothing: the view reads the body
    itself, under the load's limits. With no parser at all, a session's CSRF
    check, which asks DRF for the form fields of every POST, made DRF answer
    415 to any load from a signed-in browser."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None) -> DataAndFiles:
        return DataAndFiles(QueryDict(), MultiValueDict())


class EntityRowsView(APIView):
    """Load rows into an entity: a JSON array of objects, or CSV with a header
    row (the body, or the file `file` of a form). Query parameters read files
    as they come (data_params.py). Valid rows are stored in one transaction,
    invalid ones reported."""

    required_permissions = {"POST": Permission.LOAD_DATA}
    parser_classes = [BodyLeftUnread]  # the body is read and parsed here, with the load's own limits

    @extend_schema(
        operation_id="data_rows_load",
        request={
            "application/json": {"type": "array", "items": {"type": "object"}},
            "text/csv": OpenApiTypes.STR,
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            },
        },
        parameters=[
            OpenApiParameter("date_format", str, description="strptime pattern of date cells, e.g. %d.%m.%Y"),
            OpenApiParameter(
                "timestamp_format", str, description="strptime pattern of timestamp cells, e.g. %d.%m.%Y %H:%M"
            ),
            OpenApiParameter("timezone", str, description="IANA zone of timestamps without an offset (default UTC)"),
            OpenApiParameter("map", str, description="header:attribute renames, comma-separated: temp:temperature"),
            OpenApiParameter("delimiter", str, enum=[",", ";", "tab", "|"], description="CSV only; default ,"),
            OpenApiParameter("decimal", str, enum=[".", ","], description="CSV only; default ."),
        ],
        responses={
            201: OpenApiResponse(LoadResultSerializer, description="Some rows were stored."),
            200: OpenApiResponse(LoadResultSerializer, description="No row was stored: all were rejected"),
            400: OpenApiResponse(
                description="Malformed body or multipart, wrong CSV header, unknown or invalid parameter."
            ),
            403: OpenApiResponse(description="Your role may not load data."),
            404: OpenApiResponse(description="No such entity in this client."),
            413: OpenApiResponse(description="Over AE_MAX_LOAD_BYTES or AE_MAX_LOAD_ROWS."),
            415: OpenApiResponse(description="Neither application/json, text/csv nor multipart/form-data."),
        },
        examples=[
            OpenApiExample(
                "JSON rows",
                value=[{"observed_at": "2026-01-31T09:30:00Z", "series": "pump-7", "value": 12.5}],
                request_only=True,
                media_type="application/json",
            )
        ],
    )
    def post(self, request: Request, entity_code: str) -> Response:
        entity = entity_get(client_id=request_client(request).client_id, code=entity_code)
        content_type = request.content_type.split(";")[0].strip().lower()
        if content_type in JSON_TYPES:
            options = load_options_parse(request.query_params, csv=False)
            rows = json_rows_parse(_body_read(request))
            result = entity_rows_load(entity=entity, rows=rows, source="api", user=request.user, options=options)
        elif content_type in CSV_TYPES or content_type == MULTIPART_TYPE:
            options = load_options_parse(request.query_params, csv=True)
            if content_type == MULTIPART_TYPE:
                body, charset = multipart_csv(request, lambda: _body_read(request), max_bytes=_max_bytes())
            else:
                body, charset = _body_read(request), None
            if not body.strip():
                raise AppError("The body is empty: send CSV with a header row.", code="empty_body")
            if charset is None:
                charset = request.content_params.get("charset", "utf-8")  # Django parses the header; DRF passes it
            stream = io.StringIO(_csv_text(body, charset), newline="")
            result = entity_csv_load(entity=entity, stream=stream, source="csv", user=request.user, options=options)
        else:
            raise AppError(
                f"Unsupported Content-Type {content_type or '(none)'!r}: send application/json "
                "(an array of objects), text/csv (a header row, then rows) or multipart/form-data "
                f"(the CSV as the file field {FILE_FIELD!r}).",
                code="unsupported_media_type",
                details={"supported": sorted(JSON_TYPES | CSV_TYPES | {MULTIPART_TYPE})},
                status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            )
        code = status.HTTP_201_CREATED if result.inserted else status.HTTP_200_OK
        return Response(LoadResultSerializer(result).data, status=code)
