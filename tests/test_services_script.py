"""The local services script as a user runs it."""

import os
import re
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "services.sh"


def run(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120
    )


def _apt_dir(tmp_path, files: dict[str, str]) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {
                "sources.list.d/debian.sources": (
                    "Types: deb\nURIs: http://security.example.org/debian\nSuites: bookworm-security\n"
                    "Components: main\n\nTypes: deb\nURIs: http://mirror.example.org/debian\n"
                    "Suites: bookworm bookworm-updates\nComponents: main\n"
                )
            },
            "http://mirror.example.org/debian",
        ),
        (
            {
                "sources.list": (
                    "# comment\ndeb-src http://src.example.org/debian bookworm main\n"
                    "deb [arch=amd64 signed-by=/k.gpg] http://ftp.example.net/debian bookworm main\n"
                ),
                "sources.list.d/other.list": "deb https://packages.example.com/apt stable main\n",
            },
            "http://ftp.example.net/debian",
        ),
    ],
)
def test_mirror_is_read_from_the_hosts_apt_sources(tmp_path, files, expected):
    result = run("mirror", env={"AE_APT_DIR": str(_apt_dir(tmp_path, files))})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_no_debian_mirror_is_a_clear_error(tmp_path):
    apt_dir = _apt_dir(tmp_path, {"sources.list.d/x.list": "deb https://packages.example.com/apt stable main\n"})
    result = run("mirror", env={"AE_APT_DIR": str(apt_dir)})
    assert result.stdout.strip() == ""


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="external database in use")
def test_status_and_a_second_up_reuse_the_running_services():
    status = run("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "postgresql: running on 127.0.0.1:" in status.stdout
    assert "redis: running on 127.0.0.1:" in status.stdout
    assert "mariadb: running on 127.0.0.1:" in status.stdout

    again = run("up")
    assert again.returncode == 0, again.stderr
    # Reuse, not a rebuild: both found running, nothing built, initialised,
    # stopped or started, and the same server processes answer afterwards.
    lines = again.stderr.splitlines()
    assert [re.sub(r"\d+$", "<port>", line) for line in lines] == [
        "[services] PostgreSQL already running on 127.0.0.1:<port>",
        "[services] Redis already running on 127.0.0.1:<port>",
        "[services] MariaDB already running on 127.0.0.1:<port>",
    ], again.stderr
    assert run("status").stdout == status.stdout


EXTERNAL = {
    "DATABASE_URL": "postgres://u:p@db.internal:5432/x",
    "REDIS_URL": "redis://r:6379/0",
    "AE_MARIADB_URL": "mysql://m:p@maria.internal:3306/",
}


def test_external_urls_skip_the_local_services():
    result = run("env", env=EXTERNAL)
    assert result.stdout.splitlines() == [f"{name}={url}" for name, url in EXTERNAL.items()]
    status = run("status", env=EXTERNAL)
    assert "postgresql: external" in status.stdout and "redis: external" in status.stdout
    assert "mariadb: external" in status.stdout
