"""A local stand-in for an Azure Data Lake Storage Gen2 account, good enough
for `azure-storage-file-datalake` to run against it unmodified.

Azurite has no DFS endpoint, so this speaks the subset of the REST API that
apps.core.lakehouse.adls calls, on path-style URLs
(`http://127.0.0.1:<port>/<account>/<file system>/<path>`, the Azurite
convention the SDK recognises for 127.0.0.1):

- Blob endpoint operations the DataLake SDK routes through the blob client:
  container create / get properties / delete (`?restype=container`),
  blob get properties (HEAD), blob download (GET with `x-ms-range`).
- DFS operations: path create (`?resource=file|directory`), rename
  (`x-ms-rename-source`), append (`PATCH ?action=append&position=`), flush
  (`PATCH ?action=flush&position=`), list paths
  (`GET ?resource=filesystem&recursive=`, JSON `{"paths": [...]}`, paged by
  `x-ms-continuation`), delete (`DELETE`, `recursive=`).

Files live in memory. It requires an `Authorization` header but does NOT verify
Shared Key signatures or bearer tokens: it tests our client code and the SDK's
wire behaviour, not Azure's authentication. Conditional headers are honoured
only where we use them (`If-None-Match: *` on create and rename)."""

import contextlib
import json
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

API_VERSION = "2025-01-05"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Path:
    is_directory: bool
    data: bytes = b""
    staged: dict[int, bytes] = field(default_factory=dict)  # appended, not yet flushed: position -> bytes
    etag: str = field(default_factory=lambda: f'"0x{uuid.uuid4().hex[:16].upper()}"')
    created: datetime = field(default_factory=_now)
    modified: datetime = field(default_factory=_now)

    def touch(self) -> None:
        self.etag = f'"0x{uuid.uuid4().hex[:16].upper()}"'
        self.modified = _now()


@dataclass
class _FileSystem:
    paths: dict[str, _Path] = field(default_factory=dict)
    etag: str = field(default_factory=lambda: f'"0x{uuid.uuid4().hex[:16].upper()}"')
    modified: datetime = field(default_factory=_now)


class _Error(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, format, *args):
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's
        # algorithm and the client's delayed ACK hold each answer ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    # --- plumbing ------------------------------------------------------------

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        parts = [unquote(p) for p in url.path.split("/") if p]
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        self.server.requests.append((self.command, url.path, dict(self.query)))
        try:
            if not self.headers.get("Authorization"):
                raise _Error(403, "AuthenticationFailed", "No Authorization header.")
            if len(parts) < 2:
                raise _Error(400, "InvalidUri", "Expected /<account>/<file system>[/<path>].")
            fs_name, path = parts[1], "/".join(parts[2:])
            with self.server.lock:
                handler = getattr(self, f"_{self.command.lower()}_{'path' if path else 'fs'}", None)
                if handler is None:
                    raise _Error(400, "UnsupportedHttpVerb", f"{self.command} is not supported here.")
                handler(fs_name, path)
        except _Error as exc:
            self._send(
                exc.status,
                json.dumps({"error": {"code": exc.code, "message": exc.message}}).encode(),
                {"x-ms-error-code": exc.code, "Content-Type": "application/json"},
            )

    # http.server's dispatch names, fixed by the standard library.
    do_GET = do_PUT = do_PATCH = do_HEAD = do_DELETE = _dispatch  # noqa: N815

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        self.send_header("x-ms-version", API_VERSION)
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _fs(self, name: str) -> _FileSystem:
        fs = self.server.file_systems.get(name)
        if fs is None:
            raise _Error(
                404, "ContainerNotFound" if "restype" in self.query else "FilesystemNotFound", "No such file system."
            )
        return fs

    @staticmethod
    def _stamp(item) -> dict:
        return {"ETag": item.etag, "Last-Modified": format_datetime(item.modified, usegmt=True)}

    @staticmethod
    def _ensure_parents(fs: _FileSystem, path: str) -> None:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            parent = "/".join(parts[:i])
            existing = fs.paths.get(parent)
            if existing is None:
                fs.paths[parent] = _Path(is_directory=True)
            elif not existing.is_directory:
                raise _Error(409, "PathConflict", f"{parent} is a file.")

    # --- file systems (containers) -------------------------------------------

    def _put_fs(self, name: str, _path: str) -> None:
        if self.query.get("restype") != "container":
            raise _Error(400, "InvalidQueryParameterValue", "Expected restype=container.")
        if name in self.server.file_systems:
            raise _Error(409, "ContainerAlreadyExists", "The specified container already exists.")
        fs = self.server.file_systems[name] = _FileSystem()
        self._send(201, headers=self._stamp(fs))

    def _get_fs(self, name: str, _path: str) -> None:
        fs = self._fs(name)
        if self.query.get("restype") == "container":
            self._send(
                200,
                headers={
                    **self._stamp(fs),
                    "x-ms-lease-status": "unlocked",
                    "x-ms-lease-state": "available",
                    "x-ms-has-immutability-policy": "false",
                    "x-ms-has-legal-hold": "false",
                },
            )
        elif self.query.get("resource") == "filesystem":
            self._list(fs)
        else:
            raise _Error(400, "InvalidQueryParameterValue", "Unsupported file system operation.")

    _head_fs = _get_fs

    def _delete_fs(self, name: str, _path: str) -> None:
        self._fs(name)
        del self.server.file_systems[name]
        self._send(202)

    def _list(self, fs: _FileSystem) -> None:
        directory = self.query.get("directory", "").strip("/")
        recursive = self.query.get("recursive", "true").lower() == "true"
        if directory and (directory not in fs.paths or not fs.paths[directory].is_directory):
            raise _Error(404, "PathNotFound", "The specified path does not exist.")
        prefix = f"{directory}/" if directory else ""
        names = sorted(
            name for name in fs.paths if name.startswith(prefix) and (recursive or "/" not in name[len(prefix) :])
        )
        start = int(self.query.get("continuation") or 0)
        page_size = int(self.query.get("maxResults") or self.server.page_size)
        page = names[start : start + page_size]
        entries = []
        for name in page:
            item = fs.paths[name]
            entry = {
                "name": name,
                "contentLength": str(len(item.data)),
                "etag": item.etag.strip('"'),
                "lastModified": format_datetime(item.modified, usegmt=True),
                "owner": "$superuser",
                "group": "$superuser",
                "permissions": "rwxr-x---",
            }
            if item.is_directory:
                entry["isDirectory"] = "true"
            entries.append(entry)
        headers = {"Content-Type": "application/json;charset=utf-8"}
        if start + page_size < len(names):
            headers["x-ms-continuation"] = str(start + page_size)
        self._send(200, json.dumps({"paths": entries}).encode(), headers)

    # --- paths ---------------------------------------------------------------

    def _put_path(self, fs_name: str, path: str) -> None:
        fs = self._fs(fs_name)
        target = fs.paths.get(path)
        if self.headers.get("If-None-Match") == "*" and target is not None:
            raise _Error(409, "PathAlreadyExists", "The specified path already exists.")
        source = self.headers.get("x-ms-rename-source")
        if source:
            self._rename(fs, unquote(urlsplit(source).path), path)
            return
        kind = self.query.get("resource")
        if kind not in ("file", "directory"):
            raise _Error(400, "InvalidQueryParameterValue", "Expected resource=file or resource=directory.")
        if target is not None and target.is_directory and kind == "file":
            raise _Error(409, "PathConflict", "A directory exists at that path.")
        self._ensure_parents(fs, path)
        if kind == "directory" and target is not None and target.is_directory:
            target.touch()
        else:
            target = fs.paths[path] = _Path(is_directory=kind == "directory")
        self._send(201, headers={**self._stamp(target), "x-ms-request-server-encrypted": "false"})

    def _rename(self, fs: _FileSystem, source: str, dest: str) -> None:
        source_fs, _, source_path = source.lstrip("/").partition("/")
        origin = self._fs(source_fs)
        if source_path not in origin.paths:
            raise _Error(404, "SourcePathNotFound", "The source path for a rename operation does not exist.")
        if dest in fs.paths and fs.paths[dest].is_directory:
            raise _Error(409, "PathConflict", "Destination is a directory.")
        self._ensure_parents(fs, dest)
        moved = {n: p for n, p in origin.paths.items() if n == source_path or n.startswith(source_path + "/")}
        for name, item in moved.items():
            del origin.paths[name]
            fs.paths[dest + name[len(source_path) :]] = item
        fs.paths[dest].touch()
        self._send(201, headers=self._stamp(fs.paths[dest]))

    def _file(self, fs_name: str, path: str) -> _Path:
        item = self._fs(fs_name).paths.get(path)
        if item is None:
            code = "BlobNotFound" if self.command in ("GET", "HEAD") else "PathNotFound"
            raise _Error(404, code, "The specified path does not exist.")
        return item

    def _patch_path(self, fs_name: str, path: str) -> None:
        item = self._file(fs_name, path)
        if item.is_directory:
            raise _Error(400, "InvalidOperation", "Cannot append to a directory.")
        action = self.query.get("action")
        position = int(self.query.get("position", "-1"))
        if action == "append":
            item.staged[position] = self.body
            self._send(202, headers={"x-ms-request-server-encrypted": "false"})
        elif action == "flush":
            data = bytearray(item.data)
            for offset in sorted(item.staged):
                if offset != len(data):
                    raise _Error(400, "InvalidFlushPosition", "Appended data is not contiguous.")
                data += item.staged[offset]
            if position != len(data):
                raise _Error(400, "InvalidFlushPosition", f"Flush position {position} != data length {len(data)}.")
            item.data, item.staged = bytes(data), {}
            item.touch()
            self._send(200, headers={**self._stamp(item), "x-ms-request-server-encrypted": "false"})
        else:
            raise _Error(400, "InvalidQueryParameterValue", f"Unsupported action {action!r}.")

    def _properties(self, item: _Path) -> dict:
        headers = {
            **self._stamp(item),
            "x-ms-creation-time": format_datetime(item.created, usegmt=True),
            "x-ms-blob-type": "BlockBlob",
            "x-ms-lease-status": "unlocked",
            "x-ms-lease-state": "available",
            "x-ms-server-encrypted": "false",
            "x-ms-resource-type": "directory" if item.is_directory else "file",
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if item.is_directory:
            headers["x-ms-meta-hdi_isfolder"] = "true"
        return headers

    def _head_path(self, fs_name: str, path: str) -> None:
        item = self._file(fs_name, path)
        self._send(200, headers={**self._properties(item), "Content-Length": len(item.data)})

    def _get_path(self, fs_name: str, path: str) -> None:
        item = self._file(fs_name, path)
        total = len(item.data)
        wanted = self.headers.get("x-ms-range") or self.headers.get("Range")
        if not wanted:
            self._send(200, item.data, self._properties(item))
            return
        first, _, last = wanted.removeprefix("bytes=").partition("-")
        start = int(first)
        end = min(int(last) if last else total - 1, total - 1)
        if start >= total:
            raise _Error(416, "InvalidRange", "The range specified is invalid for the current size of the resource.")
        headers = {**self._properties(item), "Content-Range": f"bytes {start}-{end}/{total}"}
        self._send(206, item.data[start : end + 1], headers)

    def _delete_path(self, fs_name: str, path: str) -> None:
        fs = self._fs(fs_name)
        item = self._file(fs_name, path)
        children = [n for n in fs.paths if n.startswith(path + "/")]
        if item.is_directory and children and self.query.get("recursive", "false").lower() != "true":
            raise _Error(409, "DirectoryNotEmpty", "The recursive query parameter value must be true.")
        for name in [path, *children]:
            del fs.paths[name]
        self._send(200)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.file_systems: dict[str, _FileSystem] = {}
        self.requests: list[tuple[str, str, dict]] = []
        self.page_size = 5000
        self._connections: set = set()
        self._connections_lock = threading.Lock()

    def track(self, connection) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):  # already closed by the client
                    connection.shutdown(socket.SHUT_RDWR)
            self._connections.clear()


class AdlsStandIn:
    """`with AdlsStandIn() as dfs:` then point the SDK at `dfs.account_url`
    (any non-empty key works). `stop()` closes the listener and every
    kept-alive connection, so clients see a dead endpoint at once."""

    account = "devstoreaccount1"
    # The well-known Azurite development key: a valid base64 Shared Key.
    account_key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

    def __init__(self) -> None:
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    @property
    def account_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.account}"

    @property
    def requests(self) -> list[tuple[str, str, dict]]:
        return self._server.requests if self._server else []

    def file_data(self, file_system: str, path: str) -> bytes | None:
        fs = self._server.file_systems.get(file_system)
        item = fs.paths.get(path) if fs else None
        return None if item is None or item.is_directory else item.data

    def start(self) -> "AdlsStandIn":
        self._server = _Server()
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="adls-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        self._thread.join(timeout=5)

    def __enter__(self) -> "AdlsStandIn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
