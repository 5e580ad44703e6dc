"""Webhook subscriptions of the caller's client: subscribe, list, change,
unsubscribe, and each subscription's delivery log. Members read; only the
client's administrators write (a subscription sends the client's events out)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.access import Permission
from apps.core.api.permissions import by_method
from apps.core.api.tenancy import request_client
from apps.core.errors import AppError
from apps.messaging import webhooks
from apps.messaging.api import subscription_serializers as s


class SubscriptionViewSet(viewsets.GenericViewSet):
    required_permissions = by_method(read=Permission.VIEW_METRICS, write=Permission.ADMINISTER)
    lookup_value_regex = "[^/]+"
    serializer_class = s.SubscriptionOutputSerializer

    @property
    def client_id(self) -> int:
        return request_client(self.request).client_id

    def get_queryset(self):
        return webhooks.subscription_list(client_id=self.client_id)

    def get_object(self):
        return webhooks.subscription_get(client_id=self.client_id, subscription_id=self.kwargs["pk"])

    def _validated(self, serializer_class) -> dict:
        if not isinstance(self.request.data, dict):
            raise AppError("The body must be a JSON object.", code="invalid")
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.SubscriptionOutputSerializer(page, many=True).data)

    @extend_schema(request=s.SubscriptionInputSerializer, responses={201: s.SubscriptionCreatedSerializer})
    def create(self, request):
        """Subscribe. The response carries the secret, once."""
        created = webhooks.subscription_create(
            client_id=self.client_id, user=request.user, **self._validated(s.SubscriptionInputSerializer)
        )
        body = {**s.SubscriptionOutputSerializer(created.subscription).data, "secret": created.secret}
        return Response(body, status=status.HTTP_201_CREATED)

    def retrieve(self, request, pk=None):
        return Response(s.SubscriptionOutputSerializer(self.get_object()).data)

    @extend_schema(request=s.SubscriptionUpdateSerializer, responses=s.SubscriptionOutputSerializer)
    def partial_update(self, request, pk=None):
        """Change the pattern, URL, secret, description, or pause/resume with `active`."""
        subscription = self.get_object()
        changes = self._validated(s.SubscriptionUpdateSerializer)
        subscription = webhooks.subscription_update(subscription=subscription, **changes)
        return Response(s.SubscriptionOutputSerializer(subscription).data)

    def destroy(self, request, pk=None):
        """Unsubscribe."""
        webhooks.subscription_delete(subscription=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=["pending", "delivered", "failed"])],
        responses=s.WebhookDeliverySerializer(many=True),
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        """The subscription's deliveries, newest first: attempts, outcome, last error."""
        deliveries = webhooks.webhook_delivery_list(
            subscription=self.get_object(), status=request.query_params.get("status") or None
        )
        page = self.paginate_queryset(deliveries)
        return self.get_paginated_response(s.WebhookDeliverySerializer(page, many=True).data)
