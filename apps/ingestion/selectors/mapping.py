"""A job's mapping checked as it is edited (docs/sources.md, "The Data Mapper
page"): the mapping the page holds, validated against the job's entity and a
sample of its source rows. Reads only: nothing is saved."""

from typing import Any

from apps.connectors.selectors.connections import connection_preview
from apps.core.errors import AppError
from apps.ingestion.mapping import mapping_validate
from apps.ingestion.selectors.jobs import job_model, job_view
from apps.ingestion.services.jobs import job_entity, source_columns
from apps.ingestion.types import MappingCheck

SAMPLE_ROWS = 100


def job_mapping_check(*, client_id: int, code: str, mapping: Any = None, sample: int = SAMPLE_ROWS) -> MappingCheck:
    """`mapping` (the job's saved one when None) checked by `mapping_validate`
    over the first `sample` source rows (connection_preview). A source that
    cannot be read leaves the check without a sample and says why; the job
    or its entity missing is a NotFound / AppError as for the API."""
    job = job_model(client_id=client_id, code=code)
    entity = job_entity(client_id, job.entity_code)
    mapping = job.mapping if mapping is None else mapping
    discovered = source_columns(job)
    records: list[dict] = []
    sample_error = ""
    preview_columns: tuple = ()
    if sample:
        try:
            preview = connection_preview(
                client_id=client_id,
                code=job.connection.code,
                source_object=job.source_object,
                source_query=job.source_query,
                limit=sample,
            )
            records, preview_columns = list(preview.rows), tuple(preview.columns)
        except AppError as exc:
            sample_error = exc.message
    columns = tuple(discovered) if discovered is not None else preview_columns
    report = mapping_validate(
        entity=entity,
        mapping=mapping,
        source_columns=list(columns) if (discovered is not None or preview_columns) else None,
        sample_records=records,
    )
    return MappingCheck(
        job=job_view(job),
        entity=entity,
        source_columns=columns,
        columns_discovered=discovered is not None,
        report=report,
        sample_size=len(records),
        sample_error=sample_error,
    )
