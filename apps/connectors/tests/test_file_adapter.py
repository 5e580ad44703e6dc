"""File connections: uploads through the API (validated: extension, size,
name, kind, client), and CSV, Excel and Parquet files read in several
batches, typed from samples or the Parquet schema."""

import csv
import io
from datetime import date

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import include, path
from rest_framework.test import APIClient

from analytics_engine.urls import urlpatterns as _main_urls
from apps.connectors.adapters import adapter_for
from apps.connectors.adapters.base import ConnectionSpec
from apps.connectors.adapters.files import FileAdapter, upload_folder
from apps.connectors.models import ConnectionProfile
from apps.connectors.types import ExtractRequest, SourceError
from apps.core.errors import AppError
from apps.core.tests.factories import MembershipFactory

# The upload's URLs, as they are included beside the connections' at merge.
urlpatterns = [*_main_urls, path("api/v1/sources/", include("apps.connectors.api.file_urls"))]
ROWS = 3000


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)


def _store(name: str, data: bytes, client_id=7, code="drop") -> None:
    default_storage.save(upload_folder(client_id, code) + name, ContentFile(data))


def _spec(**settings) -> ConnectionSpec:
    return ConnectionSpec(kind="file", settings={"location": "upload", **settings}, key="7:drop")


def _read(spec, name, **request) -> list[list[dict]]:
    extraction = adapter_for(spec).extract(ExtractRequest(source_object=name, **request))
    try:
        return list(extraction.batches)
    finally:
        extraction.close()


def _csv_bytes(delimiter=",", header=True, encoding="utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    if header:
        writer.writerow(["POL_ID", "STAT_CD", "PREMIUM", "EFF_DT", "NOTE"])
    for n in range(1, ROWS + 1):
        writer.writerow([n, "A" if n % 2 else "T", f"{n}.50", f"2026-01-{n % 28 + 1:02d}", "" if n % 10 else "Zoë"])
    return out.getvalue().encode(encoding)


def test_csv_streams_in_batches_and_is_typed_from_a_sample():
    _store("policies.csv", _csv_bytes())
    batches = _read(_spec(), "policies.csv", batch_size=1000)
    assert [len(b) for b in batches] == [1000, 1000, 1000]
    assert [row["POL_ID"] for b in batches for row in b] == [str(n) for n in range(1, ROWS + 1)]
    assert batches[0][9]["NOTE"] == "Zoë" and batches[0][0]["NOTE"] is None
    (found,) = adapter_for(_spec()).discover()
    types = {c.name: (c.type, c.nullable) for c in found.columns}
    assert types == {"POL_ID": ("integer", False), "STAT_CD": ("string", False), "PREMIUM": ("decimal", False),
                     "EFF_DT": ("date", False), "NOTE": ("string", True)}  # fmt: skip


def test_csv_delimiter_encoding_no_header_and_a_watermark():
    _store("latin.csv", _csv_bytes(delimiter=";", header=False, encoding="latin-1"))
    spec = _spec(delimiter=";", encoding="latin-1", header=False)
    batches = _read(spec, "latin.csv", batch_size=500, watermark_column="column_1", watermark_after="2990")
    rows = [row for b in batches for row in b]
    assert [row["column_1"] for row in rows] == [str(n) for n in range(2991, ROWS + 1)]
    assert rows[-1]["column_5"] == "Zoë"
    with pytest.raises(SourceError, match="encoding"):
        _read(_spec(), "latin.csv")


def test_excel_streams_a_named_sheet_in_batches():
    book = openpyxl.Workbook()
    book.active.title = "Cover"
    sheet = book.create_sheet("Policies")
    sheet.append(["POL_ID", "EFF_DT", "ACTIVE"])
    for n in range(1, 2501):
        sheet.append([n, date(2026, 1, n % 28 + 1), n % 2 == 0])
    out = io.BytesIO()
    book.save(out)
    _store("book.xlsx", out.getvalue())
    batches = _read(_spec(sheet="Policies"), "book.xlsx", batch_size=1000)
    assert [len(b) for b in batches] == [1000, 1000, 500]
    assert [row["POL_ID"] for b in batches for row in b] == list(range(1, 2501))
    (found,) = adapter_for(_spec(sheet="Policies")).discover()
    assert {c.name: c.type for c in found.columns} == {"POL_ID": "integer", "EFF_DT": "timestamp", "ACTIVE": "boolean"}
    with pytest.raises(SourceError, match="no sheet 'Missing'"):
        _read(_spec(sheet="Missing"), "book.xlsx")


def test_parquet_streams_batches_and_is_typed_from_its_schema():
    table = pa.table({
        "pol_id": pa.array(range(ROWS), pa.int64()),
        "premium": pa.array([n / 4 for n in range(ROWS)], pa.float64()),
        "eff_dt": pa.array([date(2026, 1, 1)] * ROWS, pa.date32()),
        "stat_cd": pa.array(["A"] * ROWS, pa.string()),
    })  # fmt: skip
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=700)
    _store("facts.parquet", out.getvalue())
    batches = _read(_spec(), "facts.parquet", batch_size=1000)
    assert len(batches) > 2 and all(len(b) <= 1000 for b in batches)
    assert [row["pol_id"] for b in batches for row in b] == list(range(ROWS))
    (found,) = adapter_for(_spec()).discover()
    assert {c.name: c.type for c in found.columns} == {
        "pol_id": "integer", "premium": "decimal", "eff_dt": "date", "stat_cd": "string"}  # fmt: skip


def test_the_connection_test_lists_the_files_and_an_unknown_file_is_named():
    assert adapter_for(_spec()).test().message.startswith("The folder is readable")
    _store("a.csv", b"x\n1\n")
    outcome = adapter_for(_spec()).test()
    assert outcome.ok and "a.csv" in outcome.message
    with pytest.raises(SourceError, match=r"no file named 'b\.csv'"):
        _read(_spec(), "b.csv")
    preview = adapter_for(_spec()).preview(source_object="a.csv", limit=5)
    assert preview.rows == [{"x": "1"}]


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"location": "lake"}, "settings.folder"),
        ({"location": "pond"}, "location"),
        ({"delimiter": ";;"}, "delimiter"),
        ({"encoding": "klingon"}, "encoding"),
    ],
)
def test_settings_are_validated_naming_the_field(given, named):
    with pytest.raises(AppError, match=named):
        FileAdapter.validate_settings(given)


# --- The upload endpoint -----------------------------------------------------------------


def _api(role="analyst"):
    membership = MembershipFactory(role=role, is_default=True)
    api = APIClient()
    api.force_authenticate(membership.user)
    return api, membership.client


def _upload(api, code, name, data: bytes):
    return api.post(f"/api/v1/sources/connections/{code}/files", {"file": SimpleUploadedFile(name, data)},
                    format="multipart")  # fmt: skip


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_upload_stores_the_file_for_the_connection_and_refuses_what_it_cannot_read(settings):
    api, client = _api()
    ConnectionProfile.objects.create(client=client, code="drop", kind="file")
    ConnectionProfile.objects.create(client=client, code="db", kind="postgresql")

    answer = _upload(api, "drop", "../../Policies 2026.csv", b"POL_ID\n1\n2\n")
    assert answer.status_code == 201, answer.content
    assert answer.json() == {"name": "Policies_2026.csv", "size": 11}
    spec = ConnectionSpec(kind="file", settings={}, key=f"{client.id}:drop")
    assert [r["POL_ID"] for b in _read(spec, "Policies_2026.csv") for r in b] == ["1", "2"]
    assert _upload(api, "drop", "Policies 2026.csv", b"POL_ID\n3\n").status_code == 201  # replaced
    assert [r["POL_ID"] for b in _read(spec, "Policies_2026.csv") for r in b] == ["3"]

    wrong = _upload(api, "drop", "policies.exe", b"MZ")
    assert wrong.status_code == 400 and ".csv" in wrong.json()["error"]["message"]
    settings.SOURCES_UPLOAD_MAX_BYTES = 10
    big = _upload(api, "drop", "big.csv", b"x" * 11)
    assert big.status_code == 400 and big.json()["error"]["code"] == "file_too_large"
    assert "at most 10 bytes" in big.json()["error"]["message"]
    not_files = _upload(api, "db", "a.csv", b"x")
    assert not_files.status_code == 400 and "postgresql" in not_files.json()["error"]["message"]
    assert _upload(api, "nope", "a.csv", b"x").status_code == 404

    other, _ = _api()
    assert _upload(other, "drop", "a.csv", b"x").status_code == 404  # another client's connection
    viewer = APIClient()
    viewer.force_authenticate(MembershipFactory(role="viewer", client=client).user)
    viewer.credentials(HTTP_X_CLIENT=client.code)
    assert _upload(viewer, "drop", "a.csv", b"x").status_code == 403
