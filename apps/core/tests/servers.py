"""Servers for tests: the production ASGI server (daphne) as a subprocess
(real HTTP and WebSockets on a free port, on the test database and the test
Redis; the `asgi_server` fixture in conftest.py and tests that need their
own server settings), and `silent_database`, a database server that never
answers (overload on demand)."""

import copy
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import connections

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url_of_tests() -> str:
    """DATABASE_URL naming the test database pytest-django created."""
    parts = urlsplit(settings.DATABASE_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/" + settings.DATABASES["default"]["NAME"], parts.query, ""))


@contextmanager
def daphne_serving(log_path: Path, **env_extra: str) -> Iterator[dict]:
    """Run daphne until the block ends; yields {"port", "url", "log"}. Fails
    (RuntimeError with the log) when it does not listen within 30 s."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "analytics_engine.settings.test",
        "DATABASE_URL": database_url_of_tests(),
        "TEST_REDIS_URL": settings.REDIS_URL,
        **env_extra,  # may move Redis too (TEST_REDIS_URL)
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port),
             "analytics_engine.asgi:application"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"daphne exited early:\n{log_path.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"daphne did not listen within 30 s:\n{log_path.read_text()}") from None
                time.sleep(0.1)
        yield {"port": port, "url": f"http://127.0.0.1:{port}", "log": log_path}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def silent_database(alias: str) -> Iterator[None]:
    """`alias` connects, for the block, to a server that completes the TCP
    handshake (the kernel does, from the listen backlog) and never answers
    the PostgreSQL startup message: what a server too busy to serve a new
    connection looks like to the client, which gives up after
    connect_timeout (2 s here, libpq's minimum)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        connection = connections[alias]
        connection.close()
        saved = copy.deepcopy(connection.settings_dict)
        connection.settings_dict["HOST"] = "127.0.0.1"
        connection.settings_dict["PORT"] = str(listener.getsockname()[1])
        connection.settings_dict["OPTIONS"] = {**saved.get("OPTIONS", {}), "connect_timeout": 2}
        try:
            yield
        finally:
            connection.close()
            connection.settings_dict.clear()
            connection.settings_dict.update(saved)
