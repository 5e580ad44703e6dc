"""The event bus API: publish events and commands for the caller's client,
and inspect, replay or discard its dead letters. Client admins write; any
member of the client reads its dead letters."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.access import Permission
from apps.core.api.permissions import by_method
from apps.core.api.tenancy import request_client
from apps.core.errors import AppError, NotFound
from apps.messaging.api.serializers import (
    CommandPublishInputSerializer,
    DeadLetterSerializer,
    EventPublishInputSerializer,
    PublishedSerializer,
)
from apps.messaging.models import DeadLetter
from apps.messaging.selectors import dead_letter_get, dead_letter_list
from apps.messaging.services import command_publish, dead_letter_discard, dead_letter_replay, event_publish
from apps.messaging.types import Envelope

PUBLISH_ERRORS = {
    400: OpenApiResponse(description="Invalid topic or type, reserved topic, payload not matching its schema."),
    403: OpenApiResponse(description="Only the client's administrators may publish."),
    413: OpenApiResponse(description="The event is over MESSAGING_MAX_PAYLOAD_BYTES."),
    503: OpenApiResponse(description="The event bus (Redis) is unreachable; nothing was published."),
}


def _published(envelope: Envelope) -> Response:
    body = {
        "event_id": envelope.event_id,
        "topic": envelope.topic,
        "type": envelope.type,
        "correlation_id": envelope.correlation_id,
    }
    return Response(PublishedSerializer(body).data, status=status.HTTP_202_ACCEPTED)


class EventPublishView(APIView):
    """Publish an event on a topic, as the caller's client (its tenant)."""

    required_permissions = by_method(write=Permission.ADMINISTER)

    @extend_schema(
        operation_id="messaging_event_publish",
        request=EventPublishInputSerializer,
        responses={202: PublishedSerializer, **PUBLISH_ERRORS},
    )
    def post(self, request: Request) -> Response:
        data = EventPublishInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        envelope = event_publish(
            client_code=request_client(request).code,
            topic=values["topic"],
            event_type=values["type"],
            payload=values["payload"],
            version=values["version"],
            metadata=values["metadata"],
            user=request.user,
        )
        return _published(envelope)


class CommandPublishView(APIView):
    """Publish a command (`commands.<type>`), handled by exactly one consumer group."""

    required_permissions = by_method(write=Permission.ADMINISTER)

    @extend_schema(
        operation_id="messaging_command_publish",
        request=CommandPublishInputSerializer,
        responses={202: PublishedSerializer, **PUBLISH_ERRORS},
    )
    def post(self, request: Request, command_type: str) -> Response:
        data = CommandPublishInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        envelope = command_publish(
            client_code=request_client(request).code,
            command_type=command_type,
            payload=values["payload"],
            version=values["version"],
            metadata=values["metadata"],
            user=request.user,
        )
        return _published(envelope)


class DeadLetterViewSet(viewsets.GenericViewSet):
    """The caller's client's parked messages: list, read, replay, discard."""

    serializer_class = DeadLetterSerializer
    lookup_value_regex = "[^/]+"

    # Any member reads the client's dead letters; replay and discard (POST) administer.
    required_permissions = by_method(read=Permission.VIEW_METRICS, write=Permission.ADMINISTER)

    @property
    def client_id(self) -> int:
        return request_client(self.request).client_id

    def get_object(self) -> DeadLetter:
        raw = self.kwargs["pk"]
        if not raw.isdigit():
            raise NotFound(f"No dead letter {raw!r} in this client.")
        return dead_letter_get(client_id=self.client_id, dead_letter_id=int(raw))

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=DeadLetter.Status.values),
            OpenApiParameter("kind", str, enum=DeadLetter.Kind.values),
            OpenApiParameter("topic", str),
        ]
    )
    def list(self, request: Request) -> Response:
        filters = {}
        for name, choices in (("status", DeadLetter.Status.values), ("kind", DeadLetter.Kind.values)):
            value = request.query_params.get(name)
            if value and value not in choices:
                raise AppError(
                    f"Unknown {name} {value!r}; use one of {', '.join(choices)}.",
                    code="invalid_filter",
                    details={name: choices},
                )
            filters[name] = value
        queryset = dead_letter_list(client_id=self.client_id, topic=request.query_params.get("topic"), **filters)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(DeadLetterSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response(DeadLetterSerializer(self.get_object()).data)

    @extend_schema(request=None, responses={200: DeadLetterSerializer, 409: OpenApiResponse(description="Not parked")})
    @action(detail=True, methods=["post"])
    def replay(self, request: Request, pk: str | None = None) -> Response:
        """Apply the message again (handler kind: in its consumer group only, exactly once;
        webhook kind: deliver it again)."""
        dead_letter = dead_letter_replay(dead_letter=self.get_object(), user=request.user)
        return Response(DeadLetterSerializer(dead_letter).data)

    @extend_schema(request=None, responses={200: DeadLetterSerializer, 409: OpenApiResponse(description="Replayed")})
    @action(detail=True, methods=["post"])
    def discard(self, request: Request, pk: str | None = None) -> Response:
        """Give up on the message; it stays listed as discarded."""
        dead_letter = dead_letter_discard(dead_letter=self.get_object(), user=request.user)
        return Response(DeadLetterSerializer(dead_letter).data)
