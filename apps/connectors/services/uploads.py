"""Files uploaded to a file connection (docs/sources.md, "Files"): stored in
Django's default storage under `sources/<client id>/<connection code>/`,
one name per file (a new upload of the same name replaces it)."""

from dataclasses import dataclass

from django.conf import settings
from django.core.files.storage import default_storage

from apps.connectors.adapters.files import upload_folder, upload_name_clean
from apps.connectors.models import ConnectionProfile
from apps.core.errors import AppError, NotFound


@dataclass(frozen=True)
class UploadedFile:
    name: str
    size: int


def connection_file_store(*, client_id: int, code: str, upload) -> UploadedFile:
    """Store `upload` (a Django UploadedFile) for the client's file
    connection `code`: 404 for another client's or no connection; 400 when
    the connection does not read uploaded files, the extension is not .csv, .xlsx or
    .parquet, the file is empty or larger than SOURCES_UPLOAD_MAX_BYTES."""
    profile = ConnectionProfile.objects.filter(client_id=client_id, code=code).only("kind", "settings").first()
    if profile is None:
        raise NotFound(f"No connection {code!r}.")
    if profile.kind != ConnectionProfile.Kind.FILE:
        raise AppError(f"Connection {code!r} is a {profile.kind} connection; files go to a file connection.",
                       code="not_a_file_connection")  # fmt: skip
    if (profile.settings or {}).get("location") == "lake":
        raise AppError(f"Connection {code!r} reads its files from a lakehouse folder (settings.location \"lake\"): "
                       "put the files in that folder, or upload to a connection with location \"upload\".",
                       code="not_an_upload_connection")  # fmt: skip
    name = upload_name_clean(upload.name)
    limit = settings.SOURCES_UPLOAD_MAX_BYTES
    if upload.size > limit:
        raise AppError(
            f"{name} is {upload.size} bytes; files may be at most {limit} bytes (SOURCES_UPLOAD_MAX_BYTES).",
            code="file_too_large",
            details={"size": upload.size, "max_bytes": limit},
        )
    if not upload.size:
        raise AppError(f"{name} is empty.", code="invalid_file")
    path = upload_folder(client_id, code) + name
    if default_storage.exists(path):
        default_storage.delete(path)
    saved = default_storage.save(path, upload)
    return UploadedFile(name=saved.rsplit("/", 1)[-1], size=upload.size)
