"""`/api/v1/sources/connections/` (API.md, "Sources and ingestion"): CRUD
with settings checked per kind, credentials write-only (never echoed),
another client's connection a 404, viewers refused; test, discover and
preview end to end against real PostgreSQL and MariaDB sources."""

import json
import logging
import socket

import pytest
from django.apps import apps as django_apps
from rest_framework.test import APIClient

from apps.connectors.models import ConnectionProfile
from apps.core.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/sources/connections/"


def api_for(role: str = "analyst", client=None) -> tuple[APIClient, object]:
    kwargs = {"client": client} if client is not None else {}
    membership = MembershipFactory(role=role, is_default=True, **kwargs)
    api = APIClient()
    api.force_authenticate(membership.user)
    return api, membership.client


def body(source: dict, code: str = "policy_admin", **extra) -> dict:
    return {"code": code, "name": "Policy admin", "kind": source["kind"], "settings": dict(source["settings"]),
            "credentials": dict(source["credentials"]), **extra}  # fmt: skip


PG = {"kind": "postgresql", "settings": {"host": "db.example", "port": 5432, "database": "ledger"},
      "credentials": {"username": "reader", "password": "S3cret-pw!"}}  # fmt: skip


def test_crud_never_echoes_credentials():
    api, client = api_for()
    created = api.post(URL, body(PG), format="json")
    assert created.status_code == 201, created.content
    assert "S3cret-pw!" not in created.content.decode() and "credentials" not in created.json()
    assert created.json()["credentials_set"] is True and created.json()["settings"]["database"] == "ledger"
    stored = ConnectionProfile.objects.get(client=client, code="policy_admin")
    assert stored.credentials_encrypted and "S3cret-pw!" not in stored.credentials_encrypted

    listed = api.get(URL).json()
    assert listed["count"] == 1 and {"next", "previous"} <= set(listed)
    assert [c["code"] for c in listed["results"]] == ["policy_admin"]
    for path in (f"{URL}policy_admin/", f"{URL}policy_admin"):
        got = api.get(path)
        assert got.status_code == 200 and got.json()["credentials_set"] is True
        assert "S3cret-pw!" not in got.content.decode()

    # PATCH without credentials keeps them; with {} clears them.
    patched = api.patch(f"{URL}policy_admin/", {"name": "Renamed", "settings": {**PG["settings"], "port": 6432}},
                        format="json")  # fmt: skip
    assert patched.status_code == 200, patched.content
    assert patched.json()["name"] == "Renamed" and patched.json()["credentials_set"] is True
    put = api.put(f"{URL}policy_admin", {"kind": "postgresql", "settings": PG["settings"], "credentials": {}},
                  format="json")  # fmt: skip
    assert put.status_code == 200 and put.json()["credentials_set"] is False and put.json()["name"] == ""
    assert api.delete(f"{URL}policy_admin/").status_code == 204
    assert api.get(f"{URL}policy_admin/").status_code == 404


@pytest.mark.parametrize(
    ("change", "code", "named"),
    [
        ({"code": "Policy Admin"}, "invalid_code", "lower snake case"),
        ({"kind": "ftp"}, "invalid_kind", "'ftp'"),
        ({"settings": {"port": 5432, "database": "x"}}, "invalid_settings", "settings.host"),
        ({"settings": {"host": "h", "port": 70000, "database": "x"}}, "invalid_settings", "70000"),
        ({"settings": {"host": "h", "database": "x", "sslmode": "always"}}, "invalid_settings", "'always'"),
        ({"settings": {"host": "h"}}, "invalid_settings", "settings.database"),
        ({"settings": {"host": "h", "database": "x", "passwd": "p"}}, "invalid_settings", "'passwd'"),
        ({"credentials": {"password": 12}}, "invalid_credentials", "object of strings"),
    ],
)
def test_validation_names_the_problem(change, code, named):
    api, _ = api_for()
    response = api.post(URL, {**body(PG), **change}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == code and named in error["message"], error


def test_oracle_takes_a_service_name_and_duplicates_conflict():
    api, _ = api_for()
    oracle = {"code": "erp", "kind": "oracle", "settings": {"host": "ora.example", "service_name": "ERP"}}
    assert api.post(URL, oracle, format="json").status_code == 201
    again = api.post(URL, oracle, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "duplicate_code"
    assert api.patch(f"{URL}erp/", {"code": "other"}, format="json").json()["error"]["code"] == "immutable_field"


def test_another_clients_connection_is_404_and_viewers_are_refused():
    api, _ = api_for()
    assert api.post(URL, body(PG), format="json").status_code == 201
    other, _ = api_for()
    assert other.get(f"{URL}policy_admin/").status_code == 404
    assert other.post(f"{URL}policy_admin/test").status_code == 404
    assert other.delete(f"{URL}policy_admin/").status_code == 404
    assert other.get(URL).json()["count"] == 0
    viewer, _ = api_for("viewer")
    assert viewer.get(URL).status_code == 403
    assert viewer.post(URL, body(PG, code="x"), format="json").status_code == 403


def test_a_connection_a_job_reads_cannot_be_deleted():
    # Through the app registry: connectors sits below ingestion and may not import it, even in tests.
    IngestionJob = django_apps.get_model("ingestion", "IngestionJob")
    api, client = api_for()
    assert api.post(URL, body(PG), format="json").status_code == 201
    connection = ConnectionProfile.objects.get(client=client, code="policy_admin")
    IngestionJob.objects.create(client=client, code="daily_policies", connection=connection, entity_code="p")
    response = api.delete(f"{URL}policy_admin/")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "connection_in_use" and "'daily_policies'" in error["message"]
    assert error["details"]["jobs"] == ["daily_policies"]


@pytest.fixture(params=["pg_source", "mariadb_source"])
def source(request) -> dict:
    return request.getfixturevalue(request.param)


def test_test_discover_preview_end_to_end(source):
    from apps.ontology.selectors.data_sources import data_source_get

    source["execute"]("CREATE TABLE policies (pol_id int PRIMARY KEY, stat_cd char(1) NOT NULL, premium decimal(9,2),"
                      " eff_dt date)")  # fmt: skip
    source["execute"]("INSERT INTO policies VALUES (1, 'A', 10.50, '2026-01-02'), (2, 'T', 7.25, '2026-01-03')")
    api, client = api_for()
    assert api.post(URL, body(source), format="json").status_code == 201

    tested = api.post(f"{URL}policy_admin/test")
    assert tested.status_code == 200 and tested.json()["ok"] is True and tested.json()["stage"] == "query"
    assert ConnectionProfile.objects.get(client=client, code="policy_admin").last_test_ok is True

    discovered = api.get(f"{URL}policy_admin/discover")
    assert discovered.status_code == 200, discovered.content
    (policies,) = discovered.json()["objects"]
    assert policies["name"] == "policies"
    assert [(c["name"], c["type"], c["nullable"]) for c in policies["columns"]] == [
        ("pol_id", "integer", False), ("stat_cd", "string", False), ("premium", "decimal", True),
        ("eff_dt", "date", True),
    ]  # fmt: skip
    recorded = data_source_get(client_id=client.pk, code="policy_admin")
    assert recorded.kind == "sql" and recorded.settings["connection"] == "policy_admin"
    assert recorded.settings["objects"][0]["columns"][0]["primary_key"] is True
    assert source["credentials"]["password"] not in json.dumps(recorded.settings)

    preview = api.get(f"{URL}policy_admin/preview", {"object": "policies", "limit": 1})
    assert preview.status_code == 200, preview.content
    assert preview.json() == {
        "columns": ["pol_id", "stat_cd", "premium", "eff_dt"],
        "types": {"pol_id": "integer", "stat_cd": "string", "premium": "decimal", "eff_dt": "date"},
        "rows": [{"pol_id": 1, "stat_cd": "A", "premium": "10.50", "eff_dt": "2026-01-02"}],
    }
    query = api.get(f"{URL}policy_admin/preview",
                    {"query": "SELECT stat_cd, premium * 2 AS twice FROM policies WHERE pol_id = 2"})  # fmt: skip
    assert query.json()["rows"] == [{"stat_cd": "T", "twice": "14.50"}]
    assert query.json()["types"] == {"stat_cd": "string", "twice": "decimal"}


def test_preview_errors_name_the_problem(pg_source, settings):
    settings.SOURCES_PREVIEW_MAX_ROWS = 50
    api, _ = api_for()
    assert api.post(URL, body(pg_source), format="json").status_code == 201
    over = api.get(f"{URL}policy_admin/preview", {"object": "t", "limit": 51})
    assert over.status_code == 400 and "cap of 50 rows" in over.json()["error"]["message"]
    missing = api.get(f"{URL}policy_admin/preview", {"object": "nope"})
    assert missing.status_code == 400 and "'nope'" in missing.json()["error"]["message"]
    write = api.get(f"{URL}policy_admin/preview", {"query": "DELETE FROM t"})
    assert write.status_code == 400 and write.json()["error"]["code"] == "invalid_query"


def test_a_failed_test_answers_200_with_the_stage_and_no_password(pg_source, caplog):
    caplog.set_level(logging.DEBUG)
    api, client = api_for()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    wrong = body(pg_source, credentials={**pg_source["credentials"], "password": "Not-the-pw-42"})
    assert api.post(URL, wrong, format="json").status_code == 201
    tested = api.post(f"{URL}policy_admin/test")
    assert tested.status_code == 200 and tested.json()["ok"] is False and tested.json()["stage"] == "auth"
    assert "Not-the-pw-42" not in tested.content.decode()
    stored = ConnectionProfile.objects.get(client=client, code="policy_admin")
    assert (stored.last_test_ok, stored.last_test_stage) == (False, "auth")
    api.patch(f"{URL}policy_admin/", {"settings": {**pg_source["settings"], "port": closed}}, format="json")
    assert api.post(f"{URL}policy_admin/test/").json()["stage"] == "connect"
    assert "Not-the-pw-42" not in caplog.text


@pytest.mark.parametrize(
    "payload",
    [
        [], "x", {"code": 5, "kind": "postgresql", "settings": {}}, {"code": "a", "kind": ["x"], "settings": {}},
        {"code": "a", "kind": "postgresql", "settings": []}, {"code": "a", "kind": "mysql", "settings": "host"},
        {"code": "a", "kind": "postgresql", "settings": {"host": "h", "database": "d"}, "credentials": "pw"},
        {"code": "a", "kind": "postgresql", "settings": {"host": "h", "database": "d", "port": True}},
        {"code": "a", "kind": "oracle", "settings": {"host": "h"}},
        {"code": "a", "kind": "postgresql", "settings": {"host": "h", "database": "d", "schemas": "public"}},
    ],
)  # fmt: skip
def test_hostile_bodies_answer_400(payload):
    api, _ = api_for()
    response = api.post(URL, payload, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["message"]


@pytest.mark.parametrize("params", [{"object": "t", "limit": "abc"}, {"object": "t", "limit": "0"}, {"limit": "5"},
                                    {"object": "t", "query": "SELECT 1"}, {"object": "x\x00y"},
                                    {"query": "SELECT 1; DROP TABLE t"}])  # fmt: skip
def test_hostile_previews_answer_400(pg_source, params):
    api, _ = api_for()
    assert api.post(URL, body(pg_source), format="json").status_code == 201
    response = api.get(f"{URL}policy_admin/preview", params)
    assert response.status_code == 400, response.content


# --- testing settings before saving them ------------------------------------------------


def test_settings_are_tested_before_saving_a_wrong_password_then_the_right_one(source, caplog):
    caplog.set_level(logging.DEBUG)
    api, client = api_for()
    wrong = "not-the-password-42"
    tried = api.post(f"{URL}test", body(source, credentials={**source["credentials"], "password": wrong}),
                     format="json")  # fmt: skip
    assert tried.status_code == 200, tried.content
    assert (tried.json()["ok"], tried.json()["stage"]) == (False, "auth")
    assert "Authentication failed" in tried.json()["message"] and wrong not in tried.content.decode()
    assert wrong not in caplog.text
    right = api.post(f"{URL}test/", body(source), format="json")
    assert right.status_code == 200 and right.json()["ok"] is True and right.json()["stage"] == "query"
    assert set(right.json()) == {"ok", "stage", "message"}
    assert not ConnectionProfile.objects.filter(client=client).exists()  # nothing saved, not even the outcome


def test_testing_settings_checks_them_as_create_does_with_the_destination_rule(pg_source):
    api, client = api_for()
    unknown = api.post(f"{URL}test", body(pg_source, settings={**pg_source["settings"], "hots": "x"}), format="json")
    assert unknown.status_code == 400 and "'hots'" in unknown.json()["error"]["message"]
    no_kind = api.post(f"{URL}test", {"settings": {}}, format="json")
    assert no_kind.status_code == 400 and "kind" in no_kind.json()["error"]["details"]
    metadata = api.post(f"{URL}test", body(pg_source, settings={**pg_source["settings"], "host": "169.254.169.254"}),
                        format="json")  # fmt: skip
    assert metadata.status_code == 400 and "169.254.169.254" in metadata.json()["error"]["message"]
    # No code needed, and a code that exists is not taken: nothing is created or changed.
    assert api.post(f"{URL}test", {k: v for k, v in body(pg_source).items() if k != "code"},
                    format="json").json()["ok"] is True  # fmt: skip
    assert not ConnectionProfile.objects.filter(client=client).exists()


def test_testing_settings_without_credentials_uses_the_saved_connections(pg_source):
    api, client = api_for()
    assert api.post(URL, body(pg_source), format="json").status_code == 201
    before = ConnectionProfile.objects.get(client=client, code="policy_admin")
    changed = {
        "code": "policy_admin",
        "kind": "postgresql",
        "settings": {**pg_source["settings"], "sslmode": "disable"},
    }
    tried = api.post(f"{URL}test", changed, format="json")
    assert tried.json()["ok"] is True, tried.json()
    without = api.post(f"{URL}test", {**changed, "code": "another"}, format="json")
    assert (without.json()["ok"], without.json()["stage"]) == (False, "auth")  # no saved one lends its password
    after = ConnectionProfile.objects.get(client=client, code="policy_admin")
    assert (after.settings, after.last_tested_at) == (before.settings, None)


def test_a_connection_whose_code_is_test_is_still_read_changed_and_deleted():
    api, _ = api_for()
    assert api.post(URL, body(PG, code="test"), format="json").status_code == 201
    assert api.get(f"{URL}test").json()["code"] == "test"
    assert api.patch(f"{URL}test/", {"name": "Renamed"}, format="json").json()["name"] == "Renamed"
    assert api.post(f"{URL}test/test").status_code == 200  # its own test (db.example does not resolve)
    assert api.delete(f"{URL}test").status_code == 204
    assert api.get(f"{URL}test").status_code == 404
