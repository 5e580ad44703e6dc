"""Retention API: policies, status per hypertable, a manual archival run.
Staff users only, like the migration endpoints."""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.warehouse.api.retention_serializers import (
    RetentionPolicySerializer,
    RetentionStatusSerializer,
    TriggerArchivalInputSerializer,
    TriggerArchivalResultSerializer,
)
from apps.warehouse.models import RetentionPolicy
from apps.warehouse.retention import RetentionManager, retention_status


class RetentionPolicyViewSet(viewsets.ModelViewSet):
    permission_classes = [IsAdminUser]
    serializer_class = RetentionPolicySerializer
    queryset = RetentionPolicy.objects.all()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]


class RetentionStatusView(APIView):
    """Every hypertable of analytics_data (or `?table=`): chunks with ranges,
    sizes, exact row counts and archival state; chunks already removed."""

    permission_classes = [IsAdminUser]

    @extend_schema(parameters=[OpenApiParameter("table", str, required=False)], responses=RetentionStatusSerializer)
    def get(self, request: Request) -> Response:
        tables = retention_status(table_name=request.query_params.get("table") or None)
        return Response(RetentionStatusSerializer({"tables": tables}).data)


class TriggerArchivalView(APIView):
    """Archive a table's chunks now: those wholly older than `older_than` (the
    policy's cutoff by default) and/or wholly inside [range_start, range_end)."""

    permission_classes = [IsAdminUser]

    @extend_schema(request=TriggerArchivalInputSerializer, responses=TriggerArchivalResultSerializer)
    def post(self, request: Request) -> Response:
        data = TriggerArchivalInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        result = RetentionManager().trigger(
            table_name=values["table_name"],
            table_schema=values.get("table_schema") or settings.ANALYTICS_SCHEMA,
            older_than=values.get("older_than"),
            range_start=values.get("range_start"),
            range_end=values.get("range_end"),
        )
        body = {
            "table_schema": result.table_schema,
            "table_name": result.table_name,
            "cutoff": result.cutoff,
            "events": [event.model_dump() for event in result.events],
            "requested": [chunk.model_dump() for chunk in result.requested],
            "skipped": result.skipped,
        }
        return Response(TriggerArchivalResultSerializer(body).data)
