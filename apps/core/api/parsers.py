"""The API's JSON parser: DRF's, with the two limits Django applies to form
bodies and DRF's parser does not. A body over DATA_UPLOAD_MAX_MEMORY_SIZE is
a 413 `payload_too_large` (read no further than the limit); a body nested
deeper than the parser goes (`[[[[...`, RecursionError) is a 400 parse error
like any other malformed JSON. Neither is a 500. (Row loads, which take far
bigger bodies, read their own: apps/ontology/api/data_views.py.)"""

import io

from django.conf import settings
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = "The request body is too large."


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None:
            body = stream.read(limit + 1)
            if len(body) > limit:
                raise PayloadTooLarge(f"The request body is too large: at most {limit} bytes of JSON.")
            stream = io.BytesIO(body)
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
