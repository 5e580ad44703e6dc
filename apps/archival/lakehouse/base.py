from abc import ABC, abstractmethod
from collections.abc import Iterator

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
    def read_data(self, path: str) -> bytes: ...

    @abstractmethod
    def exists(self, path: str) -> bool: ...

    @abstractmethod
    def size(self, path: str) -> int: ...

    @abstractmethod
    def list_paths(self, prefix: str = "") -> Iterator[str]:
        """Files (not directories) under `prefix`, recursively, sorted."""

    @abstractmethod
    def delete(self, path: str) -> None: ...

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
