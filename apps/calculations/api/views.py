"""The metrics API (API.md, Metrics) and ad-hoc queries. Views parse the
request, call the orchestrator or the query service, and render; errors are
AppErrors rendered in the API's error shape."""

from dataclasses import asdict
from datetime import datetime, timedelta

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.calculations.api import serializers as s
from apps.calculations.api.params import (
    HISTORY_KNOWN,
    flag_parse,
    metric_query_parse,
    moment_parse,
    unknown_parameters_refuse,
)
from apps.calculations.orchestrator import CalculationOrchestrator, default_range
from apps.calculations.query import adhoc_query_run
from apps.calculations.selectors import access_context_for, history_list
from apps.calculations.types import AccessContext, Granularity, MetricQuery
from apps.core.access import Permission
from apps.core.api.pagination import StandardPagination
from apps.core.api.permissions import by_method
from apps.core.api.tenancy import request_client
from apps.core.errors import AppError
from apps.ontology.selectors.client_config import kpi_active_require


def access_context(request: Request) -> AccessContext:
    """The caller's tenant and row policies, built once per request."""
    context = getattr(request, "_access_context", None)
    if context is None:
        access = request_client(request)
        context = access_context_for(client_id=access.client_id, user_id=request.user.pk, role=access.role)
        request._access_context = context
    return context


METRIC_PARAMETERS = [
    OpenApiParameter("start", OpenApiTypes.DATETIME, description="ISO 8601 with offset, or a date (UTC midnight)"),
    OpenApiParameter("end", OpenApiTypes.DATETIME, description="exclusive; default: end of today (UTC)"),
    OpenApiParameter("granularity", OpenApiTypes.STR, enum=[g.value for g in Granularity], default="day"),
    OpenApiParameter("group_by", OpenApiTypes.STR, description="comma-separated attribute paths"),
    OpenApiParameter(
        "filter[attribute]", OpenApiTypes.STR, description="one value or a comma-separated list of values"
    ),
    OpenApiParameter("mode", OpenApiTypes.STR, enum=["exact", "approximate"]),
    OpenApiParameter("route", OpenApiTypes.STR, enum=["raw"], description="skip rollups: read the raw rows"),
    OpenApiParameter("explain", OpenApiTypes.BOOL, description="add how the answer was computed: route, reasons, SQL"),
]


class MetricView(APIView):
    required_permissions = by_method(read=Permission.VIEW_METRICS)

    @extend_schema(
        parameters=METRIC_PARAMETERS, responses=s.ExplainedMetricResultSerializer, operation_id="metrics_retrieve"
    )
    def get(self, request: Request, code: str) -> Response:
        query = metric_query_parse(code, request.query_params)
        explain = flag_parse(request.query_params, "explain")
        context = access_context(request)
        kpi_active_require(client_id=context.client_id, code=code)  # 409 kpi_deactivated (docs/client-config.md)
        orchestrator = CalculationOrchestrator(context=context)
        data = asdict(orchestrator.calculate(query))
        if explain:
            data["explain"] = orchestrator.explain(query)
        return Response(s.ExplainedMetricResultSerializer(data).data)


class MetricHistoryView(APIView):
    required_permissions = by_method(read=Permission.VIEW_METRICS)

    @extend_schema(
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATETIME),
            OpenApiParameter("end", OpenApiTypes.DATETIME),
            OpenApiParameter("granularity", OpenApiTypes.STR, enum=[g.value for g in Granularity]),
        ],
        responses=s.HistoryPointSerializer(many=True),
        operation_id="metrics_history_list",
    )
    def get(self, request: Request, code: str) -> Response:
        context = access_context(request)
        spec = CalculationOrchestrator(context=context).metric(code)
        kpi_active_require(client_id=context.client_id, code=spec.code)
        params = request.query_params
        unknown_parameters_refuse(params, HISTORY_KNOWN)
        start = moment_parse(params["start"], name="start") if params.get("start") else None
        end = moment_parse(params["end"], name="end") if params.get("end") else None
        if start and end and end <= start:
            raise AppError("end must be after start.", code="invalid_range")
        granularity = params.get("granularity") or None
        if granularity is not None and granularity not in Granularity.__members__.values():
            raise AppError(f"Unknown granularity {granularity!r}.", code="invalid_granularity")
        if context.restricted:
            # metric_history holds unrestricted numbers: a caller under row policies
            # gets the same shape computed under their policies instead (never stored).
            points = restricted_history(context, spec.code, start=start, end=end, granularity=granularity)
        else:
            points = history_list(
                client_id=context.client_id, metric=spec.code, start=start, end=end, granularity=granularity
            )
        paginator = StandardPagination()
        page = paginator.paginate_queryset(points, request, view=self)
        return paginator.get_paginated_response(s.HistoryPointSerializer(page, many=True).data)


def restricted_history(
    context: AccessContext, code: str, *, start: datetime | None, end: datetime | None, granularity: str | None
) -> list[dict]:
    """The history endpoint's answer for a restricted caller: the metric
    computed now under their row policies over [start, end) (the default
    range for an open side) by `granularity` (default day), as history
    points (the whole only: stored breakdowns are not recomputed)."""
    default_start, default_end = default_range()
    end = end or default_end
    start = start or min(default_start, end - timedelta(days=1))
    query = MetricQuery(metric=code, start=start, end=end, granularity=Granularity(granularity or "day"))
    result = CalculationOrchestrator(context=context).calculate(query, persist=False)
    return [
        {
            "bucket": p.bucket,
            "granularity": result.granularity,
            "dims": p.dims,
            "value": p.value,
            "unit": result.unit,
            "computed_at": result.computed_at,
        }
        for p in result.series
        if p.bucket is not None
    ]


class QueryView(APIView):
    required_permissions = {"POST": Permission.VIEW_METRICS}  # a query only reads, whatever the method

    @extend_schema(request=s.QueryRequestSerializer, responses=s.QueryResultSerializer, operation_id="query_run")
    def post(self, request: Request) -> Response:
        serializer = s.QueryRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        query = MetricQuery(
            metric="",
            start=moment_parse(data["range"]["start"], name="start"),
            end=moment_parse(data["range"]["end"], name="end"),
            granularity=Granularity(data["granularity"]),
            group_by=tuple(data.get("group_by") or ()),
            filters=tuple((path, tuple(values)) for path, values in (data.get("filters") or {}).items()),
        )
        result = adhoc_query_run(
            context=access_context(request), entity=data["entity"], measures=dict(data["measures"]), query=query
        )
        return Response(s.QueryResultSerializer(result).data)
