"""Retention API: policies, status per hypertable, a manual archival run.
Staff users only, like the migration endpoints."""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.pagination import StandardPagination
from apps.core.api.tenancy import request_client
from apps.core.errors import AppError
from apps.warehouse.api.retention_serializers import (
    RetentionJobSerializer,
    RetentionPolicySerializer,
    RetentionStatusSerializer,
    TriggerArchivalInputSerializer,
    TriggerArchivalResultSerializer,
)
from apps.warehouse.models import RetentionPolicy
from apps.warehouse.retention import RetentionManager, retention_status
from apps.warehouse.retention.jobs import STATES, retention_jobs_list
from apps.warehouse.selectors import table_ref_parse
from apps.warehouse.services.hooks import entity_table


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
        table = request.query_params.get("table") or None
        schema, name = table_ref_parse(table) if table else (settings.ANALYTICS_SCHEMA, None)
        tables = retention_status(table_schema=schema, table_name=name)
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
        table_schema, table_name = table_ref_parse(
            values["table_name"], schema=values.get("table_schema") or settings.ANALYTICS_SCHEMA
        )
        result = RetentionManager().trigger(
            table_name=table_name,
            table_schema=table_schema,
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


class RetentionJobListView(APIView):
    """Each chunk retention acted on, with its state, the archival worker's
    attempts and last error: `?table=` (or `?entity=`, an entity code of the
    caller's client) and `?status=` filter; paginated."""

    permission_classes = [IsAdminUser]

    @extend_schema(
        parameters=[
            OpenApiParameter("table", str, required=False, description="c1_weather or analytics_data.c1_weather"),
            OpenApiParameter("entity", str, required=False, description="an entity code of the caller's client"),
            OpenApiParameter("status", str, required=False, enum=list(STATES)),
        ],
        responses=RetentionJobSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        status = params.get("status") or None
        if status is not None and status not in STATES:
            raise AppError(
                f"Unknown status {status!r}; use one of {', '.join(STATES)}.",
                code="invalid_filter",
                details={"status": list(STATES)},
            )
        schema, tables = settings.ANALYTICS_SCHEMA, None
        if params.get("entity"):
            entity = params["entity"]
            table = entity_table(client_id=request_client(request).client_id, entity=entity)
            if table is None:
                raise AppError(f"Unknown entity {entity!r} in this client.", code="unknown_entity",
                               details={"entity": entity})  # fmt: skip
            tables = [table]
        elif params.get("table"):
            schema, table = table_ref_parse(params["table"])
            tables = [table]
        jobs = retention_jobs_list(table_schema=schema, table_names=tables, state=status)
        paginator = StandardPagination()
        page = paginator.paginate_queryset(jobs, request, view=self)
        return paginator.get_paginated_response(RetentionJobSerializer(page, many=True).data)
