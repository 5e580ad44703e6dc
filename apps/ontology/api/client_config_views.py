"""`/api/v1/client-config`: the caller's client's configuration
(docs/client-config.md). Any member reads; administrators change it."""

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.access import Permission
from apps.core.api.permissions import by_method
from apps.core.api.tenancy import request_client
from apps.ontology.api.client_config_serializers import ClientConfigInputSerializer, ClientConfigSerializer
from apps.ontology.selectors.client_config import client_config_get
from apps.ontology.services.client_config import client_config_update
from apps.ontology.types.client_config import ClientConfigView


def _render(config: ClientConfigView) -> Response:
    data = asdict(config)
    data["inactive_kpis"] = [{**asdict(kpi), "message": kpi.message} for kpi in config.inactive_kpis]
    return Response(ClientConfigSerializer(data).data)


class ClientConfigAPIView(APIView):
    required_permissions = by_method(read=Permission.VIEW_METRICS, write=Permission.ADMINISTER)

    @extend_schema(responses=ClientConfigSerializer, operation_id="client_config_retrieve")
    def get(self, request: Request) -> Response:
        return _render(client_config_get(client_id=request_client(request).client_id))

    @extend_schema(
        request=ClientConfigInputSerializer, responses=ClientConfigSerializer, operation_id="client_config_update"
    )
    def patch(self, request: Request) -> Response:
        serializer = ClientConfigInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        config = client_config_update(client_id=request_client(request).client_id, **serializer.validated_data)
        return _render(config)
