"""The local-filesystem lakehouse: a root folder on this machine."""

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from apps.core.lakehouse.base import Lakehouse, LakehouseError


class LocalLakehouse(Lakehouse):
    name = "local"

    def __init__(self, root: str) -> None:
        self.root = Path(root).resolve()

    def _full(self, path: str) -> Path:
        relative = PurePosixPath(path)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise LakehouseError(f"Invalid lakehouse path {path!r}: relative, without '..'.")
        full = self.root.joinpath(*relative.parts)
        # A symbolic link inside the root must not lead out of it.
        if not full.resolve().is_relative_to(self.root):
            raise LakehouseError(f"Invalid lakehouse path {path!r}: it leads out of the lakehouse folder.")
        return full

    def write_data(self, path: str, data: bytes, *, overwrite: bool = True) -> int:
        target = self._full(path)
        if target.exists() and not overwrite:
            raise LakehouseError(f"{path} already exists.")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Write aside, fsync, rename: a reader never sees a half-written file.
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            raise LakehouseError(f"Could not write {path}: {exc}") from exc
        return len(data)

    def read_data(self, path: str) -> bytes:
        try:
            return self._full(path).read_bytes()
        except OSError as exc:
            raise LakehouseError(f"Could not read {path}: {exc}") from exc

    def open_read(self, path: str) -> BinaryIO:
        try:
            return self._full(path).open("rb")
        except OSError as exc:
            raise LakehouseError(f"Could not read {path}: {exc.strerror or exc}") from exc

    def exists(self, path: str) -> bool:
        return self._full(path).is_file()

    def size(self, path: str) -> int:
        try:
            return self._full(path).stat().st_size
        except OSError as exc:
            raise LakehouseError(f"Could not stat {path}: {exc}") from exc

    def list_paths(self, prefix: str = "") -> Iterator[str]:
        base = self._full(prefix) if prefix else self.root
        if not base.exists():
            return iter(())
        files = (p for p in base.rglob("*") if p.is_file() and not p.name.startswith(".tmp-"))
        return iter(sorted(p.relative_to(self.root).as_posix() for p in files))

    def real_path(self, path: str) -> str:
        return self._full(path).resolve().relative_to(self.root).as_posix()

    def folder_exists(self, path: str) -> bool:
        return self._full(path).is_dir()

    def delete(self, path: str) -> None:
        try:
            self._full(path).unlink(missing_ok=True)
        except OSError as exc:
            raise LakehouseError(f"Could not delete {path}: {exc}") from exc

    def health(self) -> dict:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".health"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise LakehouseError(f"The lakehouse folder {self.root} is not writable: {exc}") from exc
        return {"status": "ok", "backend": self.name, "root": str(self.root)}
