"""The query string of a row load (docs/loading-data.md, "Files as they
come"): every parameter checked up front, a bad or unknown one a 400 naming
it."""

from django.http import QueryDict

from apps.core.api.query_params import unknown_parameters_refuse
from apps.ontology.row_validation import DEFAULT_OPTIONS, LoadOptions
from apps.ontology.row_validation.options import (
    decimal_parse,
    delimiter_parse,
    invalid_parameter,
    rename_parse,
    strptime_pattern_parse,
    timezone_parse,
)

COMMON = ("date_format", "timestamp_format", "timezone", "map")
CSV_ONLY = ("delimiter", "decimal")
KNOWN = frozenset({*COMMON, *CSV_ONLY, "client", "format"})


def _single(params: QueryDict, name: str) -> str | None:
    values = params.getlist(name)
    if len(values) > 1:
        raise invalid_parameter(name, values[-1], f"is given {len(values)} times; give it once.")
    return values[0] if values else None


def load_options_parse(params: QueryDict, *, csv: bool) -> LoadOptions:
    """`LoadOptions` from the query string of a CSV (`csv=True`) or JSON load."""
    unknown_parameters_refuse(params, KNOWN, accepted=[*COMMON, *CSV_ONLY])
    if not csv:
        for name in CSV_ONLY:
            if name in params:
                raise invalid_parameter(
                    name, params.get(name, ""), "applies to CSV only; a JSON body has no cells to split or read."
                )
    if not any(name in params for name in (*COMMON, *CSV_ONLY)):
        return DEFAULT_OPTIONS
    date_format = _single(params, "date_format")
    timestamp_format = _single(params, "timestamp_format")
    timezone = _single(params, "timezone")
    delimiter_text = _single(params, "delimiter")
    delimiter = delimiter_parse(delimiter_text) if delimiter_text is not None else ","
    decimal_text = _single(params, "decimal")
    return LoadOptions(
        date_format=strptime_pattern_parse(date_format, parameter="date_format", times=False)
        if date_format is not None
        else None,
        timestamp_format=strptime_pattern_parse(timestamp_format, parameter="timestamp_format", times=True)
        if timestamp_format is not None
        else None,
        timezone=timezone_parse(timezone) if timezone is not None else None,
        rename=rename_parse(params.getlist("map")) if "map" in params else (),
        delimiter=delimiter,
        decimal=decimal_parse(decimal_text, delimiter=delimiter) if decimal_text is not None else ".",
    )
