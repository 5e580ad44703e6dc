"""The Azure Data Lake Storage Gen2 lakehouse: one file system (container) of a
storage account with a hierarchical namespace, optionally under a root folder.

Everything goes through `azure-storage-file-datalake`; every SDK or transport
error leaves this module as LakehouseError. Writes go to a temporary name in
the target folder and are renamed into place, so a reader never sees a
half-uploaded file (a rename is atomic with a hierarchical namespace)."""

import contextlib
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import BinaryIO

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.filedatalake import DataLakeServiceClient, FileSystemClient
from azure.storage.filedatalake._shared.policies import LinearRetry

from apps.core.lakehouse.base import Lakehouse, LakehouseError

TMP_PREFIX = ".tmp-"


def _reason(exc: Exception) -> str:
    # AzureError messages carry the whole HTTP exchange; the first line says it.
    text = str(getattr(exc, "message", None) or exc).strip().splitlines()
    code = getattr(exc, "error_code", None)
    first = text[0] if text else type(exc).__name__
    return f"{first} ({code})" if code and str(code) not in first else first


class AdlsLakehouse(Lakehouse):
    name = "adls"

    def __init__(
        self,
        account_url: str,
        file_system: str,
        credential: str | None = None,
        account_key: str | None = None,
        root: str = "",
        timeout_seconds: float = 10.0,
        retry_total: int = 3,
        retry_backoff_seconds: float = 1.0,
        chunk_size: int = 4 * 1024 * 1024,
        max_concurrency: int = 4,
    ) -> None:
        if not account_url or not file_system:
            raise LakehouseError("The ADLS lakehouse needs an account URL and a file system name.")
        self.account_url = account_url.rstrip("/")
        self.file_system = file_system
        self.root = PurePosixPath(root.strip("/")) if root.strip("/") else None
        self.timeout_seconds = float(timeout_seconds)
        self.chunk_size = int(chunk_size)
        self.max_concurrency = int(max_concurrency)
        if account_key:
            auth = account_key
        elif credential == "default":
            from azure.identity import DefaultAzureCredential  # managed identity, workload identity, az login

            auth = DefaultAzureCredential()
        elif credential:
            raise LakehouseError(f"Unknown ADLS credential {credential!r}: use an account key or 'default'.")
        else:
            raise LakehouseError("The ADLS lakehouse needs an account key or credential='default'.")
        self._service = DataLakeServiceClient(
            self.account_url,
            credential=auth,
            connection_timeout=self.timeout_seconds,
            read_timeout=self.timeout_seconds,
            # Downloads come in chunk_size pieces (the SDK's first GET would
            # otherwise be 32 MiB held in memory).
            max_single_get_size=self.chunk_size,
            max_chunk_get_size=self.chunk_size,
            retry_policy=LinearRetry(
                backoff=retry_backoff_seconds,
                retry_total=int(retry_total),
                random_jitter_range=min(retry_backoff_seconds, 1.0),
            ),
        )
        self._fs: FileSystemClient = self._service.get_file_system_client(file_system)
        self._fs_ready = False

    def __repr__(self) -> str:
        return f"AdlsLakehouse({self.account_url}/{self.file_system}, root={self.root or ''!r})"

    # --- paths ---------------------------------------------------------------

    def _full(self, path: str) -> str:
        relative = PurePosixPath(path)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise LakehouseError(f"Invalid lakehouse path {path!r}: relative, without '..'.")
        return str(self.root / relative if self.root else relative)

    def _relative(self, full: str) -> str:
        return str(PurePosixPath(full).relative_to(self.root)) if self.root else full

    def _where(self, path: str) -> str:
        return f"{self.account_url}/{self.file_system}/{self._full(path)}"

    def _ensure_file_system(self) -> None:
        if self._fs_ready:
            return
        try:
            self._fs.create_file_system()
        except ResourceExistsError:
            pass
        except AzureError as exc:
            raise LakehouseError(f"Could not create file system {self.file_system!r}: {_reason(exc)}") from exc
        self._fs_ready = True

    # --- Lakehouse -----------------------------------------------------------

    def write_data(self, path: str, data: bytes, *, overwrite: bool = True) -> int:
        full = self._full(path)
        self._ensure_file_system()
        if not overwrite and self.exists(path):
            raise LakehouseError(f"{path} already exists.")
        parent = PurePosixPath(full).parent
        tmp = str(parent / f"{TMP_PREFIX}{uuid.uuid4().hex}")
        try:
            staged = self._fs.get_file_client(tmp)
            # upload_data creates the file (and its parent directories), appends
            # in chunk_size pieces and flushes once.
            if not data:
                staged.create_file()  # upload_data sends nothing at all for zero bytes
            staged.upload_data(
                data,
                overwrite=True,
                length=len(data),
                chunk_size=self.chunk_size,
                max_concurrency=self.max_concurrency,
            )
            # Without overwrite, the rename itself refuses an existing target
            # (If-None-Match: *), closing the race after the exists() check.
            kwargs = {} if overwrite else {"match_condition": MatchConditions.IfMissing}
            staged.rename_file(f"{self.file_system}/{full}", **kwargs)
        except ResourceExistsError as exc:
            self._discard(tmp)
            raise LakehouseError(f"{path} already exists.") from exc
        except AzureError as exc:
            self._discard(tmp)
            raise LakehouseError(f"Could not write {self._where(path)}: {_reason(exc)}") from exc
        return len(data)

    def _discard(self, tmp: str) -> None:
        # The write already failed; a stray .tmp- file is skipped by list_paths.
        with contextlib.suppress(AzureError):
            self._fs.get_file_client(tmp).delete_file(retry_total=0)

    def read_data(self, path: str) -> bytes:
        try:
            return (
                self._fs.get_file_client(self._full(path)).download_file(max_concurrency=self.max_concurrency).readall()
            )
        except ResourceNotFoundError as exc:
            raise LakehouseError(f"{self._where(path)} does not exist.") from exc
        except AzureError as exc:
            raise LakehouseError(f"Could not read {self._where(path)}: {_reason(exc)}") from exc

    def open_read(self, path: str) -> BinaryIO:
        """Downloads the file chunk by chunk (chunk_size each) into a spooled
        temporary file: in memory up to two chunks, on disk beyond; rewound."""
        spool = tempfile.SpooledTemporaryFile(max_size=2 * self.chunk_size, mode="w+b")  # noqa: SIM115 - returned open
        try:
            downloader = self._fs.get_file_client(self._full(path)).download_file(max_concurrency=1)
            for chunk in downloader.chunks():
                spool.write(chunk)
        except ResourceNotFoundError as exc:
            spool.close()
            raise LakehouseError(f"{self._where(path)} does not exist.") from exc
        except AzureError as exc:
            spool.close()
            raise LakehouseError(f"Could not read {self._where(path)}: {_reason(exc)}") from exc
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool

    def folder_exists(self, path: str) -> bool:
        properties = self._properties(path)
        return properties is not None and self._is_directory(properties)

    def _properties(self, path: str):
        try:
            return self._fs.get_file_client(self._full(path)).get_file_properties()
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise LakehouseError(f"Could not get properties of {self._where(path)}: {_reason(exc)}") from exc

    @staticmethod
    def _is_directory(properties) -> bool:
        return str((properties.metadata or {}).get("hdi_isfolder", "")).lower() == "true"

    def exists(self, path: str) -> bool:
        properties = self._properties(path)
        return properties is not None and not self._is_directory(properties)

    def size(self, path: str) -> int:
        properties = self._properties(path)
        if properties is None or self._is_directory(properties):
            raise LakehouseError(f"{self._where(path)} does not exist.")
        return int(properties.size)

    def list_paths(self, prefix: str = "") -> Iterator[str]:
        directory = self._full(prefix) if prefix else (str(self.root) if self.root else None)
        try:
            found = [
                self._relative(item.name)
                for item in self._fs.get_paths(path=directory, recursive=True)
                if not item.is_directory and not PurePosixPath(item.name).name.startswith(TMP_PREFIX)
            ]
        except ResourceNotFoundError:
            return iter(())  # no such folder (or file system yet): nothing archived there
        except AzureError as exc:
            raise LakehouseError(
                f"Could not list {self.account_url}/{self.file_system}/{directory or ''}: {_reason(exc)}"
            ) from exc
        return iter(sorted(found))

    def delete(self, path: str) -> None:
        try:
            self._fs.get_file_client(self._full(path)).delete_file()
        except ResourceNotFoundError:
            pass  # like unlink(missing_ok=True) in the local backend
        except AzureError as exc:
            raise LakehouseError(f"Could not delete {self._where(path)}: {_reason(exc)}") from exc

    def health(self, *, timeout_seconds: float | None = None) -> dict:
        """Reads the file system's properties once, without retries, so a probe
        fails fast: the account answers, the key or identity is accepted and the
        file system exists."""
        timeout = timeout_seconds or self.timeout_seconds
        try:
            properties = self._fs.get_file_system_properties(
                retry_total=0, connection_timeout=timeout, read_timeout=timeout
            )
        except ResourceNotFoundError as exc:
            raise LakehouseError(f"File system {self.file_system!r} does not exist at {self.account_url}.") from exc
        except AzureError as exc:
            raise LakehouseError(f"ADLS at {self.account_url} is unavailable: {_reason(exc)}") from exc
        return {
            "status": "ok",
            "backend": self.name,
            "account_url": self.account_url,
            "file_system": self.file_system,
            "last_modified": properties.last_modified.isoformat() if properties.last_modified else None,
        }
