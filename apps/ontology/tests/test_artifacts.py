import importlib.util
import sys
import typing
import warnings
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from pydantic import ValidationError

from apps.core.errors import AppError
from apps.core.tests.factories import MembershipFactory
from apps.ontology.queries import entity_list
from apps.ontology.services.artifacts import artifacts_generate, pydantic_module_source
from apps.ontology.services.entities import AttributeInput, EntityInput, entity_create
from apps.ontology.services.relationships import RelationshipInput, relationship_create

pytestmark = pytest.mark.django_db
URL = "/api/v1/ontology/artifacts/"

POLICY = EntityInput(
    code="policy",
    name="Policy",
    kind="reference",
    attributes=[
        AttributeInput("policy_id", "string", nullable=False),
        AttributeInput("lob", "string", nullable=False, enum_values=("Health", "Life")),
        AttributeInput("premium", "decimal"),
        AttributeInput("start_date", "date"),
        AttributeInput("active", "boolean"),
        AttributeInput("updated_at", "timestamp"),
        AttributeInput("extra", "json"),
        # Python keywords and names a model cannot use as they are; none is an SQL key word.
        AttributeInput("class", "string"),
        AttributeInput("date", "date"),
        AttributeInput("json", "integer"),
        AttributeInput("model_config", "string"),
        AttributeInput("model_dump_at", "timestamp"),
    ],
)
POLICY_SNAPSHOT = EntityInput(
    code="policy_snapshot",
    name="Policy snapshot",
    kind="time_series",
    time_attribute="snapshot_date",
    attributes=[
        AttributeInput("snapshot_date", "date", nullable=False),
        AttributeInput("policy_id", "string", nullable=False),
        AttributeInput("status", "string", enum_values=("Active", "Terminated")),
        AttributeInput("members", "integer"),
    ],
)
GOOD_POLICY = {
    "policy_id": "P-1",
    "lob": "Health",
    "premium": "120.50",
    "start_date": "2024-01-01",
    "active": True,
    "updated_at": "2024-01-02T10:00:00+01:00",
    "extra": {"channel": ["web"]},
    "class": "gold",
    "date": "2024-03-01",
    "json": 7,
    "model_config": "standard",
    "model_dump_at": "2024-01-03T00:00:00Z",
}


@pytest.fixture
def admin(db):
    return MembershipFactory(role="admin", is_default=True)


@pytest.fixture
def ontology(admin):
    for data in (POLICY, POLICY_SNAPSHOT):
        entity_create(client_id=admin.client_id, data=data)
    relationship_create(
        client_id=admin.client_id,
        data=RelationshipInput("snapshot_policy", "policy_snapshot", "policy", "many_to_one", "policy_id", "policy_id"),
    )
    return admin


def _import(source: str, tmp_path, monkeypatch, name: str = "ae_generated_models"):
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. a field shadowing a BaseModel attribute
        spec.loader.exec_module(module)
    return module


def _table_exists(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f'{settings.ANALYTICS_SCHEMA}."{table}"'])
        return cursor.fetchone()[0] is not None


def _is_hypertable(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_schema = %s AND hypertable_name = %s",
            [settings.ANALYTICS_SCHEMA, table],
        )
        return cursor.fetchone() is not None


def test_generated_module_imports_and_validates_rows(ontology, tmp_path, monkeypatch):
    artifacts = artifacts_generate(client_id=ontology.client_id)
    module = _import(artifacts.pydantic, tmp_path, monkeypatch)

    assert set(module.MODELS) == {"policy", "policy_snapshot"}
    policy_model = module.MODELS["policy"]
    assert policy_model is module.Policy
    assert module.MODELS["policy_snapshot"] is module.PolicySnapshot

    policy = policy_model.model_validate(GOOD_POLICY)
    assert policy.premium == Decimal("120.50")
    assert policy.start_date == date(2024, 1, 1)
    assert policy.updated_at == datetime(2024, 1, 2, 9, 0, tzinfo=UTC)
    # Keyword and shadowing codes are fields with aliases: rows keep their column names.
    assert policy.class_ == "gold"
    assert policy.date_ == date(2024, 3, 1)
    assert policy.json_ == 7
    assert policy.model_config_ == "standard"
    assert policy.field_model_dump_at == datetime(2024, 1, 3, tzinfo=UTC)
    assert set(policy.model_dump()) == set(GOOD_POLICY)
    assert policy.model_dump()["class"] == "gold"
    # Nullable attributes may be left out.
    minimal = policy_model.model_validate({"policy_id": "P-2", "lob": "Life"})
    assert minimal.premium is None and minimal.class_ is None

    snapshot = module.PolicySnapshot.model_validate(
        {"snapshot_date": "2024-05-31", "policy_id": "P-1", "status": "Active", "members": 3}
    )
    assert snapshot.status == "Active"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"premium": "a lot"}, "premium"),  # wrong type
        ({"json": "seven"}, "json"),  # wrong type behind an alias
        ({"start_date": "yesterday"}, "start_date"),
        ({"updated_at": "2024-01-02T10:00:00"}, "updated_at"),  # timestamps carry an offset
        ({"lob": "Car"}, "lob"),  # outside the enum
        ({"surprise": 1}, "surprise"),  # extra key
        ({"policy_id": None}, "policy_id"),  # required, not nullable
    ],
)
def test_generated_model_rejects_bad_rows(ontology, tmp_path, monkeypatch, change, field):
    module = _import(artifacts_generate(client_id=ontology.client_id).pydantic, tmp_path, monkeypatch)
    with pytest.raises(ValidationError) as raised:
        module.Policy.model_validate({**GOOD_POLICY, **change})
    assert [error["loc"][0] for error in raised.value.errors()] == [field]


def test_generated_model_requires_non_nullable_attributes(ontology, tmp_path, monkeypatch):
    module = _import(artifacts_generate(client_id=ontology.client_id).pydantic, tmp_path, monkeypatch)
    row = {k: v for k, v in GOOD_POLICY.items() if k != "lob"}
    with pytest.raises(ValidationError) as raised:
        module.Policy.model_validate(row)
    assert raised.value.errors()[0]["type"] == "missing"
    assert raised.value.errors()[0]["loc"] == ("lob",)


def test_values_are_embedded_as_literals_never_as_code(admin, tmp_path, monkeypatch):
    hostile = 'x"]; import os; os.system("echo pwned") #'
    entity_create(
        client_id=admin.client_id,
        data=EntityInput(
            code="odd",
            name='Odd """ name\nimport os',
            kind="reference",
            description="ends with a backslash \\",
            attributes=[
                AttributeInput("choice", "string", nullable=False, enum_values=(hostile, "it's", "two\nlines")),
                AttributeInput("note", "string", description="'''\"\"\""),
            ],
        ),
    )
    source = artifacts_generate(client_id=admin.client_id).pydantic
    module = _import(source, tmp_path, monkeypatch, name="ae_generated_odd")

    assert not hasattr(module, "os")
    assert typing.get_args(module.Odd.model_fields["choice"].annotation) == (hostile, "it's", "two\nlines")
    assert module.Odd.model_fields["note"].description == "'''\"\"\""
    assert module.Odd.__doc__.startswith('Odd """ name\nimport os (odd, reference)')
    assert module.Odd.model_validate({"choice": "two\nlines"}).choice == "two\nlines"


def test_module_source_is_deterministic_and_names_client_and_time(ontology):
    entities = list(entity_list(client_id=ontology.client_id))
    at = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    first = pydantic_module_source(entities, client_code=ontology.client.code, generated_at=at)
    again = pydantic_module_source(list(reversed(entities)), client_code=ontology.client.code, generated_at=at)
    assert first == again
    header = first.splitlines()[:2]
    assert header[0] == f"# Generated by Analytics Engine from the ontology of client {ontology.client.code}"
    assert header[1].startswith("# at 2024-06-01T12:00:00+00:00.")
    assert 'model_config = ConfigDict(extra="forbid")' in first
    assert 'lob: Literal["Health", "Life"]\n' in first
    assert 'class_: str | None = Field(default=None, alias="class")' in first
    compile(first, "models.py", "exec")


def test_ddl_makes_a_hypertable_for_time_series_only(ontology):
    artifacts = artifacts_generate(client_id=ontology.client_id)
    schema, prefix = settings.ANALYTICS_SCHEMA, f"c{ontology.client_id}"
    assert list(artifacts.ddl) == ["policy", "policy_snapshot"]

    series = artifacts.ddl["policy_snapshot"]
    assert f'CREATE TABLE IF NOT EXISTS "{schema}"."{prefix}_policy_snapshot"' in "\n".join(series)
    assert any("create_hypertable" in s and f"{prefix}_policy_snapshot" in s for s in series)
    assert any("CREATE INDEX IF NOT EXISTS" in s and '"policy_id"' in s for s in series)

    reference = artifacts.ddl["policy"]
    assert f'CREATE TABLE IF NOT EXISTS "{schema}"."{prefix}_policy"' in "\n".join(reference)
    assert not any("hypertable" in s for s in reference)
    assert artifacts.applied is False


def test_entity_selection_and_unknown_codes(ontology, admin):
    artifacts = artifacts_generate(client_id=ontology.client_id, entity_codes=["policy_snapshot"])
    assert list(artifacts.ddl) == ["policy_snapshot"]
    assert "class PolicySnapshot(BaseModel):" in artifacts.pydantic
    assert "class Policy(BaseModel):" not in artifacts.pydantic

    with pytest.raises(AppError) as raised:
        artifacts_generate(client_id=ontology.client_id, entity_codes=["policy", "claim"])
    assert raised.value.status_code == 400
    assert raised.value.code == "unknown_entity"
    assert "'claim'" in raised.value.message
    assert raised.value.details == {"entities": ["claim"]}


def test_another_tenants_entities_are_unknown(ontology):
    other = MembershipFactory(role="admin", is_default=True)
    entity_create(
        client_id=other.client_id,
        data=EntityInput(
            code="claim", name="Claim", kind="reference", attributes=[AttributeInput("claim_id", "string")]
        ),
    )
    artifacts = artifacts_generate(client_id=ontology.client_id)
    assert "claim" not in artifacts.ddl and "Claim" not in artifacts.pydantic
    with pytest.raises(AppError):
        artifacts_generate(client_id=ontology.client_id, entity_codes=["claim"])


def test_apply_recreates_a_missing_table_and_is_idempotent(ontology):
    table = f"c{ontology.client_id}_policy_snapshot"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE "{settings.ANALYTICS_SCHEMA}"."{table}"')
    assert not _table_exists(table)

    first = artifacts_generate(client_id=ontology.client_id, apply=True)
    second = artifacts_generate(client_id=ontology.client_id, apply=True)

    assert first.applied and second.applied
    assert first.ddl == second.ddl
    assert _table_exists(table) and _is_hypertable(table)
    assert _table_exists(f"c{ontology.client_id}_policy")


def test_command_writes_models_and_ddl(ontology, tmp_path, monkeypatch):
    out = tmp_path / "generated"
    call_command("generate_artifacts", "--client", ontology.client.code, "--output", str(out))

    models, ddl = (out / "models.py").read_text(), (out / "ddl.sql").read_text()
    module = _import(models, tmp_path, monkeypatch, name="ae_generated_cmd")
    assert set(module.MODELS) == {"policy", "policy_snapshot"}
    assert ddl.startswith("-- Generated by Analytics Engine")
    assert "BEGIN;" in ddl and ddl.rstrip().endswith("COMMIT;")
    assert "create_hypertable" in ddl and f'"c{ontology.client_id}_policy"' in ddl


def test_command_prints_to_stdout_for_the_named_entities(ontology, capsys):
    call_command("generate_artifacts", "--client", ontology.client.code, "--entity", "policy")
    out = capsys.readouterr().out
    assert "class Policy(BaseModel):" in out and "class PolicySnapshot" not in out
    assert f'CREATE TABLE IF NOT EXISTS "{settings.ANALYTICS_SCHEMA}"."c{ontology.client_id}_policy"' in out


def test_command_applies_the_ddl(ontology, tmp_path):
    table = f"c{ontology.client_id}_policy"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE "{settings.ANALYTICS_SCHEMA}"."{table}"')
    call_command("generate_artifacts", "--client", ontology.client.code, "--output", str(tmp_path), "--apply")
    assert _table_exists(table)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--client", "no_such_client"], "No client with code 'no_such_client'"),
        (["--entity", "claim"], "Unknown entity 'claim'"),
    ],
)
def test_command_refuses_unknown_client_or_entity(ontology, tmp_path, args, message):
    if args[0] == "--entity":
        args = ["--client", ontology.client.code, *args]
    with pytest.raises(CommandError, match=message):
        call_command("generate_artifacts", *args, "--output", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_api_returns_models_and_ddl_to_admins(ontology, api_client):
    api_client.force_authenticate(ontology.user)
    response = api_client.post(URL, {"entities": ["policy_snapshot"]}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"pydantic", "ddl", "applied"}
    assert "class PolicySnapshot(BaseModel):" in body["pydantic"]
    assert list(body["ddl"]) == ["policy_snapshot"]
    assert any("create_hypertable" in s for s in body["ddl"]["policy_snapshot"])
    assert body["applied"] is False

    everything = api_client.post(URL.rstrip("/"), {}, format="json")
    assert everything.status_code == 200
    assert list(everything.json()["ddl"]) == ["policy", "policy_snapshot"]


def test_api_apply(ontology, api_client):
    table = f"c{ontology.client_id}_policy"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE "{settings.ANALYTICS_SCHEMA}"."{table}"')
    api_client.force_authenticate(ontology.user)
    for _ in range(2):
        response = api_client.post(URL, {"apply": True}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["applied"] is True
    assert _table_exists(table)


def test_api_unknown_entity_is_400_naming_it(ontology, api_client):
    api_client.force_authenticate(ontology.user)
    response = api_client.post(URL, {"entities": ["policy", "claim"]}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unknown_entity"
    assert "'claim'" in error["message"]
    assert error["details"] == {"entities": ["claim"]}


def test_api_bad_input_is_400(ontology, api_client):
    api_client.force_authenticate(ontology.user)
    response = api_client.post(URL, {"entities": "policy", "apply": "maybe"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


@pytest.mark.parametrize("role", ["analyst", "viewer"])
def test_api_is_for_admins_only(ontology, api_client, role):
    member = MembershipFactory(client=ontology.client, role=role, is_default=True)
    api_client.force_authenticate(member.user)
    response = api_client.post(URL, {"apply": True}, format="json")
    assert response.status_code == 403
    assert "administrators" in response.json()["error"]["message"]


def test_api_anonymous_is_401(ontology, api_client):
    response = api_client.post(URL, {}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
