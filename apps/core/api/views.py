from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.serializers import MeSerializer
from apps.core.api.tenancy import CLIENT_HEADER, request_client
from apps.core.selectors import user_clients


class MeView(APIView):
    """The caller, the clients they belong to, and the one this request acts for."""

    @extend_schema(
        responses=MeSerializer,
        parameters=[OpenApiParameter(CLIENT_HEADER, location=OpenApiParameter.HEADER, required=False)],
    )
    def get(self, request: Request) -> Response:
        user = request.user
        data = {
            "username": user.get_username(),
            "email": user.email,
            "is_staff": user.is_staff,
            "client": request_client(request).__dict__,
            "clients": [c.__dict__ for c in user_clients(user=user)],
        }
        return Response(MeSerializer(data).data)
