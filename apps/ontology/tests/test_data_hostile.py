"""Hostile bodies on the data load API (issue 15, "input"): a charset that is
not a text encoding is a 415 naming it, a JSON cell nested past the parser is
a row error (as a JSON body is a 400), a chunked body over the limit is a 413
through the production server. Never a 500."""

import json

import httpx
import pytest
from rest_framework_simplejwt.tokens import AccessToken

from apps.core.tests.assertions import assert_error
from apps.core.tests.factories import MembershipFactory
from apps.core.tests.servers import daphne_serving
from apps.ontology.services.entities import AttributeInput, EntityInput, entity_create
from apps.ontology.tests.test_data_api import post_csv, post_json

pytestmark = pytest.mark.django_db(transaction=True)

DOCS = EntityInput(
    code="doc",
    name="Doc",
    kind="time_series",
    time_attribute="at",
    attributes=[AttributeInput("at", "timestamp", nullable=False), AttributeInput("body", "json")],
)
URL = "/api/v1/data/doc/rows/"
CSV = "at,body\n2026-01-05T10:00:00Z,1\n"
NOT_TEXT = ["rot13", "base64", "zlib", "hex", "bz2", "uu", "quopri", "undefined", "punycode", "idna", "unicode_escape"]
UNKNOWN = ["no-such-charset", "utf-99", "x" * 300]


@pytest.fixture
def doc(analyst):
    return entity_create(client_id=analyst.client_id, data=DOCS)


@pytest.fixture
def loader(analyst_client):
    analyst_client.raise_request_exception = False
    return analyst_client


@pytest.mark.parametrize("charset", NOT_TEXT + UNKNOWN)
def test_a_charset_that_is_not_a_text_encoding_is_415_naming_it(loader, doc, charset):
    response = post_csv(loader, CSV.encode(), url=URL, content_type=f"text/csv; charset={charset}")
    error = assert_error(response, 415, "unsupported_charset")
    assert error["details"]["charset"] == charset
    assert repr(charset) in error["message"]


@pytest.mark.parametrize("charset", ["utf-8", "latin-1", "cp1252", "utf-16", "ascii"])
def test_text_encodings_still_load(loader, doc, charset):
    response = post_csv(loader, CSV.encode(charset), url=URL, content_type=f"text/csv; charset={charset}")
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("depth", [1_000, 5_000, 100_000])
def test_a_json_cell_nested_too_deep_is_a_row_error_naming_row_and_column(loader, doc, depth):
    cell = "[" * depth + "]" * depth
    response = post_csv(loader, f'at,body\n2026-01-05T10:00:00Z,"{cell}"\n', url=URL)
    assert response.status_code < 500, response.content[:300]
    body = response.json()
    if "error" in body:  # a cell past the CSV field limit is refused whole
        assert response.status_code == 400 and set(body["error"]) == {"code", "message", "details"}
    else:
        assert body["inserted"] == 0
        (rejected,) = body["rejected"]
        assert (rejected["row"], rejected["line"]) == (0, 2) and "body" in rejected["errors"], rejected
        assert "nested too deeply" in json.dumps(rejected["errors"])


def test_a_json_body_nested_too_deep_is_400(loader, doc):
    text = '[{"at": "2026-01-05T10:00:00Z", "body": ' + "[" * 100_000 + "]" * 100_000 + "}]"
    response = loader.generic("POST", URL, text, content_type="application/json")
    assert_error(response, 400, "malformed_json")
    value = [{"at": "2026-01-05T10:00:00Z", "body": json.loads("[" * 900 + "]" * 900)}]
    assert post_json(loader, value, url=URL).status_code < 500


@pytest.fixture(scope="module")
def small_limit_server(django_db_setup, django_db_blocker, tmp_path_factory):
    with daphne_serving(tmp_path_factory.mktemp("daphne") / "daphne.log", AE_MAX_LOAD_BYTES="5000") as server:
        yield server


def _chunks(total: int, size: int = 1000):
    yield b"at,body\n"
    line = b'2026-01-05T10:00:00Z,"{""k"": 1}"\n'
    sent = 0
    while sent < total:
        piece = line * max(1, size // len(line))
        sent += len(piece)
        yield piece


def test_a_chunked_upload_is_read_under_the_limit(small_limit_server):
    membership = MembershipFactory(is_default=True, role="analyst")
    entity_create(client_id=membership.client_id, data=DOCS)
    headers = {"Authorization": f"Bearer {AccessToken.for_user(membership.user)}", "Content-Type": "text/csv"}
    url = small_limit_server["url"] + URL
    with httpx.Client(timeout=30) as client:
        over = client.post(url, content=_chunks(50_000), headers=headers)
        assert over.status_code == 413, over.text
        assert over.json()["error"]["code"] == "payload_too_large"
        under = client.post(url, content=_chunks(2_000), headers=headers)  # chunked too: it is read, not empty
        assert under.status_code == 201, under.text
        assert under.json()["inserted"] > 0
