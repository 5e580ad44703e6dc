"""The live feeds' API: the stream aggregator's "current" view of a sensor
(docs/live.md, "Stream aggregator")."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.access import Permission
from apps.core.api.permissions import by_method
from apps.core.api.tenancy import request_client
from apps.core.errors import AppError
from apps.streams.aggregator.selectors import GRAINS, MAX_WINDOW_SECONDS, telemetry_current
from apps.streams.api import serializers as s

KNOWN_PARAMETERS = {"sensor", "device_id", "seconds", "grain", "client", "format"}


class TelemetryCurrentView(APIView):
    required_permissions = by_method(read=Permission.VIEW_METRICS)

    @extend_schema(
        parameters=[
            OpenApiParameter("sensor", OpenApiTypes.STR, required=True),
            OpenApiParameter("device_id", OpenApiTypes.STR, description="one device; omitted: every device merged"),
            OpenApiParameter("seconds", OpenApiTypes.INT, default=300, description=f"1 to {MAX_WINDOW_SECONDS}"),
            OpenApiParameter("grain", OpenApiTypes.STR, enum=list(GRAINS), default="second"),
        ],
        responses=s.CurrentViewSerializer,
        operation_id="streams_telemetry_current",
    )
    def get(self, request: Request) -> Response:
        unknown = sorted(set(request.query_params) - KNOWN_PARAMETERS)
        if unknown:
            raise AppError(
                f"Unknown parameter {unknown[0]!r}; use sensor, device_id, seconds, grain.",
                code="unknown_parameter",
                details={"parameters": unknown},
            )
        query = s.CurrentQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        view = telemetry_current(client_id=request_client(request).client_id, **query.validated_data)
        return Response(s.CurrentViewSerializer(view).data)
