"""Sensitive artifacts of the caller's client (apps/core/artifacts.py): upload
(multipart, field `file`), list, metadata, download, delete. Administrators
only, reads included: an artifact is a credentials file or a report a member
with a lesser role may not see."""

from urllib.parse import quote

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, OpenApiTypes, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from apps.core import artifacts
from apps.core.access import Permission
from apps.core.api.permissions import by_method
from apps.core.api.tenancy import request_client
from apps.core.errors import AppError
from apps.core.models import SensitiveArtifact


class ArtifactSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    created_at = serializers.DateTimeField()


class ArtifactUploadSerializer(serializers.Serializer):
    file = serializers.FileField()


class SensitiveArtifactViewSet(viewsets.GenericViewSet):
    required_permissions = by_method(read=Permission.ADMINISTER, write=Permission.ADMINISTER)
    parser_classes = [MultiPartParser]
    serializer_class = ArtifactSerializer

    @property
    def client_id(self) -> int:
        return request_client(self.request).client_id

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator: no request, no client
            return SensitiveArtifact.objects.none()
        return artifacts.artifact_list(client_id=self.client_id)

    def get_object(self):
        return artifacts.artifact_get(client_id=self.client_id, artifact_id=self.kwargs["pk"])

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ArtifactSerializer(page, many=True).data)

    @extend_schema(request={"multipart/form-data": ArtifactUploadSerializer}, responses={201: ArtifactSerializer})
    def create(self, request):
        """Store a file encrypted. The response describes it; the content is only ever returned by `content`."""
        upload = request.FILES.get("file")
        if upload is None:
            raise AppError("Send the file as multipart form data in the field 'file'.", details={"file": ["Required."]})
        artifact = artifacts.artifact_store(
            client_id=self.client_id,
            name=upload.name,
            content=upload,
            content_type=upload.content_type or "",
            user=request.user,
        )
        return Response(ArtifactSerializer(artifact).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request, pk=None):
        return Response(ArtifactSerializer(self.get_object()).data)

    def destroy(self, request, pk=None):
        artifacts.artifact_delete(artifact=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY)})
    @action(detail=True, methods=["get"])
    def content(self, request, pk=None):
        """The file, decrypted, as an attachment (never cached)."""
        content = artifacts.artifact_content(artifact=self.get_object())
        response = HttpResponse(content.data, content_type=content.content_type)
        response["Content-Disposition"] = _attachment(content.name)
        response["Cache-Control"] = "no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response


def _attachment(name: str) -> str:
    return f"attachment; filename*=UTF-8''{quote(name)}"
