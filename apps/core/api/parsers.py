"""The API's JSON parser: DRF's, except that a body nested deeper than the
parser goes (`[[[[...`, RecursionError) is a 400 parse error like any other
malformed JSON, not a 500."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
