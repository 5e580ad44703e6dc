"""The Data Source page (`/sources/`, docs/sources.md "The Data Source
page"): every page and partial for a member who may manage sources, writes
through the connectors and ingestion services with their refusals next to
the field, secrets never shown, a viewer refused (403, no nav entry) and
another client's connection or job answering 404. The source is a real
PostgreSQL database (pg_source)."""

import html
import json
import re

import pytest
from django.urls import reverse

from apps.connectors.models import ConnectionProfile
from apps.core.tests.factories import ClientFactory, MembershipFactory
from apps.ingestion.models import IngestionJob, IngestionRun
from apps.ingestion.services.jobs import job_create
from apps.ingestion.services.runs import job_run_request
from apps.ingestion.tests.helpers import MAPPING, connection_make, job_body, policies_table, policy_entity

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def _html(answer) -> str:
    """The answer's text with entities decoded (messages quote names)."""
    return html.unescape(answer.content.decode())


@pytest.fixture
def client_id(member):
    return member.client_id


@pytest.fixture
def source(pg_source, client_id):
    policies_table(pg_source, 3)
    connection_make(client_id, pg_source)
    return pg_source


@pytest.fixture
def job(source, client_id, member):
    policy_entity(client_id)
    from apps.connectors.services.connections import connection_discover

    connection_discover(client_id=client_id, code="policy_db")
    return job_create(client_id=client_id, user=member.user, fields=job_body())


def _sql_form(pg_source, **changes) -> dict:
    s = pg_source["settings"]
    return {"code": "pas", "name": "Policy admin", "kind": "postgresql", "host": s["host"], "port": str(s["port"]),
            "database": s["database"], "username": pg_source["credentials"]["username"],
            "password": pg_source["credentials"]["password"], "sslmode": "", **changes}  # fmt: skip


# --- connections ---------------------------------------------------------------------


def test_the_empty_page_says_what_a_connection_is_and_offers_to_add_one(console):
    page = _html(console.get(reverse("web:sources")))
    assert "No connection yet" in page
    assert "how to reach one of your systems" in page
    assert reverse("web:source_connection_new") in page
    assert 'href="/sources/"' in page  # the nav entry "Sources"


def test_the_list_shows_kind_last_test_and_owner(console, source, client_id):
    from apps.connectors.services.connections import connection_test

    connection_test(client_id=client_id, code="policy_db")
    page = _html(console.get(reverse("web:sources")))
    row = re.search(r'<tr data-connection="policy_db">.*?</tr>', page, re.S).group(0)
    assert "PostgreSQL" in row and ">ok<" in row and "UTC" in row


def test_add_a_postgresql_connection_keeps_the_password_write_only(console, pg_source, client_id):
    answer = console.post(reverse("web:source_connection_new"), _sql_form(pg_source), **HX)
    assert answer.status_code == 200 and answer["HX-Redirect"] == reverse("web:source_connection", args=["pas"])
    profile = ConnectionProfile.objects.get(client_id=client_id, code="pas")
    assert profile.settings["database"] == pg_source["database"] and profile.credentials_encrypted
    page = _html(console.get(reverse("web:source_connection", args=["pas"])))
    assert set(re.findall(r'type="password" value="([^"]*)"', page)) == {""}  # never echoed
    assert 'data-secret-state="set"' in page and "Leave blank to keep it" in page


def test_a_refused_connection_form_shows_the_services_message_next_to_the_field(console, pg_source):
    answer = console.post(reverse("web:source_connection_new"), _sql_form(pg_source, code="Bad Code"), **HX)
    assert answer.status_code == 400
    assert re.search(r'data-field="code">The connection code \'Bad Code\' must be lower snake case', _html(answer))
    answer = console.post(reverse("web:source_connection_new"), _sql_form(pg_source, host=""), **HX)
    assert re.search(r'data-field="host">settings.host is required', _html(answer))
    assert 'value="Policy admin"' in _html(answer)  # the form is kept


def test_the_kind_select_swaps_in_the_fields_of_that_kind(console):
    rest = _html(console.get(reverse("web:source_connection_new"), {"kind": "rest"}, **HX))
    assert 'name="base_url"' in rest and 'name="endpoints"' in rest and 'name="host"' not in rest
    graphql = _html(console.get(reverse("web:source_connection_new"), {"kind": "graphql"}, **HX))
    assert 'name="queries"' in graphql and 'name="endpoint"' in graphql
    file = _html(console.get(reverse("web:source_connection_new"), {"kind": "file"}, **HX))
    assert 'type="file"' in file


def test_edit_with_a_blank_password_keeps_the_stored_one(console, source, client_id):
    before = ConnectionProfile.objects.get(code="policy_db").credentials_encrypted
    form = _sql_form(source, name="Renamed", password="")
    answer = console.post(reverse("web:source_connection", args=["policy_db"]), form, **HX)
    assert answer.status_code == 200, _html(answer)[:500]
    profile = ConnectionProfile.objects.get(code="policy_db")
    assert profile.name == "Renamed" and profile.credentials_encrypted == before


def test_test_answers_inline_with_the_stage_and_never_the_password(console, source):
    url = reverse("web:source_connection_test", args=["policy_db"])
    ok = _html(console.post(url, **HX))
    assert 'data-test-outcome="ok"' in ok
    assert re.search(r'<span id="last-test" hx-swap-oob="true"><span class="pill ok">ok</span>', ok)
    wrong = "not-the-password-xyz"
    console.post(reverse("web:source_connection", args=["policy_db"]), _sql_form(source, password=wrong), **HX)
    failed = _html(console.post(url, **HX))
    assert 'data-test-outcome="failed"' in failed and 'data-stage="auth"' in failed
    assert "Authentication failed" in failed and wrong not in failed


def test_the_forms_settings_are_tested_before_saving_wrong_password_then_right(console, pg_source):
    assert "data-try-button" in _html(console.get(reverse("web:source_connection_new")))
    url = reverse("web:source_connection_try_new")
    wrong = "not-the-password-xyz"
    failed = _html(console.post(url, _sql_form(pg_source, password=wrong), **HX))
    assert 'data-test-outcome="failed"' in failed and 'data-stage="auth"' in failed
    assert "Authentication failed" in failed and wrong not in failed and "nothing was saved" in failed
    assert 'id="last-test"' not in failed  # no saved connection's "last test" to update
    ok = _html(console.post(url, _sql_form(pg_source), **HX))
    assert 'data-test-outcome="ok"' in ok
    assert not ConnectionProfile.objects.exists()  # nothing saved
    invalid = console.post(url, _sql_form(pg_source, host=""), **HX)
    assert invalid.status_code == 400 and "Not tried" in _html(invalid)
    assert "settings.host is required" in _html(invalid)


def test_a_saved_connections_form_is_tried_with_its_stored_secret_and_left_unsaved(console, source):
    page = _html(console.get(reverse("web:source_connection", args=["policy_db"])))
    url = reverse("web:source_connection_try", args=["policy_db"])
    assert f'hx-post="{url}"' in page
    kept = _html(console.post(url, _sql_form(source, name="Renamed", password=""), **HX))
    assert 'data-test-outcome="ok"' in kept  # the blank password is the stored one
    wrong = _html(console.post(url, _sql_form(source, password="typed-but-wrong"), **HX))
    assert 'data-stage="auth"' in wrong and "typed-but-wrong" not in wrong
    profile = ConnectionProfile.objects.get(code="policy_db")
    assert (profile.name, profile.last_tested_at) == ("policy_db", None)
    assert 'data-test-outcome="ok"' in _html(console.post(reverse("web:source_connection_test", args=["policy_db"])))


def test_delete_asks_first_and_refuses_while_a_job_reads_it(console, job):
    url = reverse("web:source_connection_delete", args=["policy_db"])
    assert "Delete policy_db" in _html(console.get(url))
    refused = console.post(url)
    assert refused.status_code == 409 and "used by ingestion job(s) 'policies'" in _html(refused)


def test_delete_removes_an_unused_connection(console, source):
    answer = console.post(reverse("web:source_connection_delete", args=["policy_db"]))
    assert answer.status_code == 302 and not ConnectionProfile.objects.filter(code="policy_db").exists()


# --- discovery and preview -----------------------------------------------------------


def test_discover_lists_objects_with_columns_and_a_job_link(console, source):
    page = _html(console.post(reverse("web:source_connection_discover", args=["policy_db"]), **HX))
    assert 'data-object="POLICIES"' in page
    for column in ("POL_ID", "EFF_DT", "STAT_CD", "PREM"):
        assert f"<code>{column}</code>" in page
    assert "Create a job from this" in page and reverse("web:source_job_new", args=["policy_db"]) in page


def test_preview_shows_live_rows_with_the_limit(console, source):
    url = reverse("web:source_connection_preview", args=["policy_db"])
    page = _html(console.get(url, {"object": "POLICIES", "limit": "20"}, **HX))
    assert "3 rows of <code>POLICIES</code>" in page and "<td>P1</td>" in page and "data-preview-grid" in page
    headed = re.findall(r'<th scope="col">(\w+)<span class="muted col-type"> (\w+)</span>', page)
    assert headed == [("POL_ID", "string"), ("EFF_DT", "date"), ("STAT_CD", "string"), ("PREM", "decimal")]
    bad = console.get(url, {"object": "POLICIES", "limit": "5000"}, **HX)
    assert bad.status_code == 400 and "over the cap" in _html(bad)
    missing = console.get(url, {"object": "NOPE", "limit": "20"}, **HX)
    assert missing.status_code in (400, 404) and "data-preview-error" in _html(missing)


# --- jobs ----------------------------------------------------------------------------


def test_create_a_job_from_a_discovered_object_comes_prefilled(console, source, client_id):
    policy_entity(client_id)
    console.post(reverse("web:source_connection_discover", args=["policy_db"]), **HX)
    url = reverse("web:source_job_new", args=["policy_db"])
    page = _html(console.get(url, {"object": "POLICIES", "columns": ["POL_ID", "EFF_DT"]}))
    assert 'value="policy_db_policies"' in page and '<option value="POLICIES" selected>' in page
    assert '<option value="EFF_DT">EFF_DT</option>' in page  # incremental column choices
    assert 'name="mapping"' not in page  # the mapping is made on the Data Mapper page, next
    form = {"code": "pol", "object": "POLICIES", "entity": "policy_snapshot", "batch_size": "100",
            "schedule": "0 2 * * *", "enabled": "on", "incremental": "EFF_DT",
            "columns": ["POL_ID", "EFF_DT"]}  # fmt: skip
    answer = console.post(url, form, **HX)
    assert answer["HX-Redirect"] == reverse("web:source_mapper", args=["pol"])
    job = IngestionJob.objects.get(code="pol")
    assert job.is_draft and job.mapping == {}  # no picked column is named like an attribute
    assert job.periodic_task.enabled is False
    page = _html(console.get(reverse("web:source_job", args=["pol"])))
    assert "At 02:00 (UTC)" in page and "data-run-now" not in page
    assert "A draft never runs" in page and "(effective, policy to map)" in page
    row = re.search(r'<tr data-job="pol">.*?</tr>', _html(console.get(reverse("web:sources"))), re.S).group(0)
    assert "Draft" in row and "Finish mapping" in row and reverse("web:source_mapper", args=["pol"]) in row
    assert ">Run</button>" not in row
    refused = console.post(reverse("web:source_job_run", args=["pol"]), **HX)
    assert refused.status_code == 409 and "Job 'pol' is a draft" in _html(refused)


def test_a_refused_job_form_names_the_field(console, job):
    url = reverse("web:source_job_new", args=["policy_db"])
    form = {"code": "pol2", "object": "POLICIES", "entity": "nope", "batch_size": "10", "mapping": "{}"}
    page = _html(console.post(url, form, **HX))
    assert re.search(r'data-field="entity">There is no entity \'nope\'', page)
    form = {**form, "entity": "policy_snapshot", "schedule": "0 25 * * *", "mapping": json.dumps(MAPPING)}
    page = _html(console.post(url, form, **HX))
    assert re.search(r"data-field=\"schedule\" role=\"alert\">The schedule's hour field '25' does not parse", page)
    edit = {**form, "schedule": "", "mapping": "{nope"}
    page = _html(console.post(reverse("web:source_job", args=["policies"]), edit, **HX))
    assert 'data-field="mapping">The mapping is not valid JSON' in page


def test_the_cron_field_is_checked_as_typed(console):
    url = reverse("web:source_schedule")
    ok = _html(console.get(url, {"schedule": "0 2 * * *"}, **HX))
    assert "At 02:00 (UTC)" in ok and ok.count("<li><time") == 5
    bad = console.get(url, {"schedule": "0 2 * * mon-xyz"}, **HX)
    assert bad.status_code == 400 and "day of week field 'mon-xyz' does not parse" in _html(bad)
    assert "No schedule" in _html(console.get(url, {"schedule": ""}, **HX))


def test_enable_and_disable_a_job(console, job):
    url = reverse("web:source_job_enabled", args=["policies"])
    console.post(url)
    assert "Enable</button>" in _html(console.get(reverse("web:source_job", args=["policies"])))
    console.post(url, {"enabled": "on"})
    assert "Disable</button>" in _html(console.get(reverse("web:source_job", args=["policies"])))


def test_run_now_queues_a_run_and_a_second_is_refused_saying_why(console, job):
    url = reverse("web:source_job_run", args=["policies"])
    first = console.post(url, **HX)
    assert first.status_code == 200 and 'data-status="queued"' in _html(first)
    assert 'hx-trigger="every 2s"' in _html(first) and 'data-channel="ingestion.policies"' in _html(first)
    second = console.post(url, **HX)
    assert second.status_code == 409 and "is running" in _html(second)


def test_run_history_is_newest_first_and_paginated(console, job, client_id):
    IngestionRun.objects.bulk_create(
        IngestionRun(client_id=client_id, job_id=job.id, trigger="manual", status="succeeded", rows_read=n,
                     rows_written=n, watermark_after=f"w{n}")
        for n in range(12)
    )  # fmt: skip
    page = _html(console.get(reverse("web:source_job_runs", args=["policies"])))
    assert page.count("<tr data-run-id=") == 10 and "Page 1 of 2" in page
    assert "hx-trigger" not in page.split("<table")[0]  # nothing active: no polling
    assert "<td>0.0 s</td>" not in page  # no start or end: no duration
    older = _html(console.get(reverse("web:source_job_runs", args=["policies"]), {"page": 2}))
    assert older.count("<tr data-run-id=") == 2


def test_the_job_lists_show_schedule_next_run_and_last_run(console, job, client_id, member):
    job_run_request(client_id=client_id, code="policies", user=member.user)
    page = _html(console.get(reverse("web:sources")))
    row = re.search(r'<tr data-job="policies">.*?</tr>', page, re.S).group(0)
    assert "policy_snapshot" in row and "No schedule" in row and "queued" in row
    assert ">Run</button>" in row and "Draft" not in row


# --- who may --------------------------------------------------------------------------


ALL_GETS = [
    ("web:sources", []), ("web:source_connection_new", []), ("web:source_connection", ["policy_db"]),
    ("web:source_connection_delete", ["policy_db"]), ("web:source_connection_preview", ["policy_db"]),
    ("web:source_job_new", ["policy_db"]), ("web:source_schedule", []), ("web:source_job", ["policies"]),
    ("web:source_job_runs", ["policies"]), ("web:source_job_delete", ["policies"]),
]  # fmt: skip
ALL_POSTS = [
    ("web:source_connection_test", ["policy_db"]), ("web:source_connection_discover", ["policy_db"]),
    ("web:source_job_run", ["policies"]), ("web:source_job_enabled", ["policies"]),
    ("web:source_connection_try", ["policy_db"]), ("web:source_connection_try_new", []),
]  # fmt: skip


def test_a_viewer_gets_403_everywhere_and_no_nav_entry(client, job, member):
    viewer = MembershipFactory(client=member.client, is_default=True, role="viewer")
    client.force_login(viewer.user)
    for name, args in ALL_GETS:
        assert client.get(reverse(name, args=args)).status_code == 403, name
    for name, args in ALL_POSTS:
        assert client.post(reverse(name, args=args), **HX).status_code == 403, name
    assert 'href="/sources/"' not in _html(client.get("/"))


def test_another_clients_connection_and_job_answer_404(client, job):
    stranger = MembershipFactory(client=ClientFactory(code="other"), is_default=True, role="admin")
    client.force_login(stranger.user)
    for name, args in ALL_GETS + ALL_POSTS:
        if not args:
            continue
        method = client.post if (name, args) in ALL_POSTS else client.get
        assert method(reverse(name, args=args)).status_code == 404, name
    assert client.post(reverse("web:source_connection_delete", args=["policy_db"])).status_code == 404
    assert ConnectionProfile.objects.filter(code="policy_db").exists()


def test_a_runs_duration_reads_in_seconds_or_minutes():
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace

    from apps.web.templatetags.sources import run_duration

    start = datetime(2026, 1, 1, tzinfo=UTC)
    for seconds, text in ((0.42, "0.4 s"), (12, "12 s"), (185, "3 min 5 s")):
        assert run_duration(SimpleNamespace(started_at=start, finished_at=start + timedelta(seconds=seconds))) == text
    assert run_duration(SimpleNamespace(started_at=start, finished_at=None)) == ""


# --- deleting a job (and then its connection) ------------------------------------------


def test_a_job_is_deleted_after_a_confirmation_and_then_its_connection_may_be(console, job, client_id):
    from django_celery_beat.models import PeriodicTask

    from apps.ingestion.schedules import periodic_task_name
    from apps.ingestion.services.jobs import job_update

    job_update(client_id=client_id, code="policies", fields={"schedule": "0 2 * * *"}, partial=True)
    scheduled = PeriodicTask.objects.filter(name=periodic_task_name(client_id, "policies"))
    assert scheduled.exists()
    job_page = _html(console.get(reverse("web:source_job", args=["policies"])))
    url = reverse("web:source_job_delete", args=["policies"])
    assert f'href="{url}"' in job_page  # the job page's Delete…
    connection_url = reverse("web:source_connection_delete", args=["policy_db"])
    refused = console.post(connection_url)
    assert refused.status_code == 409 and "used by ingestion job(s) 'policies'" in _html(refused)

    confirm = _html(console.get(url))
    assert "Delete the job policies?" in confirm and "run history are deleted" in confirm
    assert IngestionJob.objects.filter(code="policies").exists()  # asking deletes nothing
    answer = console.post(url, **HX)
    assert answer.status_code == 200 and answer["HX-Redirect"] == reverse("web:source_connection", args=["policy_db"])
    assert not IngestionJob.objects.filter(code="policies").exists()
    assert not scheduled.exists()
    assert "Job policies deleted." in _html(console.get(reverse("web:source_connection", args=["policy_db"])))

    assert console.post(connection_url).status_code == 302  # no job reads it now
    assert not ConnectionProfile.objects.filter(code="policy_db").exists()


@pytest.mark.parametrize("status", ["queued", "running"])
def test_a_job_with_a_run_queued_or_running_is_not_deleted_and_the_page_names_the_run(console, job, client_id,
                                                                                       status):  # fmt: skip
    from django.db import connections

    from apps.core.advisory_locks import advisory_lock_try
    from apps.ingestion.runner import job_lock_key

    run = IngestionRun.objects.create(client_id=client_id, job_id=job.id, status=status)
    worker = connections.create_connection("default")  # a live worker holds the job's lock while it runs
    try:
        with advisory_lock_try(job_lock_key(job.id), db=worker) as held:
            assert held
            refused = console.post(reverse("web:source_job_delete", args=["policies"]))
    finally:
        worker.close()
    assert refused.status_code == 409
    assert f"Job 'policies' is running (run {run.pk}, {status}); delete it once the run has ended." in _html(refused)
    assert "data-delete-refusal" in _html(refused)
    assert IngestionJob.objects.filter(code="policies").exists()


def test_another_clients_job_is_not_deleted(client, job):
    stranger = MembershipFactory(client=ClientFactory(code="other"), is_default=True, role="admin")
    client.force_login(stranger.user)
    assert client.post(reverse("web:source_job_delete", args=["policies"])).status_code == 404
    assert IngestionJob.objects.filter(code="policies").exists()
