"""The consistency checker against real tables: entities are created through
the services, then their tables are damaged with raw SQL the way a hand edit,
a restore or a half-applied change would."""

from datetime import timedelta

import pytest
from django.db import connection
from psycopg import sql

from apps.core.errors import AppError
from apps.core.tests.factories import ClientFactory, MembershipFactory
from apps.ontology.models import DriftReport, MetricDefinition, RelationshipDefinition
from apps.ontology.services import drift
from apps.ontology.services.drift import schema_drift_check
from apps.ontology.services.entities import AttributeInput, EntityInput, entity_create
from apps.ontology.services.metrics import MetricInput, metric_create
from apps.ontology.services.relationships import RelationshipInput, relationship_create
from apps.ontology.tasks import drift_check_all
from apps.warehouse.selectors import hypertable_get, index_names, table_columns, table_exists
from apps.warehouse.services import index_name

pytestmark = pytest.mark.django_db

SCHEMA = "analytics_data"


def _ontology(client_id: int) -> dict:
    policy = entity_create(
        client_id=client_id,
        data=EntityInput(
            code="policy",
            name="Policy",
            kind="time_series",
            time_attribute="snapshot_date",
            attributes=[
                AttributeInput("snapshot_date", "date", nullable=False),
                AttributeInput("policy_id", "string", nullable=False),
                AttributeInput("customer_id", "string"),
                AttributeInput("premium", "integer"),
                AttributeInput("score", "decimal"),
                AttributeInput("region", "string"),
                AttributeInput("note", "string"),
            ],
        ),
    )
    customer = entity_create(
        client_id=client_id,
        data=EntityInput(
            code="customer",
            name="Customer",
            kind="reference",
            attributes=[AttributeInput("customer_id", "string", nullable=False), AttributeInput("segment", "string")],
        ),
    )
    relationship_create(
        client_id=client_id,
        data=RelationshipInput("policy_customer", "policy", "customer", "many_to_one", "customer_id", "customer_id"),
    )
    metric_create(client_id=client_id, data=MetricInput("total_premium", "Total premium", "SUM(premium)", "policy"))
    return {"policy": policy, "customer": customer}


@pytest.fixture
def tenant():
    return ClientFactory()


@pytest.fixture
def client_id(tenant):
    return tenant.pk


@pytest.fixture
def entities(client_id):
    return _ontology(client_id)


def _execute(template: str, table: str, *params) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL(template).format(sql.Identifier(SCHEMA, table)), params or None)


def _columns(table: str) -> dict[str, tuple[str, bool]]:
    return {c.name: (c.pg_type, c.nullable) for c in table_columns(table=table)}


def _findings(report: DriftReport, kind: str | None = None) -> list[dict]:
    return [f for f in report.findings if kind is None or f["kind"] == kind]


def _only(report: DriftReport, kind: str) -> dict:
    found = _findings(report, kind)
    assert len(found) == 1, report.findings
    return found[0]


def test_a_freshly_created_ontology_is_consistent(client_id, entities):
    report = schema_drift_check(client_id=client_id)

    assert report.status == DriftReport.Status.CONSISTENT
    assert report.findings == []
    assert report.triggered_by == "schedule"
    assert DriftReport.objects.filter(client_id=client_id).count() == 1


def test_a_dropped_column_is_added_back(client_id, entities):
    table = entities["policy"].table_name
    _execute("ALTER TABLE {} DROP COLUMN region", table)

    report = schema_drift_check(client_id=client_id, triggered_by="api")

    finding = _only(report, "missing_column")
    assert finding["entity"] == "policy"
    assert finding["column"] == "region"
    assert finding["action"] == "repaired"
    assert finding["sql"] == [f'ALTER TABLE "{SCHEMA}"."{table}" ADD COLUMN IF NOT EXISTS "region" text']
    assert report.status == DriftReport.Status.REPAIRED
    assert _columns(table)["region"] == ("text", True)
    assert schema_drift_check(client_id=client_id).status == DriftReport.Status.CONSISTENT


def test_a_dropped_non_null_column_comes_back_nullable_and_says_so(client_id, entities):
    table = entities["customer"].table_name
    _execute("ALTER TABLE {} DROP COLUMN customer_id CASCADE", table)

    report = schema_drift_check(client_id=client_id)

    assert _only(report, "missing_column")["action"] == "repaired"
    nullable = _only(report, "column_nullable")
    assert nullable["action"] == "reported"
    assert "Fill it, then set NOT NULL" in nullable["detail"]
    assert _columns(table)["customer_id"] == ("text", True)
    # The relationship key's index went with the column; it is rebuilt after the column is back.
    assert _only(report, "missing_index")["action"] == "repaired"
    assert index_name(table, ["customer_id"]) in index_names(table=table)
    assert report.status == DriftReport.Status.NEEDS_ATTENTION


def test_a_narrower_stored_type_is_widened_back(client_id, entities):
    table = entities["policy"].table_name
    _execute("ALTER TABLE {} ALTER COLUMN premium TYPE integer", table)  # int4, the ontology's integer is bigint
    _execute("ALTER TABLE {} ALTER COLUMN score TYPE bigint USING score::bigint", table)  # integer -> decimal
    _execute("ALTER TABLE {} ALTER COLUMN region TYPE boolean USING NULL", table)  # boolean -> string
    _execute("INSERT INTO {} (snapshot_date, policy_id, premium, score, region) VALUES (%s, 'p1', 7, 3, true)",
             table, "2026-01-05")  # fmt: skip

    report = schema_drift_check(client_id=client_id)

    repaired = {f["column"]: f for f in _findings(report, "type_mismatch")}
    assert set(repaired) == {"premium", "score", "region"}
    assert all(f["action"] == "repaired" for f in repaired.values())
    assert repaired["premium"]["sql"] == [
        f'ALTER TABLE "{SCHEMA}"."{table}" ALTER COLUMN "premium" TYPE bigint USING "premium"::bigint'
    ]
    columns = _columns(table)
    assert (columns["premium"][0], columns["score"][0], columns["region"][0]) == ("bigint", "numeric", "text")
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT premium, score, region FROM {}").format(sql.Identifier(SCHEMA, table)))
        assert cursor.fetchall() == [(7, 3, "true")]  # values kept through the widening


def test_a_type_that_would_lose_values_is_refused_and_left_alone(client_id, entities):
    table = entities["policy"].table_name
    _execute("ALTER TABLE {} ALTER COLUMN premium TYPE numeric", table)  # wider than the ontology's integer
    _execute("ALTER TABLE {} ALTER COLUMN customer_id TYPE jsonb USING NULL", table)  # a type we never create
    _execute("INSERT INTO {} (snapshot_date, policy_id, premium) VALUES (%s, 'p1', 12.5)", table, "2026-01-05")

    report = schema_drift_check(client_id=client_id)

    refused = {f["column"]: f for f in _findings(report, "type_mismatch")}
    assert set(refused) == {"premium", "customer_id"}
    assert all(f["action"] == "refused" and f["sql"] == [] for f in refused.values())
    assert "stored as numeric; the ontology says integer (bigint)" in refused["premium"]["detail"]
    assert report.status == DriftReport.Status.NEEDS_ATTENTION
    assert _columns(table)["premium"][0] == "numeric"
    assert _columns(table)["customer_id"][0] == "jsonb"
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT premium FROM {}").format(sql.Identifier(SCHEMA, table)))
        assert cursor.fetchone()[0] == pytest.approx(12.5)


def test_an_extra_column_is_reported_and_never_dropped(client_id, entities):
    table = entities["customer"].table_name
    _execute("ALTER TABLE {} ADD COLUMN legacy_code text", table)
    _execute("INSERT INTO {} (customer_id, legacy_code) VALUES ('c1', 'old')", table)

    report = schema_drift_check(client_id=client_id)

    finding = _only(report, "extra_column")
    assert (finding["entity"], finding["column"], finding["action"]) == ("customer", "legacy_code", "reported")
    assert "dropping it would drop its data" in finding["detail"]
    assert report.status == DriftReport.Status.NEEDS_ATTENTION
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT legacy_code FROM {}").format(sql.Identifier(SCHEMA, table)))
        assert cursor.fetchone() == ("old",)


def test_not_null_is_dropped_when_the_ontology_allows_nulls_but_never_set(client_id, entities):
    table = entities["policy"].table_name
    _execute("ALTER TABLE {} ALTER COLUMN note SET NOT NULL", table)
    _execute("ALTER TABLE {} ALTER COLUMN policy_id DROP NOT NULL", table)

    report = schema_drift_check(client_id=client_id)

    dropped = _only(report, "column_not_null")
    assert (dropped["column"], dropped["action"]) == ("note", "repaired")
    assert dropped["sql"] == [f'ALTER TABLE "{SCHEMA}"."{table}" ALTER COLUMN "note" DROP NOT NULL']
    reported = _only(report, "column_nullable")
    assert (reported["column"], reported["action"], reported["sql"]) == ("policy_id", "reported", [])
    columns = _columns(table)
    assert columns["note"][1] is True
    assert columns["policy_id"][1] is True  # left nullable: setting NOT NULL is a person's call


def test_a_dropped_relationship_index_is_rebuilt(client_id, entities):
    table = entities["policy"].table_name
    name = index_name(table, ["customer_id"])
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(SCHEMA, name)))

    report = schema_drift_check(client_id=client_id)

    finding = _only(report, "missing_index")
    assert (finding["entity"], finding["action"]) == ("policy", "repaired")
    assert finding["sql"] == [f'CREATE INDEX IF NOT EXISTS "{name}" ON "{SCHEMA}"."{table}" ("customer_id")']
    assert name in index_names(table=table)


def test_a_dropped_table_is_created_again_as_a_hypertable_with_its_indexes(client_id, entities):
    table = entities["policy"].table_name
    _execute("DROP TABLE {}", table)

    report = schema_drift_check(client_id=client_id)

    finding = _only(report, "missing_table")
    assert finding["action"] == "repaired"
    assert any("create_hypertable" in statement for statement in finding["sql"])
    assert len(report.findings) == 1  # the new table is whole: nothing else to say about it
    assert table_exists(table=table)
    assert hypertable_get(table=table).time_column == "snapshot_date"
    assert index_name(table, ["customer_id"]) in index_names(table=table)
    assert _columns(table)["snapshot_date"] == ("date", False)


def test_a_plain_table_becomes_a_hypertable_only_while_empty(client_id, entities):
    table = entities["policy"].table_name
    _execute("DROP TABLE {}", table)
    _execute("CREATE TABLE {} (snapshot_date date NOT NULL, policy_id text NOT NULL, customer_id text,"
             " premium bigint, score numeric, region text, note text)", table)  # fmt: skip
    _execute("CREATE INDEX ON {} (customer_id)", table)
    _execute("INSERT INTO {} (snapshot_date, policy_id) VALUES (%s, 'p1')", table, "2026-01-05")

    with_rows = schema_drift_check(client_id=client_id)

    assert _only(with_rows, "not_hypertable")["action"] == "refused"
    assert hypertable_get(table=table) is None

    _execute("DELETE FROM {}", table)
    empty = schema_drift_check(client_id=client_id)

    assert _only(empty, "not_hypertable")["action"] == "repaired"
    assert hypertable_get(table=table).time_column == "snapshot_date"


def test_dry_run_reports_the_repairs_and_changes_nothing(client_id, entities):
    policy, customer = entities["policy"].table_name, entities["customer"].table_name
    _execute("ALTER TABLE {} DROP COLUMN region", policy)
    _execute("ALTER TABLE {} ALTER COLUMN premium TYPE integer", policy)
    _execute("ALTER TABLE {} ALTER COLUMN note SET NOT NULL", policy)
    _execute("DROP TABLE {}", customer)
    before = (_columns(policy), index_names(table=policy))

    report = schema_drift_check(client_id=client_id, repair=False)

    actions = {(f["kind"], f["column"]): f["action"] for f in report.findings}
    assert actions == {
        ("missing_column", "region"): "would_repair",
        ("type_mismatch", "premium"): "would_repair",
        ("column_not_null", "note"): "would_repair",
        ("missing_table", None): "would_repair",
    }
    assert all(f["sql"] for f in report.findings)
    assert report.status == DriftReport.Status.NEEDS_ATTENTION
    assert (_columns(policy), index_names(table=policy)) == before
    assert not table_exists(table=customer)

    assert schema_drift_check(client_id=client_id).status == DriftReport.Status.REPAIRED
    assert schema_drift_check(client_id=client_id).status == DriftReport.Status.CONSISTENT


def test_broken_references_between_metrics_relationships_and_attributes_are_reported(client_id, entities):
    # What a careless import or a direct database edit leaves behind: the
    # services themselves refuse to remove an attribute that is still used.
    MetricDefinition.objects.filter(client_id=client_id, code="total_premium").update(
        depends_on_attributes=["policy.premium", "policy.discount", "claim.amount"]
    )
    RelationshipDefinition.objects.filter(client_id=client_id).update(target_attribute="customer_ref")

    report = schema_drift_check(client_id=client_id)

    metric_findings = {f["detail"].split("'")[3]: f for f in _findings(report, "broken_metric_reference")}
    assert set(metric_findings) == {"policy.discount", "claim.amount"}
    assert "attribute no longer exists" in metric_findings["policy.discount"]["detail"]
    assert "entity no longer exists" in metric_findings["claim.amount"]["detail"]
    relationship = _only(report, "broken_relationship")
    assert relationship["entity"] == "customer"
    assert "customer.customer_ref no longer exists" in relationship["detail"]
    assert {f["action"] for f in report.findings} == {"reported"}
    assert report.status == DriftReport.Status.NEEDS_ATTENTION


@pytest.mark.django_db(transaction=True)
def test_a_repair_the_database_refuses_fails_alone_and_the_others_stand(monkeypatch):
    monkeypatch.setattr(drift, "LOCK_TIMEOUT", "200ms")
    client_id = ClientFactory().pk
    tables = {code: entity.table_name for code, entity in _ontology(client_id).items()}
    reader = connection.copy()  # another session, mid-query on the policy table
    try:
        _execute("ALTER TABLE {} DROP COLUMN note", tables["policy"])
        _execute("ALTER TABLE {} DROP COLUMN segment", tables["customer"])
        reader.set_autocommit(False)
        with reader.cursor() as cursor:
            cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(SCHEMA, tables["policy"])))

        report = schema_drift_check(client_id=client_id)

        outcome = {f["entity"]: f for f in _findings(report, "missing_column")}
        assert outcome["customer"]["action"] == "repaired"
        assert outcome["policy"]["action"] == "failed"
        assert "lock timeout" in outcome["policy"]["detail"]
        assert report.status == DriftReport.Status.NEEDS_ATTENTION
        assert "segment" in _columns(tables["customer"])
        assert "note" not in _columns(tables["policy"])

        reader.rollback()
        assert schema_drift_check(client_id=client_id).status == DriftReport.Status.REPAIRED
        assert "note" in _columns(tables["policy"])
    finally:
        reader.close()
        for table in tables.values():  # the flush after this test empties Zone 1 only
            _execute("DROP TABLE IF EXISTS {}", table)


def test_a_check_sees_only_its_own_client(client_id, entities):
    other = ClientFactory().pk
    other_policy = _ontology(other)["policy"].table_name
    _execute("ALTER TABLE {} DROP COLUMN region", other_policy)

    assert schema_drift_check(client_id=client_id).findings == []
    assert "region" not in _columns(other_policy)
    assert schema_drift_check(client_id=other).status == DriftReport.Status.REPAIRED


def test_an_unknown_trigger_is_refused():
    with pytest.raises(AppError) as caught:
        schema_drift_check(client_id=ClientFactory().pk, triggered_by="cron job")
    assert caught.value.code == "invalid_trigger"


# --- background task and schedule ---------------------------------------------------------


def test_the_hourly_task_checks_every_active_client(client_id, entities):
    inactive = ClientFactory(is_active=False)
    _execute("ALTER TABLE {} DROP COLUMN note", entities["policy"].table_name)

    result = drift_check_all()

    assert result["statuses"][str(client_id)] == "repaired"
    assert result["failed"] == []
    assert str(inactive.pk) not in result["statuses"]
    assert not DriftReport.objects.filter(client_id=inactive.pk).exists()
    assert DriftReport.objects.get(client_id=client_id).triggered_by == "schedule"
    assert "note" in _columns(entities["policy"].table_name)


def test_the_sweep_prunes_reports_older_than_the_retention(client_id, entities, settings):
    settings.AE_DRIFT_REPORT_DAYS = 30
    old = schema_drift_check(client_id=client_id, triggered_by="api")
    recent = schema_drift_check(client_id=client_id, triggered_by="api")
    DriftReport.objects.filter(pk=old.pk).update(created_at=old.created_at - timedelta(days=31))

    result = drift_check_all()

    assert result["pruned"] == 1
    assert not DriftReport.objects.filter(pk=old.pk).exists()
    assert DriftReport.objects.filter(pk=recent.pk).exists()


def test_the_task_is_scheduled_hourly_with_an_expiry():
    from celery_app import app
    from celery_app.schedule import BEAT_SCHEDULE

    entry = next(e for e in BEAT_SCHEDULE.values() if e["task"] == "ontology.drift_check_all")
    assert entry["options"]["expires"] <= 3600
    assert entry["schedule"].hour == set(range(24))
    assert len(entry["schedule"].minute) == 1
    assert "ontology.drift_check_all" in app.tasks


# --- API --------------------------------------------------------------------------------------


@pytest.fixture
def admin(tenant):
    return MembershipFactory(role="admin", is_default=True, client=tenant).user


def test_admin_runs_the_check_and_lists_the_reports(api_client, admin, client_id, entities):
    api_client.force_authenticate(admin)
    _execute("ALTER TABLE {} DROP COLUMN note", entities["policy"].table_name)

    dry = api_client.post("/api/v1/ontology/drift/", {"repair": False}, format="json")
    assert dry.status_code == 201, dry.content
    assert dry.json()["status"] == "needs_attention"
    assert dry.json()["findings"][0]["action"] == "would_repair"
    assert "note" not in _columns(entities["policy"].table_name)

    run = api_client.post("/api/v1/ontology/drift", {}, format="json")  # repair by default; slash optional
    assert run.status_code == 201
    body = run.json()
    assert body["status"] == "repaired"
    assert body["triggered_by"] == "api"
    assert body["findings"] == [
        {
            "entity": "policy",
            "kind": "missing_column",
            "detail": "Column 'note' (string) is missing.",
            "action": "repaired",
            "column": "note",
            "sql": [f'ALTER TABLE "{SCHEMA}"."{entities["policy"].table_name}" ADD COLUMN IF NOT EXISTS "note" text'],
        }
    ]

    listed = api_client.get("/api/v1/ontology/drift/")
    assert listed.status_code == 200
    page = listed.json()
    assert page["count"] == 2
    assert [r["id"] for r in page["results"]] == [body["id"], dry.json()["id"]]  # newest first
    assert "next" in page and "previous" in page

    detail = api_client.get(f"/api/v1/ontology/drift/{body['id']}/")
    assert detail.status_code == 200
    assert detail.json()["findings"][0]["kind"] == "missing_column"


def test_members_read_reports_but_only_admins_run_the_check(api_client, tenant, entities):
    analyst = MembershipFactory(role="analyst", is_default=True, client=tenant).user
    api_client.force_authenticate(analyst)

    assert api_client.get("/api/v1/ontology/drift/").status_code == 200
    refused = api_client.post("/api/v1/ontology/drift/", {"repair": True}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == (
        "Only the client's administrators may run the checker: it needs the permission 'administer'."
    )
    assert not DriftReport.objects.exists()


def test_reports_are_tenant_scoped_and_input_is_checked(api_client, admin, client_id):
    other_report = schema_drift_check(client_id=ClientFactory().pk)
    api_client.force_authenticate(admin)

    assert api_client.get("/api/v1/ontology/drift/").json()["count"] == 0
    missing = api_client.get(f"/api/v1/ontology/drift/{other_report.pk}/")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    bad = api_client.post("/api/v1/ontology/drift/", {"repair": "perhaps"}, format="json")
    assert bad.status_code == 400
    assert "repair" in bad.json()["error"]["details"]


def test_anonymous_callers_are_401(api_client):
    assert api_client.get("/api/v1/ontology/drift/").status_code == 401
    assert api_client.post("/api/v1/ontology/drift/", {}, format="json").status_code == 401
