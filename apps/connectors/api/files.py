"""`POST /api/v1/sources/connections/<code>/files` (docs/sources.md,
"Files"): upload a CSV, Excel or Parquet file to a file connection
(multipart, field `file`)."""

from dataclasses import asdict

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.connectors.services import uploads
from apps.core.access import Permission
from apps.core.api.permissions import by_method
from apps.core.api.tenancy import request_client
from apps.core.errors import AppError


class FileUploadSerializer(serializers.Serializer):
    file = serializers.FileField()


class UploadedFileSerializer(serializers.Serializer):
    name = serializers.CharField()
    size = serializers.IntegerField()


CODE = OpenApiParameter("code", OpenApiTypes.STR, OpenApiParameter.PATH, description="the connection's code")


class ConnectionFilesView(APIView):
    required_permissions = by_method(read=Permission.MANAGE_SOURCES, write=Permission.MANAGE_SOURCES)
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="sources_connection_files_upload",
        parameters=[CODE],
        request={"multipart/form-data": FileUploadSerializer},
        responses={201: UploadedFileSerializer},
    )
    def post(self, request: Request, code: str) -> Response:
        """Store a file of a file connection; a file of the same name is replaced."""
        upload = request.FILES.get("file")
        if upload is None:
            raise AppError("Send the file as multipart form data in the field 'file'.", details={"file": ["Required."]})
        stored = uploads.connection_file_store(client_id=request_client(request).client_id, code=code, upload=upload)
        return Response(UploadedFileSerializer(asdict(stored)).data, status=status.HTTP_201_CREATED)
