from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import BinaryIO

from django.conf import settings
from django.utils.module_loading import import_string


class LakehouseError(Exception):
    """The lakehouse could not do what was asked (unreachable, refused, missing)."""


class Lakehouse(ABC):
    """One storage account / root folder. Every method raises LakehouseError
    on failure, never a backend-specific exception."""

    name: str = "lakehouse"

    @abstractmethod
    def write_data(self, path: str, data: bytes, *, overwrite: bool = True) -> int:
        """Store `data` at `path` (parents created), atomically where the
        backend allows; returns the bytes written."""

    @abstractmethod
    def read_data(self, path: str) -> bytes:
        """The whole file in memory: for files known to be small."""

    @abstractmethod
    def open_read(self, path: str) -> BinaryIO:
        """The file as a binary, seekable file object to use in a `with`
        block, never read whole into memory: a file of this machine, or a
        remote file downloaded chunk by chunk into a spooled temporary file
        (memory up to a few chunks, then disk). LakehouseError when it does
        not exist or cannot be read."""

    @abstractmethod
    def exists(self, path: str) -> bool: ...

    @abstractmethod
    def size(self, path: str) -> int: ...

    @abstractmethod
    def list_paths(self, prefix: str = "") -> Iterator[str]:
        """Files (not directories) under `prefix`, recursively, sorted."""

    @abstractmethod
    def folder_exists(self, path: str) -> bool:
        """`path` is a folder (list_paths of a missing folder is just empty)."""

    @abstractmethod
    def delete(self, path: str) -> None: ...

    def real_path(self, path: str) -> str:
        """`path` as the backend resolves it, relative to its root: where a
        read really goes. The same path for backends without links (ADLS)."""
        return path

    @abstractmethod
    def health(self) -> dict:
        """`{"status": "ok", ...}` or raises LakehouseError."""


def lakehouse_from_settings(target: str | None = None) -> Lakehouse:
    """The configured backend for `target` (a name in settings.LAKEHOUSE_TARGETS,
    default "default")."""
    targets = settings.LAKEHOUSE_TARGETS
    name = target or "default"
    if name not in targets:
        raise LakehouseError(f"Unknown lakehouse target {name!r}; configured: {', '.join(sorted(targets))}.")
    config = dict(targets[name])
    backend = import_string(config.pop("BACKEND"))
    return backend(**{k.lower(): v for k, v in config.items()})
