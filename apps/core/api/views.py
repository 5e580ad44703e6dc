from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.auth_serializers import LogoutSerializer, refresh_token_spend
from apps.core.api.serializers import MeSerializer
from apps.core.api.tenancy import CLIENT_HEADER, request_client
from apps.core.selectors import user_clients
from apps.core.services import user_tokens_revoke


class MeView(APIView):
    """The caller, the clients they belong to, and the one this request acts for."""

    # Any signed-in user: it names their own clients and permissions, no client's data.
    permission_classes = (IsAuthenticated,)

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


class LogoutView(APIView):
    """Sign out an API client: its refresh token goes on the deny list; with
    `"all": true`, every token of the user is revoked (all devices) and their
    sockets close. Authenticated by the refresh token itself, so a client whose
    access token expired can still sign out."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'  # a refused token is a 401 with a challenge, as on /auth/token/refresh/

    @extend_schema(request=LogoutSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        serializer = LogoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data["all"]:
            user_tokens_revoke(user_id=data["user"].pk)
        else:
            refresh_token_spend(data["token"], data["user"])
        return Response(status=status.HTTP_204_NO_CONTENT)
