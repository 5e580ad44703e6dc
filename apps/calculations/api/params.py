"""Query-string parsing for the metrics API: every bad parameter is a 400
that names it (API.md, Metrics)."""

import re
from datetime import UTC, datetime, time

from django.http import QueryDict
from django.utils.dateparse import parse_date, parse_datetime

from apps.calculations.orchestrator import default_range
from apps.calculations.types import Granularity, MetricQuery
from apps.core.api import query_params
from apps.core.api.query_params import UNLISTED
from apps.core.errors import AppError

FILTER_RE = re.compile(r"^filter\[([^\]]+)\]$")
KNOWN = {"start", "end", "granularity", "group_by", "mode", "route", "explain", "client", "format"}
HISTORY_KNOWN = {"start", "end", "granularity", "client", "format", "page", "page_size"}
MAX_GROUP_BY = 5
MIN_YEAR, MAX_YEAR = 1000, 9000  # well inside what dates and time arithmetic support


def moment_parse(text: str, *, name: str) -> datetime:
    """ISO 8601 with an offset, or a date (midnight UTC)."""
    parsed = None
    try:
        day = parse_date(text) if len(text) == 10 else None
        parsed = datetime.combine(day, time(0), tzinfo=UTC) if day else parse_datetime(text)
    except ValueError:
        parsed = None
    if parsed is None:
        raise AppError(
            f"{name}={text!r} is not an ISO 8601 date or timestamp.", code="invalid_range", details={name: text}
        )
    if parsed.tzinfo is None:
        raise AppError(
            f"{name}={text!r} needs a UTC offset, e.g. 2026-03-01T00:00:00+00:00.",
            code="invalid_range",
            details={name: text},
        )
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise AppError(
            f"{name}={text!r} is outside the supported years {MIN_YEAR}-{MAX_YEAR}.",
            code="invalid_range",
            details={name: text},
        )
    return parsed


def unknown_parameters_refuse(params: QueryDict, known: set[str], *, filters: bool = False) -> None:
    accepted = sorted(known - UNLISTED) + (["filter[<attribute>]"] if filters else [])
    query_params.unknown_parameters_refuse(
        params, known, accepted=accepted, allowed=FILTER_RE.match if filters else None
    )


def range_parse(params: QueryDict) -> tuple[datetime, datetime]:
    start_text, end_text = params.get("start"), params.get("end")
    default_start, default_end = default_range()
    end = moment_parse(end_text, name="end") if end_text else default_end
    start = moment_parse(start_text, name="start") if start_text else None
    if start is None:
        start = default_start if not end_text else end - (default_end - default_start)
    return start, end


def metric_query_parse(code: str, params: QueryDict) -> MetricQuery:
    unknown_parameters_refuse(params, KNOWN, filters=True)
    granularity_text = params.get("granularity") or Granularity.DAY.value
    try:
        granularity = Granularity(granularity_text)
    except ValueError:
        raise AppError(
            f"Unknown granularity {granularity_text!r}; use one of {', '.join(g.value for g in Granularity)}.",
            code="invalid_granularity",
            details={"granularity": granularity_text},
        ) from None
    group_by = tuple(dict.fromkeys(p.strip() for p in (params.get("group_by") or "").split(",") if p.strip()))
    if len(group_by) > MAX_GROUP_BY:
        raise AppError(
            f"At most {MAX_GROUP_BY} group-by attributes.", code="invalid_group_by", details={"group_by": group_by}
        )
    filters = []
    for key in sorted(params):
        match = FILTER_RE.match(key)
        if match:
            values = tuple(v.strip() for raw in params.getlist(key) for v in raw.split(",") if v.strip())
            if not values:
                raise AppError(f"{key} has no value.", code="invalid_filter", details={"attribute": match.group(1)})
            filters.append((match.group(1), values))
    route = params.get("route") or None
    if route not in (None, "raw"):
        raise AppError(
            f"route={route!r}: only 'raw' can be asked for (to skip rollups); the router picks otherwise.",
            code="invalid_route",
            details={"route": route},
        )
    start, end = range_parse(params)
    return MetricQuery(
        metric=code,
        start=start,
        end=end,
        granularity=granularity,
        group_by=group_by,
        filters=tuple(filters),
        mode=params.get("mode") or None,
        route=route,
    )


def flag_parse(params: QueryDict, name: str) -> bool:
    text = (params.get(name) or "").strip().lower()
    if text in ("", "0", "false", "no"):
        return False
    if text in ("1", "true", "yes"):
        return True
    raise AppError(f"{name}={text!r}: use 1 or 0.", code="invalid_parameter", details={name: text})
