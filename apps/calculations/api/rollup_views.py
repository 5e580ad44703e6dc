"""Rollups API: list, create, read, change, delete, and refresh now. Scoped
to the caller's client (another client's rollup answers 404); any member
reads, only the client's administrators change or refresh."""

from uuid import uuid4

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.calculations.api import rollup_serializers as s
from apps.calculations.rollups import selectors
from apps.calculations.rollups.services import RollupPolicy, rollup_create, rollup_delete, rollup_update
from apps.calculations.tasks import rollup_refresh_task
from apps.core.access import Permission
from apps.core.api.permissions import by_method
from apps.core.api.tenancy import request_client


class RollupViewSet(viewsets.GenericViewSet):
    required_permissions = by_method(read=Permission.VIEW_METRICS, write=Permission.ADMINISTER)
    serializer_class = s.RollupSerializer
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @property
    def client_id(self) -> int:
        return request_client(self.request).client_id

    def get_queryset(self):
        return selectors.rollup_list(client_id=self.client_id, entity=self.request.query_params.get("entity"))

    def get_object(self):
        return selectors.rollup_get(client_id=self.client_id, rollup_id=int(self.kwargs["pk"]))

    def _valid(self, serializer_class, data) -> dict:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def _render(self, rollup, code=status.HTTP_200_OK) -> Response:
        rollup = selectors.rollup_get(client_id=self.client_id, rollup_id=rollup.pk)
        return Response(s.RollupSerializer(rollup).data, status=code)

    def list(self, request: Request) -> Response:
        """`?entity=` narrows to one entity."""
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.RollupSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk=None) -> Response:
        return Response(s.RollupSerializer(self.get_object()).data)

    @extend_schema(request=s.RollupInputSerializer, responses={201: s.RollupSerializer})
    def create(self, request: Request) -> Response:
        data = self._valid(s.RollupInputSerializer, request.data)
        defaults = RollupPolicy()
        rollup = rollup_create(
            client_id=self.client_id,
            entity=data["entity"],
            grain=data["grain"],
            dimensions=data["dimensions"],
            measures=[dict(m) for m in data["measures"]],
            policy=RollupPolicy(
                schedule=data.get("schedule", defaults.schedule),
                start_offset=data.get("start_offset", defaults.start_offset),
                end_offset=data.get("end_offset"),
            ),
            enabled=data["enabled"],
        )
        return self._render(rollup, status.HTTP_201_CREATED)

    @extend_schema(request=s.RollupChangeSerializer, responses=s.RollupSerializer)
    def partial_update(self, request: Request, pk=None) -> Response:
        """New dimensions or measures recreate the table (and clear `auto`)."""
        rollup = self.get_object()
        data = self._valid(s.RollupChangeSerializer, request.data)
        if "measures" in data:
            data["measures"] = [dict(m) for m in data["measures"]]
        return self._render(rollup_update(rollup=rollup, **data))

    def destroy(self, request: Request, pk=None) -> Response:
        rollup_delete(rollup=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: s.RefreshQueuedSerializer})
    @action(detail=True, methods=["post"])
    def refresh(self, request: Request, pk=None) -> Response:
        """Enqueue a refresh now, whatever the schedule."""
        rollup = self.get_object()
        task_id = str(uuid4())
        transaction.on_commit(lambda: rollup_refresh_task.apply_async((rollup.pk,), task_id=task_id))
        return Response(
            s.RefreshQueuedSerializer({"rollup": rollup.pk, "task_id": task_id}).data, status=status.HTTP_202_ACCEPTED
        )

    @extend_schema(responses=s.RollupBackendSerializer)
    @action(detail=False, methods=["get"])
    def backend(self, request: Request) -> Response:
        """How rollups are stored here, and whether the TimescaleDB licence
        would allow continuous aggregates."""
        return Response(s.RollupBackendSerializer(selectors.rollup_backend()).data)
