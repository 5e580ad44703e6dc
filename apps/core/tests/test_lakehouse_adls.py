"""The ADLS Gen2 lakehouse through the real azure-storage-file-datalake SDK,
against the local DFS stand-in (apps/core/tests/adls_standin.py)."""

import os

import pytest
import urllib3.util.connection

from apps.core.lakehouse.adls import AdlsLakehouse
from apps.core.lakehouse.base import LakehouseError, lakehouse_from_settings
from apps.core.tests.adls_standin import AdlsStandIn


@pytest.fixture
def dfs():
    with AdlsStandIn() as standin:
        yield standin


def _lakehouse(dfs: AdlsStandIn, **options) -> AdlsLakehouse:
    options = {"root": "archive", "timeout_seconds": 2, "retry_total": 0, **options}
    return AdlsLakehouse(dfs.account_url, "lake", account_key=dfs.account_key, **options)


def test_write_read_exists_size_list_delete_round_trip(dfs):
    lake = _lakehouse(dfs)
    assert lake.write_data("metric_history/2026/03/31/part-0.parquet", b"PAR1 rows PAR1") == 14
    lake.write_data("metric_history/2026/04/01/part-0.parquet", b"second")
    lake.write_data("other/x.parquet", b"")

    # The file system was created on first write; files sit under the root folder.
    assert dfs.file_data("lake", "archive/metric_history/2026/03/31/part-0.parquet") == b"PAR1 rows PAR1"
    assert lake.read_data("metric_history/2026/03/31/part-0.parquet") == b"PAR1 rows PAR1"
    assert lake.read_data("other/x.parquet") == b""
    assert lake.exists("metric_history/2026/03/31/part-0.parquet")
    assert not lake.exists("metric_history/2026/03/31")  # a directory is not a file
    assert not lake.exists("metric_history/2026/03/31/missing.parquet")
    assert lake.size("metric_history/2026/04/01/part-0.parquet") == 6
    assert list(lake.list_paths()) == [
        "metric_history/2026/03/31/part-0.parquet",
        "metric_history/2026/04/01/part-0.parquet",
        "other/x.parquet",
    ]
    assert list(lake.list_paths("metric_history/2026/04")) == ["metric_history/2026/04/01/part-0.parquet"]
    assert list(lake.list_paths("nothing/here")) == []

    lake.delete("metric_history/2026/03/31/part-0.parquet")
    lake.delete("metric_history/2026/03/31/part-0.parquet")  # deleting twice is fine
    assert not lake.exists("metric_history/2026/03/31/part-0.parquet")
    with pytest.raises(LakehouseError, match="does not exist"):
        lake.read_data("metric_history/2026/03/31/part-0.parquet")
    with pytest.raises(LakehouseError, match="does not exist"):
        lake.size("metric_history/2026/03/31/part-0.parquet")


def test_overwrite_replaces_and_no_overwrite_refuses_leaving_no_staging_files(dfs):
    lake = _lakehouse(dfs)
    lake.write_data("t/a.parquet", b"first version")
    lake.write_data("t/a.parquet", b"v2")
    assert lake.read_data("t/a.parquet") == b"v2"
    assert lake.size("t/a.parquet") == 2

    with pytest.raises(LakehouseError, match="already exists"):
        lake.write_data("t/a.parquet", b"v3", overwrite=False)
    assert lake.read_data("t/a.parquet") == b"v2"
    lake.write_data("t/b.parquet", b"new", overwrite=False)
    # Uploads are staged under .tmp- names and renamed; none is left behind.
    stored = dfs._server.file_systems["lake"].paths
    assert not [name for name in stored if ".tmp-" in name]
    assert list(lake.list_paths("t")) == ["t/a.parquet", "t/b.parquet"]


def test_a_multi_megabyte_file_is_uploaded_in_chunks_and_read_back_intact(dfs):
    lake = _lakehouse(dfs, chunk_size=1024 * 1024, max_concurrency=3)
    data = os.urandom(6 * 1024 * 1024 + 123)
    assert lake.write_data("big/part-0.parquet", data) == len(data)
    appends = [q for method, _, q in dfs.requests if method == "PATCH" and q.get("action") == "append"]
    assert len(appends) == 7
    assert lake.size("big/part-0.parquet") == len(data)
    assert lake.read_data("big/part-0.parquet") == data


def test_open_read_downloads_chunk_by_chunk_into_a_spooled_file(dfs):
    lake = _lakehouse(dfs, chunk_size=1024 * 1024)
    data = os.urandom(3 * 1024 * 1024 + 5)
    lake.write_data("files/big.csv", data)
    dfs.requests.clear()
    with lake.open_read("files/big.csv") as raw:
        assert raw.read(10) == data[:10]
        raw.seek(0)
        assert raw.read() == data
    gets = [path for method, path, _ in dfs.requests if method == "GET" and path.endswith("/files/big.csv")]
    assert len(gets) == 4  # one ranged GET per 1 MiB chunk, never the whole file at once
    assert lake.folder_exists("files") and not lake.folder_exists("files/big.csv")
    assert not lake.folder_exists("nowhere")
    with pytest.raises(LakehouseError, match="does not exist"):
        lake.open_read("files/missing.csv")


def test_an_unreachable_account_raises_lakehouse_error_quickly(dfs, monkeypatch):
    """Quickly: on the first refused connection, without a retry's backoff
    or a timeout's wait (counted connection attempts and the error, not a
    stopwatch)."""
    attempts = []
    connect = urllib3.util.connection.create_connection

    def counted(address, *args, **kwargs):
        attempts.append(address)
        return connect(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", counted)
    lake = _lakehouse(dfs, retry_total=0)
    lake.write_data("t/a.parquet", b"x")
    dfs.stop()
    # (call, connection attempts: one per request, none repeated; a failed
    # write also tries to discard its staging file)
    for call, requests in (
        (lambda: lake.write_data("t/b.parquet", b"y"), 2),
        (lambda: lake.read_data("t/a.parquet"), 1),
        (lambda: lake.open_read("t/a.parquet"), 1),
        (lambda: lake.folder_exists("t"), 1),
        (lambda: lake.exists("t/a.parquet"), 1),
        (lambda: list(lake.list_paths()), 1),
        (lambda: lake.delete("t/a.parquet"), 1),
        (lake.health, 1),
    ):
        attempts.clear()
        with pytest.raises(LakehouseError) as caught:
            call()
        assert attempts == [("127.0.0.1", dfs.port)] * requests
        assert f"127.0.0.1:{dfs.port}" in str(caught.value)
        assert "refused" in str(caught.value).lower()


def test_health_reports_the_file_system_or_says_it_is_missing(dfs):
    lake = _lakehouse(dfs)
    with pytest.raises(LakehouseError, match="File system 'lake' does not exist"):
        lake.health()
    lake.write_data("t/a.parquet", b"x")
    report = lake.health()
    assert report["status"] == "ok"
    assert report["backend"] == "adls"
    assert report["file_system"] == "lake"


def test_paths_that_escape_the_root_are_refused(dfs):
    lake = _lakehouse(dfs)
    for bad in ("../outside.parquet", "/abs.parquet", ""):
        with pytest.raises(LakehouseError, match="Invalid lakehouse path"):
            lake.write_data(bad, b"x")


def test_missing_credentials_are_a_lakehouse_error():
    with pytest.raises(LakehouseError, match="account key or credential='default'"):
        AdlsLakehouse("http://127.0.0.1:1/devstoreaccount1", "lake")


def test_settings_build_the_adls_target(dfs, settings):
    settings.LAKEHOUSE_TARGETS = {
        "default": {
            "BACKEND": "apps.core.lakehouse.adls.AdlsLakehouse",
            "ACCOUNT_URL": dfs.account_url,
            "FILE_SYSTEM": "lake",
            "ACCOUNT_KEY": dfs.account_key,
            "RETRY_TOTAL": 0,
        }
    }
    lake = lakehouse_from_settings()
    assert isinstance(lake, AdlsLakehouse)
    lake.write_data("a.parquet", b"via settings")
    assert dfs.file_data("lake", "a.parquet") == b"via settings"


# --- /health (the check CoreConfig.ready() registers) -----------------------------


@pytest.fixture
def adls_target(settings):
    """The default lakehouse target on ADLS (the local DFS stand-in), its file
    system created; yields the running stand-in."""
    with AdlsStandIn() as dfs:
        settings.LAKEHOUSE_TARGETS = {
            "default": {
                "BACKEND": "apps.core.lakehouse.adls.AdlsLakehouse",
                "ACCOUNT_URL": dfs.account_url,
                "FILE_SYSTEM": "lake",
                "ACCOUNT_KEY": dfs.account_key,
                "RETRY_TOTAL": 0,
            }
        }
        lakehouse_from_settings().write_data("probe/ready.txt", b"ok")
        yield dfs


@pytest.mark.django_db
def test_health_has_no_lakehouse_check_with_the_local_backend(client, settings):
    assert settings.LAKEHOUSE_TARGETS["default"]["BACKEND"].endswith("LocalLakehouse")
    body = client.get("/health").json()
    assert "lakehouse" not in body["checks"]


@pytest.mark.django_db
def test_health_checks_the_adls_lakehouse_when_configured(client, adls_target, celery_worker_process):
    response = client.get("/health")
    assert response.status_code == 200, response.content
    lakehouse = response.json()["checks"]["lakehouse"]
    assert lakehouse["status"] == "ok"
    assert lakehouse["targets"]["default"]["file_system"] == "lake"
    assert lakehouse["targets"]["default"]["account_url"] == adls_target.account_url


@pytest.mark.django_db
def test_health_is_503_naming_the_lakehouse_when_adls_is_down(client, adls_target, celery_worker_process):
    adls_target.stop()
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["lakehouse"]
    error = body["checks"]["lakehouse"]["error"]
    assert error.startswith("LakehouseError: target 'default': ADLS at ")
    assert "refused" in error.lower()
