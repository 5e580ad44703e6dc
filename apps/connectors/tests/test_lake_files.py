"""File connections reading from the lakehouse (settings.location "lake"):
CSV, Excel and Parquet files in a folder under the client's own root
`sources/<client id>/` of a lakehouse target, through the API (test,
discover, preview) and the adapter (extract, batch by batch), on the local
backend and once on ADLS (the real SDK against the DFS stand-in). A folder
can never reach outside the client's root."""

import io
from datetime import date

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rest_framework.test import APIClient

from apps.connectors.adapters import adapter_for
from apps.connectors.models import ConnectionProfile
from apps.connectors.profiles import profile_spec
from apps.connectors.types import ExtractRequest, SourceError
from apps.core.errors import AppError
from apps.core.lakehouse import lakehouse_from_settings
from apps.core.tests.adls_standin import AdlsStandIn
from apps.core.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/sources/connections/"
LOCAL = "apps.core.lakehouse.local.LocalLakehouse"


@pytest.fixture(autouse=True)
def lake(settings, tmp_path):
    """Two local lakehouse targets in a temporary folder; the default one."""
    settings.LAKEHOUSE_TARGETS = {
        "default": {"BACKEND": LOCAL, "ROOT": str(tmp_path / "lake")},
        "landing": {"BACKEND": LOCAL, "ROOT": str(tmp_path / "landing")},
    }
    return lakehouse_from_settings()


def _api(client=None) -> tuple[APIClient, object]:
    membership = MembershipFactory(role="analyst", is_default=True, **({"client": client} if client else {}))
    api = APIClient()
    api.force_authenticate(membership.user)
    return api, membership.client


def _connection(api, folder="claims/2026", code="claims", **settings) -> object:
    return api.post(URL, {"code": code, "name": code, "kind": "file",
                          "settings": {"location": "lake", "folder": folder, **settings}}, format="json")  # fmt: skip


def _csv() -> bytes:
    return b"POL_ID,EFF_DT,PREMIUM\n" + b"".join(f"P{n},2026-01-{n:02d},{n}.50\n".encode() for n in range(1, 6))


def _xlsx() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["POL_ID", "EFF_DT", "ACTIVE"])
    for n in range(1, 6):
        sheet.append([f"P{n}", date(2026, 1, n), n % 2 == 0])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _parquet() -> bytes:
    table = pa.table({"pol_id": pa.array([f"P{n}" for n in range(1, 6)]),
                      "premium": pa.array([n / 4 for n in range(1, 6)], pa.float64())})  # fmt: skip
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=2)
    return out.getvalue()


def _files_put(lake, client_id, folder="claims/2026") -> None:
    base = f"sources/{client_id}/{folder}"
    lake.write_data(f"{base}/policies.csv", _csv())
    lake.write_data(f"{base}/book.xlsx", _xlsx())
    lake.write_data(f"{base}/facts.parquet", _parquet())
    lake.write_data(f"{base}/notes.txt", b"not a source file")
    lake.write_data(f"{base}/older/policies.csv", _csv())  # a sub-folder's files are not this folder's


def _extract(client, code, name, batch_size=2) -> list[list[dict]]:
    spec = profile_spec(ConnectionProfile.objects.get(client=client, code=code))
    extraction = adapter_for(spec).extract(ExtractRequest(source_object=name, batch_size=batch_size))
    try:
        return list(extraction.batches)
    finally:
        extraction.close()


def test_csv_xlsx_and_parquet_in_a_lake_folder_are_tested_discovered_previewed_and_extracted(lake):
    api, client = _api()
    _files_put(lake, client.id)
    created = _connection(api)
    assert created.status_code == 201, created.content

    tested = api.post(f"{URL}claims/test").json()
    assert tested["ok"] is True, tested
    assert tested["message"].startswith(f"3 file(s) in sources/{client.id}/claims/2026/ of lakehouse target 'default'")

    discovered = api.get(f"{URL}claims/discover")
    assert discovered.status_code == 200, discovered.content
    columns = {o["name"]: [(c["name"], c["type"]) for c in o["columns"]] for o in discovered.json()["objects"]}
    assert columns == {
        "book.xlsx": [("POL_ID", "string"), ("EFF_DT", "timestamp"), ("ACTIVE", "boolean")],
        "facts.parquet": [("pol_id", "string"), ("premium", "decimal")],
        "policies.csv": [("POL_ID", "string"), ("EFF_DT", "date"), ("PREMIUM", "decimal")],
    }

    preview = api.get(f"{URL}claims/preview", {"object": "policies.csv", "limit": 2})
    assert preview.status_code == 200, preview.content
    assert preview.json()["rows"] == [{"POL_ID": "P1", "EFF_DT": "2026-01-01", "PREMIUM": "1.50"},
                                      {"POL_ID": "P2", "EFF_DT": "2026-01-02", "PREMIUM": "2.50"}]  # fmt: skip
    assert api.get(f"{URL}claims/preview", {"object": "facts.parquet", "limit": 1}).json()["rows"] == [
        {"pol_id": "P1", "premium": 0.25}]  # fmt: skip
    assert api.get(f"{URL}claims/preview", {"object": "notes.txt"}).status_code == 404

    csv_batches = _extract(client, "claims", "policies.csv")
    assert [len(b) for b in csv_batches] == [2, 2, 1]
    assert [r["POL_ID"] for b in csv_batches for r in b] == ["P1", "P2", "P3", "P4", "P5"]
    xlsx_batches = _extract(client, "claims", "book.xlsx")
    assert [len(b) for b in xlsx_batches] == [2, 2, 1] and xlsx_batches[0][1]["ACTIVE"] is True
    parquet_batches = _extract(client, "claims", "facts.parquet")
    assert [r["premium"] for b in parquet_batches for r in b] == [0.25, 0.5, 0.75, 1.0, 1.25]

    # Uploads go to "upload" connections only.
    from django.core.files.uploadedfile import SimpleUploadedFile

    from apps.connectors.services.uploads import connection_file_store

    with pytest.raises(AppError, match="reads its files from a lakehouse folder"):
        connection_file_store(client_id=client.id, code="claims", upload=SimpleUploadedFile("a.csv", b"x\n1\n"))


@pytest.mark.parametrize(
    "folder",
    ["../7/claims", "claims/../../7/claims", "/etc", "/sources/7/claims", "claims\\..\\..\\7", "claims\x00.csv",
     "..", ".", "claims/./x", "claims//x", "", "/", "claims\n", 5, None, ["claims"], "x" * 300],
)  # fmt: skip
def test_hostile_folders_are_refused_naming_the_field(folder):
    api, _ = _api()
    answer = _connection(api, folder=folder)
    assert answer.status_code == 400, answer.content
    error = answer.json()["error"]
    assert error["code"] == "invalid_settings" and error["message"].startswith("settings.folder")
    assert error["details"]["field"] == "folder"
    assert not ConnectionProfile.objects.exists()


def test_an_unknown_target_or_location_is_refused_naming_the_field():
    api, _ = _api()
    unknown = _connection(api, target="elsewhere")
    assert unknown.status_code == 400 and "settings.target 'elsewhere'" in unknown.json()["error"]["message"]
    assert "default, landing" in unknown.json()["error"]["message"]
    assert _connection(api, location="pond").json()["error"]["details"]["field"] == "location"
    assert _connection(api, target="landing").status_code == 201
    patched = api.patch(f"{URL}claims/", {"settings": {"location": "lake", "folder": "../../x"}}, format="json")
    assert patched.status_code == 400 and patched.json()["error"]["details"]["field"] == "folder"


def test_another_clients_files_are_unreachable(lake, tmp_path):
    victim_api, victim = _api()
    _files_put(lake, victim.id)
    assert _connection(victim_api).status_code == 201

    api, attacker = _api()
    # Its own root has no such folder: it never falls back to anyone else's.
    assert _connection(api).status_code == 201
    tested = api.post(f"{URL}claims/test").json()
    assert (tested["ok"], tested["stage"]) == (False, "query")
    assert f"sources/{attacker.id}/claims/2026/ does not exist" in tested["message"]
    # Object names are the folder's file names, nothing else.
    lake.write_data(f"sources/{attacker.id}/claims/2026/mine.csv", b"x\n1\n")
    for name in (f"../../../{victim.id}/claims/2026/policies.csv", f"/sources/{victim.id}/claims/2026/policies.csv"):
        assert api.get(f"{URL}claims/preview", {"object": name}).status_code == 404
    # A folder stored without validation is still refused when read.
    ConnectionProfile.objects.filter(client=attacker, code="claims").update(
        settings={"location": "lake", "folder": f"../{victim.id}/claims/2026"}
    )
    tested = api.post(f"{URL}claims/test").json()
    assert (tested["ok"], tested["stage"]) == (False, "permission") and "settings.folder" in tested["message"]
    # A symbolic link in the attacker's root (made by whoever fills the lake)
    # to another client's folder or file leads nowhere either.
    sources = tmp_path / "lake" / "sources"
    (sources / str(attacker.id) / "claims" / "2026" / "stolen.csv").symlink_to(
        sources / str(victim.id) / "claims" / "2026" / "policies.csv"
    )
    ConnectionProfile.objects.filter(client=attacker, code="claims").update(
        settings={"location": "lake", "folder": "claims/2026"}
    )
    stolen = api.get(f"{URL}claims/preview", {"object": "stolen.csv"})
    assert stolen.status_code == 400 and "leads out of the client's lakehouse root" in stolen.json()["error"]["message"]
    (sources / str(attacker.id) / "door").symlink_to(sources / str(victim.id))
    ConnectionProfile.objects.filter(client=attacker, code="claims").update(
        settings={"location": "lake", "folder": "door/claims/2026"}
    )
    tested = api.post(f"{URL}claims/test").json()
    assert (tested["ok"], tested["stage"]) == (False, "permission")
    assert f"leads out of the client's lakehouse root sources/{attacker.id}/" in tested["message"]


def test_the_connection_test_names_an_unknown_target_and_an_empty_folder(lake, settings):
    api, client = _api()
    assert _connection(api, target="landing").status_code == 201
    lakehouse_from_settings("landing").write_data(f"sources/{client.id}/claims/2026/readme.md", b"#")
    tested = api.post(f"{URL}claims/test").json()
    assert tested["ok"] is True and "no .csv, .xlsx or .parquet file yet" in tested["message"]
    del settings.LAKEHOUSE_TARGETS["landing"]  # the target removed after the connection was saved
    tested = api.post(f"{URL}claims/test").json()
    assert (tested["ok"], tested["stage"]) == (False, "connect")
    assert "Unknown lakehouse target 'landing'" in tested["message"]
    with pytest.raises(SourceError, match="Unknown lakehouse target"):
        _extract(client, "claims", "readme.md")


def test_lake_files_on_adls_through_the_sdk_and_an_unreachable_account(settings):
    with AdlsStandIn() as dfs:
        settings.LAKEHOUSE_TARGETS = {"default": {
            "BACKEND": "apps.core.lakehouse.adls.AdlsLakehouse", "ACCOUNT_URL": dfs.account_url,
            "FILE_SYSTEM": "lake", "ACCOUNT_KEY": dfs.account_key, "ROOT": "tenants", "RETRY_TOTAL": 0,
            "CHUNK_SIZE": 100,
        }}  # fmt: skip
        api, client = _api()
        adls = lakehouse_from_settings()
        adls.write_data(f"sources/{client.id}/claims/2026/policies.csv", _csv())
        adls.write_data(f"sources/{client.id}/claims/2026/facts.parquet", _parquet())
        assert _connection(api).status_code == 201
        tested = api.post(f"{URL}claims/test").json()
        assert tested["ok"] is True and "2 file(s)" in tested["message"]
        objects = api.get(f"{URL}claims/discover").json()["objects"]
        assert [o["name"] for o in objects] == ["facts.parquet", "policies.csv"]
        assert [r["POL_ID"] for b in _extract(client, "claims", "policies.csv") for r in b] == [
            "P1", "P2", "P3", "P4", "P5"]  # fmt: skip
        assert [r["pol_id"] for b in _extract(client, "claims", "facts.parquet") for r in b][-1] == "P5"
        downloads = [p for m, p, _ in dfs.requests if m == "GET" and p.endswith("/policies.csv")]
        assert len(downloads) > 1  # read in 100-byte chunks, not in one piece
        dfs.stop()
        tested = api.post(f"{URL}claims/test").json()
        assert (tested["ok"], tested["stage"]) == (False, "connect")
        assert "Lakehouse target 'default'" in tested["message"] and "refused" in tested["message"].lower()
