from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.access import Permission
from apps.core.api.permissions import by_method
from apps.core.api.tenancy import request_client
from apps.ontology.api.drift_serializers import DriftReportSerializer, DriftRunInputSerializer
from apps.ontology.queries import drift_report_get, drift_report_list
from apps.ontology.services.drift import schema_drift_check


class DriftReportListView(generics.ListAPIView):
    """The client's schema drift reports, newest first; POST runs the checker
    now (administrators only) and answers with its report."""

    serializer_class = DriftReportSerializer

    # Running the checker may repair tables (`repair: true`): administrators.
    required_permissions = by_method(read=Permission.VIEW_METRICS, write=Permission.ADMINISTER)
    permission_denied_messages = {Permission.ADMINISTER: "Only the client's administrators may run the checker"}

    def get_queryset(self):
        return drift_report_list(client_id=request_client(self.request).client_id)

    @extend_schema(request=DriftRunInputSerializer, responses={201: DriftReportSerializer})
    def post(self, request: Request) -> Response:
        data = DriftRunInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = schema_drift_check(
            client_id=request_client(request).client_id, repair=data.validated_data["repair"], triggered_by="api"
        )
        return Response(DriftReportSerializer(report).data, status=status.HTTP_201_CREATED)


class DriftReportDetailView(generics.RetrieveAPIView):
    serializer_class = DriftReportSerializer
    required_permissions = by_method(read=Permission.VIEW_METRICS)

    def get_object(self):
        return drift_report_get(client_id=request_client(self.request).client_id, report_id=int(self.kwargs["pk"]))
