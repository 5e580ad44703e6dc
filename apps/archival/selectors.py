"""Reads of the archival worker's job records. `chunk_jobs_list` is registered
with the warehouse (apps.warehouse.services.hooks) from ArchivalConfig.ready(), so the
retention API shows each chunk's attempts and last error."""

from apps.archival.models import ArchivalJob
from apps.warehouse.services.hooks import on_chunk_jobs
from apps.warehouse.types import ChunkJob


@on_chunk_jobs
def chunk_jobs_list(table_schema: str, table_names: list[str] | None) -> list[ChunkJob]:
    jobs = ArchivalJob.objects.filter(table_schema=table_schema)
    if table_names is not None:
        jobs = jobs.filter(table_name__in=table_names)
    fields = ("event_id", "chunk_schema", "chunk_name", "status", "attempts", "error", "updated_at")
    return [
        ChunkJob(
            event_id=str(event_id),
            chunk_schema=chunk_schema,
            chunk_name=chunk_name,
            status=status,
            attempts=attempts,
            error=error,
            updated_at=updated_at,
        )
        for event_id, chunk_schema, chunk_name, status, attempts, error, updated_at in jobs.values_list(*fields)
    ]
