import platform

import django
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.errors import DEFAULT_RETRY_AFTER_SECONDS
from apps.observability.selectors import health_report, worker_roundtrip


class SystemHealthView(APIView):
    """Every platform component's health, for signed-in users and the console.
    `?deep=1` also sends a task through a worker and waits for its answer."""

    # Any signed-in user: the platform's health, no client's data.
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        responses=inline_serializer(
            "SystemHealth",
            {
                "status": serializers.CharField(),
                "checks": serializers.DictField(),
                "failed": serializers.ListField(child=serializers.CharField(), required=False),
                "runtime": serializers.DictField(),
            },
        )
    )
    def get(self, request: Request) -> Response:
        report = health_report()
        body = report.as_dict()
        body["runtime"] = {"python": platform.python_version(), "django": django.get_version()}
        ok = report.ok
        if request.query_params.get("deep") in ("1", "true"):
            roundtrip = worker_roundtrip(timeout=10)
            body["checks"]["worker_roundtrip"] = roundtrip
            if roundtrip["status"] != "ok":
                ok = False
                body["status"] = "error"
                body.setdefault("failed", []).append("worker_roundtrip")
        if ok:
            return Response(body)
        return Response(body, status=503, headers={"Retry-After": str(DEFAULT_RETRY_AFTER_SECONDS)})
