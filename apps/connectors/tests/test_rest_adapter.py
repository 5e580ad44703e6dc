"""The REST adapter and the HTTP client against a real HTTP server on
127.0.0.1 (http_standins.RestStandin): every pagination style reads every
record once, every auth type, 429 waited, 500 and malformed answers named,
nested records flattened, the incremental filter, discovery's types, the
connection test's stages, and credentials never in an error."""

import logging
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from apps.connectors.adapters import adapter_for
from apps.connectors.adapters.base import ConnectionSpec
from apps.connectors.adapters.rest import RESTAdapter
from apps.connectors.http_client import retry_after_seconds
from apps.connectors.tests import http_standins as s
from apps.connectors.types import ExtractRequest, SourceError
from apps.core.errors import AppError


@pytest.fixture(scope="module")
def rest() -> Iterator[s.RestStandin]:
    with s.RestStandin() as standin:
        yield standin


def _spec(rest, endpoints: list[dict], auth: dict | None = None, credentials: dict | None = None, **extra):
    settings = {"base_url": rest.url, "endpoints": endpoints, **extra}
    if auth:
        settings["auth"] = auth
    # A key of its own per test: the circuit breaker's state lives in Redis.
    return ConnectionSpec(kind="rest", settings=settings, credentials=credentials or {}, key=f"t:{uuid.uuid4().hex}")


def _read(spec, name: str, **request) -> tuple[list[list[dict]], tuple]:
    extraction = adapter_for(spec).extract(ExtractRequest(source_object=name, **request))
    try:
        return list(extraction.batches), extraction.columns
    finally:
        extraction.close()


PAGINATIONS = {
    "none": {"name": "p", "path": "/none", "records_path": "data.items"},
    "page": {"name": "p", "path": "/page", "records_path": "data.items",
             "pagination": {"type": "page", "page_size": 10, "page_size_param": "page_size"}},
    "page-without-size": {"name": "p", "path": "/page", "records_path": "data.items", "pagination": {"type": "page"}},
    "offset": {"name": "p", "path": "/offset", "records_path": "",
               "pagination": {"type": "offset", "page_size": 6}},
    "cursor": {"name": "p", "path": "/cursor", "records_path": "items",
               "pagination": {"type": "cursor", "cursor_path": "next", "cursor_param": "cursor", "page_size": 4}},
    "link": {"name": "p", "path": "/link", "records_path": "", "pagination": {"type": "link"}},
}  # fmt: skip


@pytest.mark.parametrize("style", PAGINATIONS)
def test_every_pagination_style_reads_every_record_exactly_once(rest, style):
    RESTAdapter.validate_settings({"base_url": rest.url, "endpoints": [PAGINATIONS[style]]})
    batches, _ = _read(_spec(rest, [PAGINATIONS[style]]), "p", batch_size=5)
    ids = [row["id"] for batch in batches for row in batch]
    assert ids == list(range(1, 26))
    assert all(len(batch) <= 5 for batch in batches) and len(batches) == 5


def test_nested_objects_are_flattened_to_dotted_keys_and_lists_kept(rest):
    batches, columns = _read(_spec(rest, [PAGINATIONS["none"]]), "p", limit=2)
    first = batches[0][0]
    assert first["customer.id"] == "C1" and first["customer.address.city"] == "Oslo" and first["tags"] == ["a", "1"]
    assert "customer" not in first
    types = {c.name: c.type for c in columns}
    assert types["customer.id"] == "string" and types["tags"] == "json"


def test_discovery_samples_and_types_the_records(rest):
    (endpoint,) = adapter_for(_spec(rest, [PAGINATIONS["cursor"]])).discover()
    columns = {c.name: c for c in endpoint.columns}
    assert endpoint.name == "p" and endpoint.kind == "endpoint"
    assert {n: c.type for n, c in columns.items()} == {
        "id": "integer", "premium": "decimal", "active": "boolean", "start_date": "date",
        "updated_at": "timestamp", "customer.id": "string", "customer.address.city": "string", "tags": "json",
    }  # fmt: skip
    assert columns["customer.address.city"].nullable and not columns["id"].nullable
    preview = adapter_for(_spec(rest, [PAGINATIONS["cursor"]])).preview(source_object="p", limit=25)
    assert {c.name: c.type for c in preview.columns} == {n: c.type for n, c in columns.items()}


def test_incremental_keeps_only_records_after_the_watermark_compared_as_timestamps(rest):
    batches, _ = _read(
        _spec(rest, [PAGINATIONS["page"]]),
        "p",
        watermark_column="updated_at",
        watermark_after="2026-02-01T01:00:20+01:00",  # 00:00:20Z: same instant, another zone
    )
    assert [row["id"] for batch in batches for row in batch] == [21, 22, 23, 24, 25]
    batches, _ = _read(_spec(rest, [PAGINATIONS["page"]]), "p", watermark_column="id", watermark_after="9")
    assert [row["id"] for batch in batches for row in batch] == list(range(10, 26))  # 10 > 9 as numbers


def test_the_watermark_goes_to_the_server_when_the_endpoint_names_its_parameter(rest):
    endpoint = {**PAGINATIONS["none"], "watermark_param": "since"}
    _read(_spec(rest, [endpoint]), "p", watermark_column="id", watermark_after="20")
    assert any("since=20" in path for _, path, _ in rest.requests)


AUTHS = {
    "header": ({"type": "api_key", "header": "X-API-Key"}, {"api_key": s.API_KEY}),
    "query": ({"type": "api_key", "query_param": "api_key"}, {"api_key": s.API_KEY}),
    "basic": ({"type": "basic"}, {"username": s.USERNAME, "password": s.PASSWORD}),
    "bearer": ({"type": "bearer"}, {"token": s.BEARER}),
}


@pytest.mark.parametrize("kind", AUTHS)
def test_each_auth_type_is_sent_and_a_wrong_secret_is_an_auth_failure_without_it(rest, kind):
    auth, credentials = AUTHS[kind]
    endpoint = {"name": "a", "path": f"/auth/{kind}", "records_path": "data.items"}
    RESTAdapter.validate_settings({"base_url": rest.url, "endpoints": [endpoint], "auth": auth}, credentials)
    batches, _ = _read(_spec(rest, [endpoint], auth, credentials), "a")
    assert len(batches[0]) == 3
    wrong = {k: "wrong-" + v for k, v in credentials.items()}
    outcome = adapter_for(_spec(rest, [endpoint], auth, wrong)).test()
    assert (outcome.ok, outcome.stage) == (False, "auth")
    assert "401" in outcome.message and "wrong-" not in outcome.message


def test_oauth2_client_credentials_fetches_caches_and_refetches_a_token_after_a_401(rest):
    scope = f"read-{uuid.uuid4()}"  # a cache entry of its own
    auth = {"type": "oauth2_client_credentials", "token_url": f"{rest.url}/oauth/token", "scope": scope}
    credentials = {"client_id": s.CLIENT_ID, "client_secret": s.CLIENT_SECRET}
    endpoint = {"name": "a", "path": "/auth/oauth", "records_path": "data.items"}
    issued = rest.issued
    _read(_spec(rest, [endpoint], auth, credentials), "a")
    _read(_spec(rest, [endpoint], auth, credentials), "a")
    assert rest.issued == issued + 1  # cached for the second read
    rest.revoke_tokens()
    batches, _ = _read(_spec(rest, [endpoint], auth, credentials), "a")
    assert len(batches[0]) == 3 and rest.issued == issued + 2
    outcome = adapter_for(_spec(rest, [endpoint], auth, {**credentials, "client_secret": "nope"})).test()
    assert (outcome.ok, outcome.stage) == (False, "auth")


def test_a_429_is_waited_for_its_retry_after_then_read(rest):
    batches, _ = _read(_spec(rest, [{"name": "l", "path": "/limited", "records_path": "data.items"}]), "l")
    assert sum(len(b) for b in batches) == 25
    assert [p for _, p, _ in rest.requests].count("/limited") >= 2


def test_a_429_that_never_ends_is_a_clear_error(rest, settings):
    settings.SOURCES_RETRY_ATTEMPTS = 0
    with pytest.raises(SourceError, match="429"):
        _read(_spec(rest, [{"name": "l", "path": "/limited", "records_path": "data.items"}]), "l")


def test_a_500_is_a_source_error_naming_the_status_and_path(rest):
    with pytest.raises(SourceError) as caught:
        _read(_spec(rest, [{"name": "f", "path": "/fail", "records_path": ""}]), "f")
    assert "HTTP 500" in caught.value.message and "/fail" in caught.value.message and caught.value.stage == "query"


def test_malformed_json_a_missing_records_path_and_a_403_are_named(rest):
    with pytest.raises(SourceError, match="not JSON"):
        _read(_spec(rest, [{"name": "m", "path": "/malformed"}]), "m")
    with pytest.raises(SourceError, match=r"'data\.rows'"):
        _read(_spec(rest, [{"name": "n", "path": "/none", "records_path": "data.rows"}]), "n")
    outcome = adapter_for(_spec(rest, [{"name": "x", "path": "/forbidden"}])).test()
    assert (outcome.ok, outcome.stage) == (False, "permission")


def test_redirects_are_followed_on_the_same_host_only(rest):
    batches, _ = _read(_spec(rest, [{"name": "h", "path": "/here", "records_path": "data.items"}]), "h")
    assert sum(len(b) for b in batches) == 25
    with pytest.raises(SourceError, match="another host"):
        _read(_spec(rest, [{"name": "a", "path": "/away", "records_path": "data.items"}]), "a")


def test_the_connection_test_names_its_stage(rest, settings):
    ok = adapter_for(_spec(rest, [PAGINATIONS["page"]])).test()
    assert ok.ok and ok.stage == "query"
    settings.SOURCES_RETRY_ATTEMPTS = 1
    port = rest.server.server_address[1]
    refused = adapter_for(ConnectionSpec("rest", {"base_url": "http://127.0.0.1:1", "endpoints": [PAGINATIONS["none"]]},
                                         key=f"t:{uuid.uuid4().hex}")).test()  # fmt: skip
    assert (refused.ok, refused.stage) == (False, "connect") and str(port) not in refused.message
    unknown = adapter_for(ConnectionSpec("rest", {"base_url": "http://no-such-host.invalid", "endpoints": []},
                                         key=f"t:{uuid.uuid4().hex}")).test()  # fmt: skip
    assert (unknown.ok, unknown.stage) == (False, "dns")


def test_an_api_key_in_the_query_never_shows_in_an_error(rest):
    auth, credentials = AUTHS["query"]
    with pytest.raises(SourceError) as caught:
        _read(_spec(rest, [{"name": "f", "path": "/fail"}], auth, credentials), "f")
    assert s.API_KEY not in str(caught.value.message) and s.API_KEY not in str(caught.value.details)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"base_url": "ftp://x"}, "settings.base_url"),
        ({"base_url": "https://u:p@x.example"}, "credentials"),
        ({"base_url": "https://x.example", "auth": {"type": "api_key"}}, "header"),
        ({"base_url": "https://x.example", "auth": {"type": "magic"}}, "settings.auth.type"),
        ({"base_url": "https://x.example", "endpoints": [{"name": "a"}]}, "settings.endpoints[0].path"),
        ({"base_url": "https://x.example",
          "endpoints": [{"name": "a", "path": "/a", "pagination": {"type": "cursor"}}]}, "cursor_path"),
        ({"base_url": "https://x.example", "verify_tls": False}, "allow_unverified_tls"),
    ],
)  # fmt: skip
def test_settings_are_validated_naming_the_field(settings, named):
    with pytest.raises(AppError) as caught:
        RESTAdapter.validate_settings(settings, {})
    assert named in caught.value.message and caught.value.status_code == 400
    RESTAdapter.validate_settings({"base_url": "https://x.example", "verify_tls": False, "allow_unverified_tls": True})


def test_requests_go_to_the_checked_address_with_the_host_name_kept(rest):
    port = rest.server.server_address[1]
    spec = ConnectionSpec("rest", {"base_url": f"http://localhost:{port}", "endpoints": [PAGINATIONS["none"]]},
                          key=f"t:{uuid.uuid4().hex}")  # fmt: skip
    before = len(rest.requests)
    assert adapter_for(spec).test().ok
    assert rest.requests[before][2]["Host"] == f"localhost:{port}"


def test_private_addresses_are_refused_unless_allowed(rest, settings):
    settings.SOURCES_ALLOW_PRIVATE_NETWORKS = False
    outcome = adapter_for(_spec(rest, [PAGINATIONS["none"]])).test()
    assert (outcome.ok, outcome.stage) == (False, "connect") and "loopback" in outcome.message


@pytest.fixture(scope="module")
def tls_rest(tmp_path_factory) -> Iterator[s.RestStandin]:
    """The REST stand-in behind TLS with a self-signed certificate for localhost."""
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    standin = s.RestStandin()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    standin.server.socket = context.wrap_socket(standin.server.socket, server_side=True)
    with standin:
        yield standin


def test_tls_is_verified_unless_explicitly_and_unsafely_turned_off(tls_rest):
    port = tls_rest.server.server_address[1]
    settings = {"base_url": f"https://localhost:{port}", "endpoints": [PAGINATIONS["page"]]}
    refused = adapter_for(ConnectionSpec("rest", settings, key=f"t:{uuid.uuid4().hex}")).test()
    assert (refused.ok, refused.stage) == (False, "tls")
    # verify_tls false alone is not enough: both flags, as validation demands.
    half = adapter_for(ConnectionSpec("rest", {**settings, "verify_tls": False}, key=f"t:{uuid.uuid4().hex}")).test()
    assert half.stage == "tls"
    unsafe = {**settings, "verify_tls": False, "allow_unverified_tls": True}
    RESTAdapter.validate_settings(unsafe)
    batches, _ = _read(ConnectionSpec("rest", unsafe, key=f"t:{uuid.uuid4().hex}"), "p")
    assert sum(len(b) for b in batches) == 25


def test_an_api_key_in_the_query_is_never_logged(rest, caplog):
    caplog.set_level(logging.DEBUG)
    auth, credentials = AUTHS["query"]
    _read(_spec(rest, [{"name": "a", "path": "/auth/query", "records_path": "data.items"}], auth, credentials), "a")
    assert any("api_key=" in path for _, path, _ in rest.requests)  # it was sent
    assert s.API_KEY not in caplog.text


def test_retry_after_is_read_as_seconds_or_an_http_date_and_capped(settings):
    settings.SOURCES_RETRY_WAIT_MAX_SECONDS = 30
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds("") == 1.0 and retry_after_seconds("soon") == 1.0
    assert retry_after_seconds("3600") == 30.0
    in_ten = format_datetime(datetime.now(UTC) + timedelta(seconds=10), usegmt=True)
    assert 5 <= retry_after_seconds(in_ten) <= 10
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
