"""Threshold rules API: list, create, read, change, delete, and each rule's
alerts. Scoped to the caller's client (another client's rule answers 404);
any member reads, only the client's administrators change (a rule sends data
to an outside URL, like a webhook subscription)."""

from datetime import timedelta

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.calculations.api import threshold_serializers as s
from apps.calculations.thresholds.selectors import threshold_alert_list, threshold_rule_get, threshold_rule_list
from apps.calculations.thresholds.services import threshold_rule_create, threshold_rule_delete, threshold_rule_update
from apps.core.access import Permission
from apps.core.api.permissions import by_method
from apps.core.api.tenancy import request_client


def _service_fields(data: dict) -> dict:
    data = dict(data)
    if "cooldown_seconds" in data:
        data["cooldown"] = timedelta(seconds=data.pop("cooldown_seconds"))
    return data


class ThresholdRuleViewSet(viewsets.GenericViewSet):
    required_permissions = by_method(read=Permission.VIEW_METRICS, write=Permission.ADMINISTER)
    serializer_class = s.ThresholdRuleSerializer
    lookup_value_regex = r"[^/]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @property
    def client_id(self) -> int:
        return request_client(self.request).client_id

    def get_queryset(self):
        return threshold_rule_list(client_id=self.client_id, metric=self.request.query_params.get("metric"))

    def get_object(self):
        return threshold_rule_get(client_id=self.client_id, rule_id=self.kwargs["pk"])

    def _valid(self, serializer_class, data) -> dict:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return _service_fields(serializer.validated_data)

    def list(self, request: Request) -> Response:
        """`?metric=` narrows to one metric."""
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.ThresholdRuleSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk=None) -> Response:
        return Response(s.ThresholdRuleSerializer(self.get_object()).data)

    @extend_schema(request=s.ThresholdRuleInputSerializer, responses={201: s.ThresholdRuleSerializer})
    def create(self, request: Request) -> Response:
        rule = threshold_rule_create(
            client_id=self.client_id, user=request.user, **self._valid(s.ThresholdRuleInputSerializer, request.data)
        )
        return Response(s.ThresholdRuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ThresholdRuleChangeSerializer, responses=s.ThresholdRuleSerializer)
    def partial_update(self, request: Request, pk=None) -> Response:
        rule = threshold_rule_update(
            rule=self.get_object(), **self._valid(s.ThresholdRuleChangeSerializer, request.data)
        )
        return Response(s.ThresholdRuleSerializer(rule).data)

    def destroy(self, request: Request, pk=None) -> Response:
        threshold_rule_delete(rule=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=s.ThresholdAlertSerializer(many=True))
    @action(detail=True, methods=["get"])
    def alerts(self, request: Request, pk=None) -> Response:
        """The rule's firings, newest first, and how sending each went."""
        page = self.paginate_queryset(threshold_alert_list(rule=self.get_object()))
        return self.get_paginated_response(s.ThresholdAlertSerializer(page, many=True).data)
