"""Retention: find chunks wholly older than a policy allows, ask for them to be
archived or drop them, and drop an archived chunk only on a confirmation that
matches it exactly.

- `chunks`: a hypertable's chunks (list, size, count, lock, drop one);
- `manager`: RetentionManager applies the policies and keeps the ledger;
- `confirmations`: what the archival worker's confirmations and failures do;
- `status`: what retention has done, table by table;
- `jobs`: each chunk's way out, for the jobs list.
"""

from apps.warehouse.retention.chunks import chunk_drop, chunk_exists, chunk_row_count, chunks_list
from apps.warehouse.retention.confirmations import archival_confirmation_apply, archival_failure_apply
from apps.warehouse.retention.manager import RetentionManager, RetentionResult
from apps.warehouse.retention.status import retention_status

__all__ = [
    "RetentionManager",
    "RetentionResult",
    "archival_confirmation_apply",
    "archival_failure_apply",
    "chunk_drop",
    "chunk_exists",
    "chunk_row_count",
    "chunks_list",
    "retention_status",
]
