"""Ontology CRUD, one viewset per definition type, all tenant-scoped by the
caller's client, identified by `code` in the URL. Views parse and render;
the services in apps/ontology/services do the work."""

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.access import Permission
from apps.core.api.permissions import by_method
from apps.core.api.tenancy import request_client
from apps.core.errors import AppError, PermissionDenied
from apps.ontology import models as m
from apps.ontology import queries
from apps.ontology.api import serializers as s
from apps.ontology.api.metadata_cache import MetadataCacheMixin
from apps.ontology.selectors.versions import definition_history
from apps.ontology.services import definitions, entities, metrics, relationships
from apps.ontology.services.versions import definition_revert


class DefinitionViewSet(MetadataCacheMixin, viewsets.GenericViewSet):
    """list / create / retrieve / update / partial_update / destroy + history;
    list and retrieve are cached and answer 304 to a current ETag."""

    required_permissions = by_method(read=Permission.VIEW_METRICS, write=Permission.EDIT_ONTOLOGY)
    lookup_field = "code"
    lookup_value_regex = "[^/]+"
    model: type = None
    input_serializer_class: type = None
    output_serializer_class: type = None

    # Subclasses provide: to_input(data) -> service input, service_create(client_id, data, user),
    # service_update(obj, data, user), service_delete(obj, user, request).

    # -- plumbing --
    @property
    def client_id(self) -> int:
        return request_client(self.request).client_id

    def get_queryset(self):
        return self.model.objects.filter(client_id=self.client_id).order_by("code")

    def get_serializer_class(self):
        return (
            self.input_serializer_class
            if self.action in ("create", "update", "partial_update")
            else (self.output_serializer_class)
        )

    def get_object(self):
        return queries.definition_get(self.model, client_id=self.client_id, code=self.kwargs["code"])

    def _render(self, obj, code=status.HTTP_200_OK) -> Response:
        obj = self.get_queryset().get(pk=obj.pk)
        return Response(self.output_serializer_class(obj).data, status=code)

    def _validated(self, payload) -> dict:
        serializer = self.input_serializer_class(data=payload)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.output_serializer_class(page, many=True).data)

    def retrieve(self, request, code=None):
        return Response(self.output_serializer_class(self.get_object()).data)

    def create(self, request):
        data = self.to_input(self._validated(request.data))
        obj = self.service_create(self.client_id, data, request.user)
        return self._render(obj, status.HTTP_201_CREATED)

    def update(self, request, code=None):
        obj = self.get_object()
        data = self.to_input(self._validated(request.data))
        return self._render(self.service_update(obj, data, request.user))

    def partial_update(self, request, code=None):
        obj = self.get_object()
        if not isinstance(request.data, dict):
            raise AppError("The body must be a JSON object.", code="invalid")
        current = dict(self.current_payload(obj))
        current.update(request.data)
        data = self.to_input(self._validated(current))
        return self._render(self.service_update(obj, data, request.user))

    def destroy(self, request, code=None):
        self.service_delete(self.get_object(), request.user, request)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def current_payload(self, obj) -> dict:
        return self.output_serializer_class(obj).data

    @extend_schema(responses=s.VersionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def history(self, request, code=None):
        """Every version of this definition, newest first: who, when, what changed."""
        rows = definition_history(self.get_object())
        return Response(s.VersionSerializer(rows, many=True).data)

    @action(detail=True, methods=["post"], url_path=r"history/(?P<version_id>\d+)/revert")
    def revert(self, request, code=None, version_id=None):
        """Restore this definition as it was in an earlier version (a new version records the revert)."""
        obj = definition_revert(obj=self.get_object(), version_id=int(version_id), user=request.user)
        return self._render(obj)


class EntityViewSet(DefinitionViewSet):
    model = m.EntityDefinition
    input_serializer_class = s.EntityInputSerializer
    output_serializer_class = s.EntityOutputSerializer

    def get_queryset(self):
        return queries.entity_list(client_id=self.client_id)

    def to_input(self, data):
        return entities.EntityInput(
            code=data["code"],
            name=data["name"],
            description=data["description"],
            kind=data["kind"],
            time_attribute=data.get("time_attribute") or "",
            chunk_interval=data.get("chunk_interval"),
            attributes=[
                entities.AttributeInput(
                    code=a["code"],
                    data_type=a["data_type"],
                    nullable=a["nullable"],
                    enum_values=tuple(a["enum_values"]),
                    name=a["name"],
                    description=a["description"],
                )
                for a in data["attributes"]
            ],
        )

    def service_create(self, client_id, data, user):
        return entities.entity_create(client_id=client_id, data=data, user=user)

    def service_update(self, obj, data, user):
        return entities.entity_update(entity=obj, data=data, user=user)

    def service_delete(self, obj, user, request):
        drop = request.query_params.get("drop_data") in ("1", "true")
        # Dropping stored rows cannot be undone (a revert brings back the
        # definition, not the data): the client's administrators only.
        if drop and not request_client(request).has(Permission.ADMINISTER):
            raise PermissionDenied(
                "Only the client's administrators may delete an entity with its data (drop_data=true): "
                f"it needs the permission '{Permission.ADMINISTER}'.",
                details={"permission": Permission.ADMINISTER.value},
            )
        entities.entity_delete(entity=obj, drop_data=drop, user=user)


class RelationshipViewSet(DefinitionViewSet):
    model = m.RelationshipDefinition
    input_serializer_class = s.RelationshipInputSerializer
    output_serializer_class = s.RelationshipSerializer

    def get_queryset(self):
        return queries.relationship_list(client_id=self.client_id)

    def to_input(self, data):
        return relationships.RelationshipInput(**data)

    def service_create(self, client_id, data, user):
        return relationships.relationship_create(client_id=client_id, data=data, user=user)

    def service_update(self, obj, data, user):
        return relationships.relationship_update(rel=obj, data=data, user=user)

    def service_delete(self, obj, user, request):
        relationships.relationship_delete(rel=obj, user=user)


class MetricViewSet(DefinitionViewSet):
    model = m.MetricDefinition
    input_serializer_class = s.MetricInputSerializer
    output_serializer_class = s.MetricOutputSerializer

    def get_queryset(self):
        return queries.metric_list(client_id=self.client_id)

    def to_input(self, data):
        return metrics.MetricInput(**{**data, "entity": data.get("entity") or None})

    def service_create(self, client_id, data, user):
        return metrics.metric_create(client_id=client_id, data=data, user=user)

    def service_update(self, obj, data, user):
        return metrics.metric_update(metric=obj, data=data, user=user)

    def service_delete(self, obj, user, request):
        metrics.metric_delete(metric=obj, user=user)


class _DescriptiveViewSet(DefinitionViewSet):
    """Value chains, actors, strategies, use cases, data sources."""

    def to_input(self, data):
        links = self.output_serializer_class.links
        return definitions.DefinitionInput(
            code=data["code"],
            name=data["name"],
            description=data.get("description", ""),
            fields={
                k: v
                for k, v in data.items()
                if k not in links and k not in ("code", "name", "description", "created_at", "updated_at")
            },
            links={k: data[k] for k in links if k in data},
        )

    def service_create(self, client_id, data, user):
        return definitions.definition_create(model=self.model, client_id=client_id, data=data, user=user)

    def service_update(self, obj, data, user):
        return definitions.definition_update(obj=obj, data=data, user=user)

    def service_delete(self, obj, user, request):
        definitions.definition_delete(obj=obj, user=user)


def _descriptive(model_class, serializer_class, name):
    # The same serializer reads and writes: links are codes both ways.
    attrs = {
        "model": model_class,
        "input_serializer_class": serializer_class,
        "output_serializer_class": serializer_class,
    }
    return type(name, (_DescriptiveViewSet,), attrs)


ValueChainViewSet = _descriptive(m.ValueChainPatternDefinition, s.ValueChainSerializer, "ValueChainViewSet")
ActorViewSet = _descriptive(m.ActorDefinition, s.ActorSerializer, "ActorViewSet")
StrategyViewSet = _descriptive(m.AnalyticsStrategyDefinition, s.StrategySerializer, "StrategyViewSet")
UseCaseViewSet = _descriptive(m.AnalyticsUseCaseDefinition, s.UseCaseSerializer, "UseCaseViewSet")
DataSourceViewSet = _descriptive(m.DataSourceDefinition, s.DataSourceSerializer, "DataSourceViewSet")
