"""Prometheus metrics of the archival worker (process-wide, default registry;
exposed by the platform's /metrics)."""

from prometheus_client import Counter, Histogram

ARCHIVAL_CHUNKS = Counter(
    "ae_archival_chunks_total",
    "Chunks handled by the archival worker, by outcome: archived (written and verified), "
    "reconfirmed (already archived, confirmation sent again), failed (an attempt failed).",
    ["outcome"],
)
ARCHIVAL_ROWS = Counter("ae_archival_rows_total", "Rows written to the lakehouse and verified.")
ARCHIVAL_BYTES = Counter("ae_archival_bytes_total", "Parquet bytes written to the lakehouse.")
ARCHIVAL_FAILURES = Counter("ae_archival_failures_total", "Failed archival attempts (each one, retried or not).")
ARCHIVAL_DURATION = Histogram(
    "ae_archival_duration_seconds",
    "Time to archive one chunk: extract, write, verify and confirm.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
