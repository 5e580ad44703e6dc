"""Platform-wide database management: staff users only, whatever their client."""

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.warehouse.api.serializers import (
    ApplyResultSerializer,
    MigrationApplyInputSerializer,
    MigrationStatusSerializer,
    PendingSqlListSerializer,
)
from apps.warehouse.migration_manager import AutomatedMigrationManager


class MigrationStatusView(APIView):
    """Applied and pending migrations per app, and whether the database is fit
    for the platform (TimescaleDB, licence, privileges in analytics_data)."""

    permission_classes = [IsAdminUser]

    @extend_schema(responses=MigrationStatusSerializer)
    def get(self, request: Request) -> Response:
        manager = AutomatedMigrationManager()
        status = manager.status()
        body = {
            "timescaledb": asdict(manager.validate_timescaledb()),
            "apps": [{**asdict(app), "applied": app.applied, "pending": app.pending} for app in status.apps],
            "pending": status.pending,
            "conflicts": status.conflicts,
            "unknown_applied": status.unknown_applied,
        }
        return Response(MigrationStatusSerializer(body).data)


class MigrationSqlView(APIView):
    """Offline mode: the SQL of every pending migration, not run."""

    permission_classes = [IsAdminUser]

    @extend_schema(responses=PendingSqlListSerializer)
    def get(self, request: Request) -> Response:
        pending = AutomatedMigrationManager().pending_sql()
        return Response(PendingSqlListSerializer({"migrations": [asdict(p) for p in pending]}).data)


class MigrationApplyView(APIView):
    """Migrate to a target now; answers what ran and `migrate`'s output."""

    permission_classes = [IsAdminUser]

    @extend_schema(request=MigrationApplyInputSerializer, responses=ApplyResultSerializer)
    def post(self, request: Request) -> Response:
        data = MigrationApplyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = AutomatedMigrationManager().apply(
            data.validated_data["target"], allow_backwards=data.validated_data["allow_backwards"]
        )
        return Response(ApplyResultSerializer(asdict(result)).data)
