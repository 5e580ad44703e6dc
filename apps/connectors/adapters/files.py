"""File sources (docs/sources.md, "Files"): CSV, Excel (.xlsx) and Parquet
files, each file an object of the connection. Every format is read batch by
batch from a binary file object, whatever its origin: csv's reader, openpyxl
in read-only mode, pyarrow's ParquetFile.iter_batches, so memory stays flat
whatever the file's size.

Where the files are (`settings.location`):
- "upload" (default): uploaded through the API, in Django's default storage
  under `sources/<client id>/<connection code>/` (the connection's key is
  "<client id>:<code>").
- "lake": a folder of a lakehouse target (apps.core.lakehouse), under the
  client's own root `sources/<client id>/<settings.folder>/`; read with the
  lakehouse's `open_read` (a remote file is downloaded chunk by chunk into a
  spooled temporary file). A folder can never name a path outside the
  client's root."""

import csv
import io
import posixpath
import re
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any, BinaryIO

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.core.files.storage import default_storage

from apps.connectors.adapters import adapter_register
from apps.connectors.adapters.base import Adapter
from apps.connectors.adapters.records import batches_cut, columns_infer, watermark_filter
from apps.connectors.types import (
    Extraction,
    ExtractRequest,
    Preview,
    SourceColumn,
    SourceError,
    SourceObject,
    TestOutcome,
)
from apps.core.errors import AppError
from apps.core.lakehouse import Lakehouse, LakehouseError, lakehouse_from_settings

EXTENSIONS = (".csv", ".xlsx", ".parquet")
LOCATIONS = ("upload", "lake")
LAKE_FOLDER_MAX = 255


def upload_folder(client_id: int | str, code: str) -> str:
    return f"sources/{client_id}/{code}/"


def lake_client_root(client_id: int | str) -> str:
    """The client's own root in every lakehouse target; its file
    connections' folders are under it."""
    return f"sources/{client_id}"


def _folder_refuse(why: str) -> AppError:
    return AppError(f"settings.folder {why}.", code="invalid_settings", details={"field": "folder"})


def lake_folder_clean(folder: Any) -> str:
    """`folder` as a path relative to the client's lakehouse root ("claims"
    or "claims/2026"); AppError naming settings.folder for anything that
    could leave that root or is not a plain relative path: absolute, `..`
    or `.` parts, empty parts, backslashes, NUL or other control characters."""
    if not isinstance(folder, str) or not folder.strip("/"):
        raise _folder_refuse('is required with location "lake": the folder of the files, under sources/<client>/')
    if len(folder) > LAKE_FOLDER_MAX:
        raise _folder_refuse(f"is at most {LAKE_FOLDER_MAX} characters")
    if "\x00" in folder or any(ord(ch) < 32 or ord(ch) == 127 for ch in folder):
        raise _folder_refuse("must not contain NUL or control characters")
    if "\\" in folder:
        raise _folder_refuse('uses "/" between folders, never a backslash')
    if folder.startswith("/"):
        raise _folder_refuse("is relative to the client's lakehouse root, not an absolute path")
    parts = folder.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise _folder_refuse('must not contain "..", "." or empty parts: it stays inside the client\'s root')
    if any(part != part.strip() for part in parts):
        raise _folder_refuse("parts must not start or end with a space")
    cleaned = "/".join(parts)
    if not posixpath.normpath(f"root/{cleaned}").startswith("root/"):  # never, after the rules above: a second lock
        raise _folder_refuse("leads out of the client's lakehouse root")
    return cleaned


def lake_folder_path(client_id: int | str, folder: Any) -> str:
    """The folder's lakehouse path, checked to stay under the client's root."""
    root = lake_client_root(client_id)
    path = posixpath.normpath(f"{root}/{lake_folder_clean(folder)}")
    if not path.startswith(root + "/"):
        raise _folder_refuse("leads out of the client's lakehouse root")
    return path


# --- Where a connection's files are: names, and each one opened as a binary file ---


class _Uploads:
    def __init__(self, folder: str) -> None:
        self.folder = folder

    def names(self) -> list[str]:
        try:
            _, names = default_storage.listdir(self.folder)
        except FileNotFoundError:
            return []
        except OSError:
            raise SourceError("The connection's file folder cannot be read.", stage="permission",
                              code="files_unreadable") from None  # fmt: skip
        return sorted(n for n in names if n.lower().endswith(EXTENSIONS))

    def open(self, name: str) -> BinaryIO:
        return default_storage.open(self.folder + name, "rb")

    def found(self, names: list[str]) -> str:
        if not names:
            return "The folder is readable; no file uploaded yet."
        return f"{len(names)} file(s): {', '.join(names[:10])}."


class _LakeFolder:
    def __init__(self, client_id: str, settings_: dict) -> None:
        self.target = str(settings_.get("target") or "default")
        self.root = lake_client_root(client_id)
        try:
            self.path = lake_folder_path(client_id, settings_.get("folder"))
        except AppError as exc:
            raise SourceError(exc.message, stage="permission", code="invalid_settings") from None
        self._lake: Lakehouse | None = None

    def _inside(self, lake: Lakehouse, path: str) -> str:
        """`path`, once the backend has resolved it (a symbolic link of the
        local backend) still under the client's root; SourceError if not."""
        if not lake.real_path(path).startswith(self.root + "/"):
            raise SourceError(f"{path} leads out of the client's lakehouse root {self.root}/.", stage="permission",
                              code="outside_client_root")  # fmt: skip
        return path

    @contextmanager
    def _lakehouse(self):
        """The target's client; LakehouseError (unknown target, unreachable,
        refused) becomes SourceError at stage "connect"."""
        try:
            if self._lake is None:
                self._lake = lakehouse_from_settings(self.target)
            yield self._lake
        except LakehouseError as exc:
            raise SourceError(f"Lakehouse target {self.target!r}: {exc}", stage="connect",
                              code="lakehouse_unavailable") from None  # fmt: skip

    def names(self) -> list[str]:
        with self._lakehouse() as lake:
            if not lake.folder_exists(self._inside(lake, self.path)):
                raise SourceError(
                    f"The folder {self.path}/ does not exist in lakehouse target {self.target!r}.",
                    stage="query",
                    code="folder_missing",
                )
            prefix = self.path + "/"
            return sorted(
                name
                for name in (p.removeprefix(prefix) for p in lake.list_paths(self.path) if p.startswith(prefix))
                if "/" not in name and name.lower().endswith(EXTENSIONS)
            )

    def open(self, name: str) -> BinaryIO:
        with self._lakehouse() as lake:
            return lake.open_read(self._inside(lake, f"{self.path}/{name}"))

    def found(self, names: list[str]) -> str:
        where = f"{self.path}/ of lakehouse target {self.target!r}"
        if not names:
            return f"The folder {where} is readable; it has no .csv, .xlsx or .parquet file yet."
        return f"{len(names)} file(s) in {where}: {', '.join(names[:10])}."


def upload_name_clean(name: str) -> str:
    """A file name safe in a storage path: its last path part, letters,
    digits, dot, dash and underscore only; AppError when nothing is left or
    the extension is not one we read."""
    base = re.split(r"[\\/]", str(name or ""))[-1].strip()
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._")
    if not cleaned:
        raise AppError("The file has no usable name.", code="invalid_file")
    if not cleaned.lower().endswith(EXTENSIONS):
        raise AppError(
            f"{cleaned!r} is not a file this connection reads: upload a {', '.join(EXTENSIONS)} file.",
            code="invalid_file",
        )
    return cleaned[:150]


def _arrow_type(kind: pa.DataType) -> str:
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_integer(kind):
        return "integer"
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "decimal"
    if pa.types.is_date(kind):
        return "date"
    if pa.types.is_timestamp(kind):
        return "timestamp"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "string"
    return "json" if pa.types.is_nested(kind) else "string"


@adapter_register("file")
class FileAdapter(Adapter):
    @classmethod
    def validate_settings(cls, settings_: dict, credentials: dict | None = None) -> None:
        if not isinstance(settings_, dict):
            raise AppError("settings must be an object.", code="invalid_settings")
        location = settings_.get("location", "upload")
        if location not in LOCATIONS:
            raise AppError('settings.location must be "upload" or "lake".', code="invalid_settings",
                           details={"field": "location"})  # fmt: skip
        if location == "lake":
            target = settings_.get("target", "default")
            if not isinstance(target, str) or target not in settings.LAKEHOUSE_TARGETS:
                raise AppError(
                    f"settings.target {target!r} is not a lakehouse target; configured: "
                    f"{', '.join(sorted(settings.LAKEHOUSE_TARGETS))}.",
                    code="invalid_settings",
                    details={"field": "target"},
                )
            lake_folder_clean(settings_.get("folder"))
        delimiter = settings_.get("delimiter", ",")
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise AppError('settings.delimiter must be one character, such as "," or ";".', code="invalid_settings")
        encoding = settings_.get("encoding", "utf-8")
        try:
            "".encode(encoding)
        except (LookupError, TypeError):
            raise AppError(
                f"settings.encoding {encoding!r} is not an encoding Python knows.", code="invalid_settings"
            ) from None
        if not isinstance(settings_.get("header", True), bool):
            raise AppError("settings.header must be true (the first row names the columns) or false.",
                           code="invalid_settings")  # fmt: skip
        if not isinstance(settings_.get("sheet", ""), str):
            raise AppError("settings.sheet must be the name of a sheet.", code="invalid_settings")

    # --- Where the files are ---------------------------------------------------------

    _place: "_Uploads | _LakeFolder | None" = None
    _names: list[str] | None = None  # the adapter lives for one operation: listed once

    def _where(self) -> "_Uploads | _LakeFolder":
        if self._place is None:
            client_id, _, code = (self.spec.key or "").partition(":")
            if not client_id or not code:
                raise SourceError("The file connection has no key to find its files by.", stage="connect")
            if self.spec.settings.get("location", "upload") == "lake":
                self._place = _LakeFolder(client_id, self.spec.settings)
            else:
                self._place = _Uploads(upload_folder(client_id, code))
        return self._place

    def files(self) -> list[str]:
        if self._names is None:
            self._names = self._where().names()
        return self._names

    @contextmanager
    def _open(self, name: str) -> Iterator[BinaryIO]:
        """The file `name` of the connection (one of files(), nothing else),
        opened for reading; closed after."""
        if name not in self.files():
            raise SourceError(f"The connection has no file named {name!r}.", stage="query", code="unknown_object",
                              status_code=404)  # fmt: skip
        with self._where().open(name) as raw:
            yield raw

    # --- Reading -----------------------------------------------------------------------

    def _rows(self, name: str, batch_size: int) -> Iterator[list[dict[str, Any]]]:
        """The file's records, `batch_size` at a time."""
        lower = name.lower()
        with self._open(name) as raw:
            try:
                if lower.endswith(".csv"):
                    yield from self._csv(raw, batch_size)
                elif lower.endswith(".xlsx"):
                    yield from self._excel(raw, batch_size, name)
                else:
                    yield from self._parquet(raw, batch_size, name)
            except UnicodeDecodeError:
                raise SourceError(
                    f"{name} is not in the encoding {self.spec.settings.get('encoding', 'utf-8')!r}: set the "
                    "connection's encoding.",
                    stage="query",
                    code="bad_encoding",
                ) from None
            except csv.Error as exc:
                raise SourceError(
                    f"{name} is not a readable CSV file: {exc}.", stage="query", code="bad_file"
                ) from None

    def _csv(self, raw, batch_size: int) -> Iterator[list[dict[str, Any]]]:
        s = self.spec.settings
        text = io.TextIOWrapper(raw, encoding=s.get("encoding", "utf-8-sig"), newline="")
        reader = csv.reader(text, delimiter=s.get("delimiter", ","))
        header = next(reader, None)
        if header is None:
            return
        if s.get("header", True):
            names = [h.strip() or f"column_{i + 1}" for i, h in enumerate(header)]
            pending: list[list[str]] = []
        else:
            names = [f"column_{i + 1}" for i in range(len(header))]
            pending = [header]
        rows = iter(pending)

        def records() -> Iterator[dict[str, Any]]:
            for row in rows:
                yield {n: (v if v != "" else None) for n, v in zip(names, row, strict=False)}
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                yield {n: (row[i] if i < len(row) and row[i] != "" else None) for i, n in enumerate(names)}

        stream = records()
        while batch := list(islice(stream, batch_size)):
            yield batch

    def _excel(self, raw, batch_size: int, name: str) -> Iterator[list[dict[str, Any]]]:
        try:
            book = openpyxl.load_workbook(raw, read_only=True, data_only=True)
        except Exception:
            raise SourceError(f"{name} is not a readable .xlsx workbook.", stage="query", code="bad_file") from None
        try:
            sheet_name = self.spec.settings.get("sheet") or book.sheetnames[0]
            if sheet_name not in book.sheetnames:
                raise SourceError(f"{name} has no sheet {sheet_name!r} (it has {', '.join(book.sheetnames)}).",
                                  stage="query", code="unknown_sheet")  # fmt: skip
            rows = book[sheet_name].iter_rows(values_only=True)
            first = next(rows, None)
            if first is None:
                return
            if self.spec.settings.get("header", True):
                names = [str(h).strip() if h not in (None, "") else f"column_{i + 1}" for i, h in enumerate(first)]
                lead: list[tuple] = []
            else:
                names = [f"column_{i + 1}" for i in range(len(first))]
                lead = [first]

            def records() -> Iterator[dict[str, Any]]:
                for row in lead:
                    yield dict(zip(names, row, strict=False))
                for row in rows:
                    if all(cell is None for cell in row):
                        continue
                    yield dict(zip(names, row, strict=False))

            stream = records()
            while batch := list(islice(stream, batch_size)):
                yield batch
        finally:
            book.close()

    def _parquet(self, raw, batch_size: int, name: str) -> Iterator[list[dict[str, Any]]]:
        try:
            parquet = pq.ParquetFile(raw)
        except (pa.ArrowException, OSError):
            raise SourceError(f"{name} is not a readable Parquet file.", stage="query", code="bad_file") from None
        for batch in parquet.iter_batches(batch_size=batch_size):
            yield batch.to_pylist()

    def _columns(self, name: str) -> tuple[SourceColumn, ...]:
        if name.lower().endswith(".parquet"):
            with self._open(name) as raw:
                try:
                    schema = pq.ParquetFile(raw).schema_arrow
                except (pa.ArrowException, OSError):
                    raise SourceError(f"{name} is not a readable Parquet file.", stage="query",
                                      code="bad_file") from None  # fmt: skip
            return tuple(SourceColumn(f.name, _arrow_type(f.type), f.nullable, source_type=str(f.type)) for f in schema)
        sample = self._first(name, settings.SOURCES_DISCOVERY_SAMPLE)
        return columns_infer(sample, text_is_typed=name.lower().endswith(".csv"))

    def _first(self, name: str, count: int) -> list[dict[str, Any]]:
        """The file's first `count` records; the file closed after."""
        rows = self._rows(name, count)
        try:
            return next(rows, [])
        finally:
            rows.close()

    # --- Operations ---------------------------------------------------------------------

    def extract(self, request: ExtractRequest) -> Extraction:
        if request.source_query:
            raise SourceError("File connections read files, not SQL queries.", stage="query", code="no_queries")
        name = request.source_object
        columns = self._columns(name)
        size = max(1, request.batch_size)
        if watermark_filter(request) is None and not request.columns and request.limit is None:
            batches = self._rows(name, size)
        else:
            batches = batches_cut(self._rows(name, size), request)
        return Extraction(columns=columns, batches=batches, closers=[batches.close])

    def discover(self) -> list[SourceObject]:
        return [SourceObject(name=name, kind="file", columns=self._columns(name)) for name in self.files()]

    def preview(self, *, source_object: str = "", source_query: str = "", limit: int) -> Preview:
        if source_query:
            raise SourceError("File connections read files, not SQL queries.", stage="query", code="no_queries")
        limit = max(1, min(limit, settings.SOURCES_PREVIEW_MAX_ROWS))
        rows = self._first(source_object, limit)
        return Preview(columns=self._columns(source_object), rows=rows)

    def test(self) -> TestOutcome:
        try:
            names = self.files()
        except SourceError as exc:
            return TestOutcome(False, exc.stage, exc.message)
        return TestOutcome(True, "query", self._where().found(names))
