"""Generated artifacts (Pydantic models and DDL) and the ontology diagram
(PlantUML or JSON graph), for the caller's client."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.access import Permission
from apps.core.api.permissions import by_method
from apps.core.api.tenancy import request_client
from apps.core.errors import AppError
from apps.ontology import selectors
from apps.ontology.api.metadata_cache import MetadataCacheMixin
from apps.ontology.selectors.uml import graph_build, plantuml_render
from apps.ontology.services.artifacts import artifacts_generate


class ArtifactsInputSerializer(serializers.Serializer):
    entities = serializers.ListField(
        child=serializers.CharField(), required=False, default=list, help_text="Entity codes; empty or absent: all."
    )
    apply = serializers.BooleanField(required=False, default=False)


class ArtifactsOutputSerializer(serializers.Serializer):
    pydantic = serializers.CharField()
    ddl = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    applied = serializers.BooleanField()


class ArtifactsView(APIView):
    """Pydantic v2 models of the client's entities (one importable module) and
    each entity's table DDL; `apply: true` also runs the DDL (idempotent) in
    one transaction. Administrators only."""

    required_permissions = by_method(write=Permission.ADMINISTER)

    @extend_schema(request=ArtifactsInputSerializer, responses=ArtifactsOutputSerializer)
    def post(self, request: Request) -> Response:
        serializer = ArtifactsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        artifacts = artifacts_generate(
            client_id=request_client(request).client_id,
            entity_codes=serializer.validated_data["entities"],
            apply=serializer.validated_data["apply"],
        )
        return Response(
            ArtifactsOutputSerializer(
                {"pydantic": artifacts.pydantic, "ddl": artifacts.ddl, "applied": artifacts.applied}
            ).data
        )


class PlantUMLRenderer(BaseRenderer):
    media_type = "text/plain"
    format = "plantuml"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data.encode(self.charset) if isinstance(data, str) else data


UML_FORMATS = {"plantuml", "json"}


class OntologyUMLView(MetadataCacheMixin, APIView):
    """The client's ontology as a PlantUML class diagram (`text/plain`), or
    with `?format=json` (or `Accept: application/json`) as nodes and edges;
    cached, and 304 to a current ETag."""

    required_permissions = by_method(read=Permission.VIEW_METRICS)
    renderer_classes = [PlantUMLRenderer, JSONRenderer]
    response_cache_formats = frozenset({"plantuml", "json"})

    def perform_content_negotiation(self, request, force=False):
        # DRF answers an unknown `?format=` with a bare 404 before checking
        # credentials; negotiate as if it were absent and refuse it in `get`.
        if request.query_params.get("format", "plantuml") not in UML_FORMATS:
            renderer = self.get_renderers()[0]
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force=force)

    def handle_exception(self, exc):
        # Errors keep the API's one JSON error shape, whatever the diagram format.
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=sorted(UML_FORMATS), required=False)],
        responses={
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="PlantUML class diagram"),
            (200, "application/json"): inline_serializer(
                "OntologyGraph",
                {
                    "nodes": serializers.ListField(child=serializers.DictField()),
                    "edges": serializers.ListField(child=serializers.DictField()),
                },
            ),
        },
    )
    def get(self, request: Request) -> Response:
        requested = request.query_params.get("format", "plantuml")
        if requested not in UML_FORMATS:
            raise AppError(
                f"Unknown format {requested!r}; use 'plantuml' (the default) or 'json'.",
                code="invalid_format",
                details={"format": requested},
            )
        access = request_client(request)
        parts = {
            "entities": selectors.entities(client_id=access.client_id),
            "relationships": selectors.relationships(client_id=access.client_id),
            "metrics": selectors.metrics(client_id=access.client_id),
        }
        if request.accepted_renderer.format == "json":
            return Response(graph_build(**parts))
        return Response(plantuml_render(**parts, title=f"Ontology of {access.name}"))
