"""Archival services: archive a chunk (`chunk_archive`), restore a range
(`archive_restore`). Split by use case (STYLE.md)."""

from apps.archival.services.archive import (
    ArchivalError,
    ArchivalVerifyError,
    ArchiveResult,
    archive_path,
    chunk_archive,
    job_ensure,
)
from apps.archival.services.restore import RestoreResult, archive_restore

__all__ = [
    "ArchivalError",
    "ArchivalVerifyError",
    "ArchiveResult",
    "RestoreResult",
    "archive_path",
    "archive_restore",
    "chunk_archive",
    "job_ensure",
]
