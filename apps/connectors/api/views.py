"""`/api/v1/sources/connections/` (docs/sources.md, "Connections"): a
client's connection profiles, their test, discovery and preview. Managing
sources (permission `manage_sources`) for reads and writes; another
client's connection answers 404; credentials are never in an answer."""

from dataclasses import asdict

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.connectors.api import serializers as s
from apps.connectors.selectors.connections import connection_get, connection_preview, connections_list
from apps.connectors.services.connections import (
    connection_create,
    connection_delete,
    connection_discover,
    connection_settings_test,
    connection_test,
    connection_update,
)
from apps.core.access import Permission
from apps.core.api.permissions import by_method
from apps.core.api.tenancy import request_client
from apps.core.errors import AppError

CODE = OpenApiParameter("code", OpenApiTypes.STR, OpenApiParameter.PATH, description="the connection's code")


def _body(request: Request) -> dict:
    if not isinstance(request.data, dict):
        raise AppError("The body must be a JSON object.", code="invalid")
    return request.data


@extend_schema_view(
    list=extend_schema(operation_id="sources_connections_list", responses=s.ConnectionOutputSerializer(many=True)),
    create=extend_schema(
        operation_id="sources_connections_create",
        request=s.ConnectionInputSerializer,
        responses={201: s.ConnectionOutputSerializer},
    ),
    retrieve=extend_schema(
        operation_id="sources_connections_retrieve", parameters=[CODE], responses=s.ConnectionOutputSerializer
    ),
    update=extend_schema(
        operation_id="sources_connections_update",
        parameters=[CODE],
        request=s.ConnectionUpdateSerializer,
        responses=s.ConnectionOutputSerializer,
    ),
    partial_update=extend_schema(
        operation_id="sources_connections_partial_update",
        parameters=[CODE],
        request=s.ConnectionUpdateSerializer,
        responses=s.ConnectionOutputSerializer,
    ),
    destroy=extend_schema(operation_id="sources_connections_destroy", parameters=[CODE]),
)
class ConnectionViewSet(viewsets.GenericViewSet):
    required_permissions = by_method(read=Permission.MANAGE_SOURCES, write=Permission.MANAGE_SOURCES)
    lookup_field = "code"
    lookup_value_regex = "[^/]+"
    serializer_class = s.ConnectionOutputSerializer

    @property
    def client_id(self) -> int:
        return request_client(self.request).client_id

    def _out(self, view, code: int = status.HTTP_200_OK) -> Response:
        return Response(s.ConnectionOutputSerializer(asdict(view)).data, status=code)

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(connections_list(client_id=self.client_id))
        return self.get_paginated_response(s.ConnectionOutputSerializer([asdict(v) for v in page], many=True).data)

    def create(self, request: Request) -> Response:
        serializer = s.ConnectionInputSerializer(data=_body(request))
        serializer.is_valid(raise_exception=True)
        view = connection_create(client_id=self.client_id, user=request.user, fields=dict(serializer.validated_data))
        return self._out(view, status.HTTP_201_CREATED)

    def retrieve(self, request: Request, code: str) -> Response:
        return self._out(connection_get(client_id=self.client_id, code=code))

    def update(self, request: Request, code: str) -> Response:
        return self._change(request, code, partial=False)

    def partial_update(self, request: Request, code: str) -> Response:
        return self._change(request, code, partial=True)

    def _change(self, request: Request, code: str, *, partial: bool) -> Response:
        connection_get(client_id=self.client_id, code=code)  # 404 before validating the body
        serializer = s.ConnectionUpdateSerializer(data=_body(request), partial=partial)
        serializer.is_valid(raise_exception=True)
        view = connection_update(
            client_id=self.client_id, code=code, fields=dict(serializer.validated_data), partial=partial
        )
        return self._out(view)

    def destroy(self, request: Request, code: str) -> Response:
        connection_delete(client_id=self.client_id, code=code)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(operation_id="sources_connections_test", request=None, responses=s.TestOutcomeSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request: Request, code: str) -> Response:
        """Try the connection: 200 with `ok` false and the stage that failed
        (dns, connect, tls, auth, permission, query) when it does not work."""
        outcome = connection_test(client_id=self.client_id, code=code)
        return Response(s.TestOutcomeSerializer(asdict(outcome)).data)

    @extend_schema(
        operation_id="sources_connections_test_settings",
        request=s.ConnectionTestSettingsSerializer,
        responses=s.TestOutcomeSerializer,
    )
    @action(detail=False, methods=["post"], url_path="test", url_name="test-settings")
    def test_settings(self, request: Request) -> Response:
        """Try settings before saving them: the body of a create (`code`
        optional, need not exist), nothing saved, the outcome answered as a
        saved connection's test answers it; settings that are not valid are a
        400 naming the field, as on create."""
        serializer = s.ConnectionTestSettingsSerializer(data=_body(request))
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        outcome = connection_settings_test(client_id=self.client_id, fields=fields, code=fields.get("code") or "")
        return Response(s.TestOutcomeSerializer(asdict(outcome)).data)

    # `connections/test` is the route above: a connection whose code is "test"
    # is still read, changed and deleted there.
    @extend_schema(exclude=True)
    @test_settings.mapping.get
    def test_named_retrieve(self, request: Request) -> Response:
        return self.retrieve(request, "test")

    @extend_schema(exclude=True)
    @test_settings.mapping.put
    def test_named_update(self, request: Request) -> Response:
        return self.update(request, "test")

    @extend_schema(exclude=True)
    @test_settings.mapping.patch
    def test_named_partial_update(self, request: Request) -> Response:
        return self.partial_update(request, "test")

    @extend_schema(exclude=True)
    @test_settings.mapping.delete
    def test_named_destroy(self, request: Request) -> Response:
        return self.destroy(request, "test")

    @extend_schema(operation_id="sources_connections_discover", responses=s.DiscoverySerializer)
    @action(detail=True, methods=["get"])
    def discover(self, request: Request, code: str) -> Response:
        """The source's tables and views (endpoints, files) with their columns,
        read live and recorded as the client's data source definition."""
        objects = connection_discover(client_id=self.client_id, code=code)
        return Response(s.DiscoverySerializer({"objects": [asdict(o) for o in objects]}).data)

    @extend_schema(
        operation_id="sources_connections_preview",
        parameters=[
            OpenApiParameter("object", str, description="a discovered object (table, view, endpoint)"),
            OpenApiParameter("query", str, description="or one SELECT (SQL kinds)"),
            OpenApiParameter("limit", int, description="rows, 20 by default, at most SOURCES_PREVIEW_MAX_ROWS"),
        ],
        responses=s.PreviewSerializer,
    )
    @action(detail=True, methods=["get"])
    def preview(self, request: Request, code: str) -> Response:
        """A sample of live rows of an object or a query."""
        raw_limit = request.query_params.get("limit") or "20"
        if not raw_limit.strip().isdigit():
            raise AppError(f"limit {raw_limit!r} is not a whole number.", code="invalid_limit")
        preview = connection_preview(
            client_id=self.client_id,
            code=code,
            source_object=request.query_params.get("object", ""),
            source_query=request.query_params.get("query", ""),
            limit=int(raw_limit),
        )
        columns = [c.name for c in preview.columns]
        types = {c.name: c.type for c in preview.columns}
        return Response(s.PreviewSerializer({"columns": columns, "types": types, "rows": preview.rows}).data)
