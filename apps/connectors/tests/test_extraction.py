"""`records_extract`, what ingestion reads through: the destination rule, the
stream opened (and retried only while opening fails on the network), the
circuit breaker that stops calling a source that keeps failing; and the
last discovery read back without the network."""

import socket

import pytest

from apps.connectors.network import host_validate
from apps.connectors.selectors.connections import connection_objects
from apps.connectors.services.connections import connection_create, connection_discover, connection_update
from apps.connectors.services.extraction import records_extract
from apps.connectors.types import ExtractRequest, SchemaChanged, SourceError
from apps.core.tests.factories import ClientFactory

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _connection(source: dict, code: str = "src") -> int:
    client = ClientFactory()
    fields = {"code": code, **{k: source[k] for k in ("kind", "settings", "credentials")}}
    connection_create(client_id=client.pk, user=None, fields=fields)
    return client.pk


def test_extracts_in_batches(mariadb_source):
    mariadb_source["execute"]("CREATE TABLE t (id int, name varchar(5))")
    mariadb_source["execute"]("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    client_id = _connection(mariadb_source)
    extraction = records_extract(
        client_id=client_id, connection_code="src", request=ExtractRequest(source_object="t", batch_size=2)
    )
    try:
        assert [c.name for c in extraction.columns] == ["id", "name"]
        assert [len(b) for b in extraction.batches] == [2, 1]
    finally:
        extraction.close()


def test_a_dropped_column_fails_before_any_row(pg_source):
    pg_source["execute"]("CREATE TABLE t (a int, b int)")
    client_id = _connection(pg_source)
    with pytest.raises(SchemaChanged, match="'b'"):
        pg_source["execute"]("ALTER TABLE t DROP COLUMN b")
        records_extract(
            client_id=client_id, connection_code="src", request=ExtractRequest(source_object="t", columns=("a", "b"))
        )


def test_refused_connections_are_retried_then_the_breaker_opens(pg_source, settings):
    settings.SOURCES_RETRY_ATTEMPTS = 2
    settings.SOURCES_RETRY_WAIT_MAX_SECONDS = 0.01
    settings.SOURCES_BREAKER_FAIL_MAX = 2
    client_id = _connection({**pg_source, "settings": {**pg_source["settings"], "port": _closed_port()}})
    request = ExtractRequest(source_object="t")
    with pytest.raises(SourceError, match="refused") as caught:
        records_extract(client_id=client_id, connection_code="src", request=request)
    assert caught.value.stage == "connect"
    # Two attempts counted two failures: the breaker is open, the source is not called.
    with pytest.raises(SourceError) as opened:
        records_extract(client_id=client_id, connection_code="src", request=request)
    assert (opened.value.status_code, opened.value.code) == (503, "source_unavailable")


def test_an_answer_does_not_open_the_breaker(pg_source, settings):
    settings.SOURCES_BREAKER_FAIL_MAX = 1
    settings.SOURCES_RETRY_WAIT_MAX_SECONDS = 0.01
    client_id = _connection({**pg_source, "credentials": {**pg_source["credentials"], "password": "wrong-pw"}})
    for _ in range(2):
        with pytest.raises(SourceError) as caught:
            records_extract(client_id=client_id, connection_code="src", request=ExtractRequest(source_object="t"))
        assert caught.value.code == "authentication_failed"


def test_the_destination_rule_applies(pg_source, settings):
    client_id = _connection(pg_source)  # saved while loopback is allowed, used after it no longer is
    settings.SOURCES_ALLOW_PRIVATE_NETWORKS = False
    with pytest.raises(SourceError) as caught:
        records_extract(client_id=client_id, connection_code="src", request=ExtractRequest(source_object="t"))
    assert caught.value.code == "destination_refused"


def test_the_last_discovery_is_read_back_and_updated(pg_source):
    pg_source["execute"]("CREATE TABLE a (id int PRIMARY KEY)")
    client_id = _connection(pg_source)
    assert connection_objects(client_id=client_id, code="src") == []
    connection_discover(client_id=client_id, code="src")
    (a,) = connection_objects(client_id=client_id, code="src")
    assert a.name == "a" and a.columns[0].primary_key
    pg_source["execute"]("CREATE TABLE b (x text)")
    connection_discover(client_id=client_id, code="src")
    assert [o.name for o in connection_objects(client_id=client_id, code="src")] == ["a", "b"]


def test_update_keeps_credentials_unless_given(pg_source):
    client_id = _connection(pg_source)
    connection_update(client_id=client_id, code="src", fields={"name": "Renamed"}, partial=True)
    extraction = records_extract(
        client_id=client_id, connection_code="src", request=ExtractRequest(source_query="SELECT 1 AS one")
    )
    assert [row for batch in extraction.batches for row in batch] == [{"one": 1}]
    extraction.close()


@pytest.mark.parametrize(
    ("host", "code"),
    [("169.254.169.254", "destination_refused"), ("[fe80::1]", "destination_refused"),
     ("db\r\nX: y", "invalid_settings"), ("db.example:5432", "invalid_settings"),
     ("http://db.example", "invalid_settings"), ("-db", "invalid_settings")],
)  # fmt: skip
def test_a_host_is_checked_when_saved(host, code):
    with pytest.raises(SourceError) as caught:
        host_validate(host)
    assert caught.value.code == code and caught.value.details["field"] == "host"


def test_a_public_name_or_address_is_kept_as_given():
    assert host_validate(" db.example.com ") == "db.example.com"
    assert host_validate("8.8.8.8") == "8.8.8.8"
