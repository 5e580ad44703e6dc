"""`/api/v1/sources/jobs/` (API.md, "Sources and ingestion"; docs/sources.md):
a client's ingestion jobs, running one now (or dry), and its run history.
Permission manage_sources for reads and writes; another client's job is 404."""

from dataclasses import asdict

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.access import Permission
from apps.core.api.pagination import StandardPagination
from apps.core.api.permissions import by_method
from apps.core.api.tenancy import request_client
from apps.core.errors import AppError
from apps.ingestion.api import serializers as s
from apps.ingestion.selectors.jobs import job_get, job_runs, jobs_list, run_get
from apps.ingestion.services.jobs import job_create, job_delete, job_update
from apps.ingestion.services.runs import job_dry_run, job_run_request

CODE = OpenApiParameter("code", OpenApiTypes.STR, OpenApiParameter.PATH, description="the job's code")
RUN_ID = OpenApiParameter("run_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="the run's id")
DRY_RUN = OpenApiParameter(
    "dry_run", OpenApiTypes.INT, OpenApiParameter.QUERY, required=False,
    description="read, map and validate this many source rows, writing nothing (answers 200 with the dry run)",
)  # fmt: skip


def _client_id(request: Request) -> int:
    return request_client(request).client_id


@extend_schema_view(
    list=extend_schema(operation_id="ingestion_jobs_list", responses=s.IngestionJobOutputSerializer(many=True)),
    create=extend_schema(
        operation_id="ingestion_jobs_create",
        request=s.IngestionJobSerializer,
        responses={201: s.IngestionJobOutputSerializer},
    ),
    retrieve=extend_schema(
        operation_id="ingestion_jobs_retrieve", parameters=[CODE], responses=s.IngestionJobOutputSerializer
    ),
    update=extend_schema(
        operation_id="ingestion_jobs_update",
        parameters=[CODE],
        request=s.IngestionJobSerializer,
        responses=s.IngestionJobOutputSerializer,
    ),
    partial_update=extend_schema(
        operation_id="ingestion_jobs_partial_update",
        parameters=[CODE],
        request=s.IngestionJobSerializer,
        responses=s.IngestionJobOutputSerializer,
    ),
    destroy=extend_schema(operation_id="ingestion_jobs_destroy", parameters=[CODE], responses={204: None}),
)
class JobViewSet(viewsets.ViewSet):
    required_permissions = by_method(read=Permission.MANAGE_SOURCES, write=Permission.MANAGE_SOURCES)
    serializer_class = s.IngestionJobSerializer
    lookup_field = "code"
    lookup_value_regex = "[^/]+"

    def list(self, request: Request) -> Response:
        paginator = StandardPagination()
        page = paginator.paginate_queryset(jobs_list(client_id=_client_id(request)), request, view=self)
        return paginator.get_paginated_response(
            s.IngestionJobOutputSerializer([asdict(j) for j in page], many=True).data
        )

    def create(self, request: Request) -> Response:
        serializer = s.IngestionJobSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = job_create(client_id=_client_id(request), user=request.user, fields=dict(serializer.validated_data))
        return Response(s.IngestionJobOutputSerializer(asdict(job)).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request: Request, code: str) -> Response:
        return Response(s.IngestionJobOutputSerializer(asdict(job_get(client_id=_client_id(request), code=code))).data)

    def update(self, request: Request, code: str) -> Response:
        return self._change(request, code, partial=False)

    def partial_update(self, request: Request, code: str) -> Response:
        return self._change(request, code, partial=True)

    def _change(self, request: Request, code: str, *, partial: bool) -> Response:
        client_id = _client_id(request)
        job_get(client_id=client_id, code=code)  # 404 before validating the body
        data = dict(request.data) if hasattr(request.data, "keys") else request.data
        if isinstance(data, dict):
            data.setdefault("code", code)
        serializer = s.IngestionJobSerializer(data=data, partial=partial)
        serializer.is_valid(raise_exception=True)
        job = job_update(client_id=client_id, code=code, fields=dict(serializer.validated_data), partial=partial)
        return Response(s.IngestionJobOutputSerializer(asdict(job)).data)

    def destroy(self, request: Request, code: str) -> Response:
        job_delete(client_id=_client_id(request), code=code)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        operation_id="ingestion_jobs_run", parameters=[CODE, DRY_RUN], request=None,
        responses={202: s.IngestionRunSerializer, 200: s.IngestionDryRunSerializer},
        description="Queue a run (202). 409 `job_running` while a run is queued or running; 409 `job_draft` for a "
        "draft job (its mapping_problems in the details). A dry run of a mapping that does not hold is a 400.",
    )  # fmt: skip
    @action(detail=True, methods=["post"], url_path="run")
    def run(self, request: Request, code: str) -> Response:
        client_id = _client_id(request)
        dry = request.query_params.get("dry_run")
        if dry is not None:
            if not dry.strip().isdigit():
                raise AppError("dry_run is a number of rows, e.g. ?dry_run=100.", code="invalid_limit",
                               details={"dry_run": dry})  # fmt: skip
            result = job_dry_run(client_id=client_id, code=code, limit=int(dry), user=request.user)
            return Response(s.IngestionDryRunSerializer(asdict(result)).data)
        run = job_run_request(client_id=client_id, code=code, user=request.user)
        return Response(s.IngestionRunSerializer(asdict(run)).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="ingestion_job_runs_list", parameters=[CODE], responses=s.IngestionRunSerializer(many=True)
    )
    @action(detail=True, methods=["get"], url_path="runs")
    def runs(self, request: Request, code: str) -> Response:
        paginator = StandardPagination()
        page = paginator.paginate_queryset(job_runs(client_id=_client_id(request), code=code), request, view=self)
        return paginator.get_paginated_response(s.IngestionRunSerializer([asdict(r) for r in page], many=True).data)

    @extend_schema(
        operation_id="ingestion_job_runs_retrieve", parameters=[CODE, RUN_ID], responses=s.IngestionRunSerializer
    )
    @action(detail=True, methods=["get"], url_path=r"runs/(?P<run_id>\d+)")
    def run_detail(self, request: Request, code: str, run_id: str) -> Response:
        run = run_get(client_id=_client_id(request), code=code, run_id=int(run_id))
        return Response(s.IngestionRunSerializer(asdict(run)).data)
