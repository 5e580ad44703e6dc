"""What retention has done, table by table."""

from django.conf import settings
from django.utils import timezone

from apps.core.errors import NotFound
from apps.warehouse.models import ChunkArchival, RetentionPolicy
from apps.warehouse.retention.chunks import chunk_row_count, chunk_sizes, chunks_list, hypertables_list
from apps.warehouse.retention.jobs import retention_jobs_summary


def retention_status(*, table_schema: str = settings.ANALYTICS_SCHEMA, table_name: str | None = None) -> list[dict]:
    """Per hypertable of the schema: its policy, its chunks (range, bytes, exact
    row count, archival state from the ledger) and the chunks already dropped."""
    tables = hypertables_list(table_schema=table_schema)
    if table_name is not None:
        if table_name not in tables:
            raise NotFound(f"{table_schema}.{table_name} is not a hypertable.", details={"table_name": table_name})
        tables = [table_name]
    policies = {p.table_name: p for p in RetentionPolicy.objects.filter(table_schema=table_schema)}
    ledger: dict[str, dict[tuple[str, str], ChunkArchival]] = {}
    for entry in ChunkArchival.objects.filter(table_schema=table_schema, table_name__in=tables):
        ledger.setdefault(entry.table_name, {})[(entry.chunk_schema, entry.chunk_name)] = entry
    summary = retention_jobs_summary(table_schema=table_schema, table_names=tables)
    body = []
    for table in tables:
        sizes = chunk_sizes(table_schema=table_schema, table_name=table)
        entries = ledger.get(table, {})
        chunks = []
        for chunk in chunks_list(table_schema=table_schema, table_name=table):
            key = (chunk.chunk_schema, chunk.chunk_name)
            entry = entries.pop(key, None)
            chunks.append(
                {
                    "chunk_schema": chunk.chunk_schema,
                    "chunk_name": chunk.chunk_name,
                    "range_start": chunk.range_start,
                    "range_end": chunk.range_end,
                    "total_bytes": sizes.get(key, 0),
                    "row_count": chunk_row_count(chunk_schema=chunk.chunk_schema, chunk_name=chunk.chunk_name),
                    "archival": _ledger_dict(entry) if entry else None,
                }
            )
        gone = sorted(entries.values(), key=lambda e: e.range_start)
        policy = policies.get(table)
        body.append(
            {
                "table_schema": table_schema,
                "table_name": table,
                "policy": None
                if policy is None
                else {
                    "id": policy.pk,
                    "keep_for": policy.keep_for,
                    "action": policy.action,
                    "lakehouse_target": policy.lakehouse_target,
                    "active": policy.active,
                    "cutoff": timezone.now() - policy.keep_for,
                },
                "chunks": chunks,
                "removed_chunks": [
                    {
                        "chunk_schema": e.chunk_schema,
                        "chunk_name": e.chunk_name,
                        "range_start": e.range_start,
                        "range_end": e.range_end,
                        "archival": _ledger_dict(e),
                    }
                    for e in gone
                ],
                "states": summary[table]["states"],
                "failed_chunks": summary[table]["failed_chunks"],
            }
        )
    return body


def _ledger_dict(entry: ChunkArchival) -> dict:
    return {
        "status": entry.status,
        "event_id": entry.event_id,
        "expected_row_count": entry.expected_row_count,
        "verified_row_count": entry.verified_row_count,
        "files": entry.files,
        "error": entry.error,
        "requested_at": entry.requested_at,
        "confirmed_at": entry.confirmed_at,
        "dropped_at": entry.dropped_at,
    }
