"""Simulation API: start a run of a scenario, follow it, list runs; list the
scenarios and their parameters. Scoped to the caller's client (another
client's run answers 404); any member reads, admins and analysts start runs."""

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.access import Permission
from apps.core.api.permissions import by_method
from apps.core.api.tenancy import request_client
from apps.simulation import selectors, services
from apps.simulation.api import serializers as s
from apps.simulation.generators import SCENARIOS


class SimulationRunViewSet(viewsets.GenericViewSet):
    # A run writes generated rows into the client's entities: loading data.
    required_permissions = by_method(read=Permission.VIEW_METRICS, write=Permission.LOAD_DATA)
    serializer_class = s.RunSerializer
    lookup_value_regex = r"\d+"

    @property
    def client_id(self) -> int:
        return request_client(self.request).client_id

    def get_queryset(self):
        return selectors.run_list(client_id=self.client_id)

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.RunSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk=None) -> Response:
        run = selectors.run_get(client_id=self.client_id, run_id=int(pk))
        return Response(s.RunSerializer(run).data)

    @extend_schema(request=s.RunInputSerializer, responses={202: s.RunSerializer})
    def create(self, request: Request) -> Response:
        """Queue a run; follow it at its URL or on its WebSocket `channel`."""
        serializer = s.RunInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = services.run_start(client_id=self.client_id, user=request.user, **serializer.validated_data)
        return Response(s.RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class ScenarioViewSet(viewsets.ViewSet):
    required_permissions = by_method(read=Permission.VIEW_METRICS)

    @extend_schema(responses=s.ScenarioSerializer(many=True))
    def list(self, request: Request) -> Response:
        scenarios = [
            {
                "code": code,
                "name": scenario.name,
                "description": scenario.description,
                "params_schema": scenario.Params.model_json_schema(),
            }
            for code, scenario in SCENARIOS.items()
        ]
        return Response(s.ScenarioSerializer(scenarios, many=True).data)
