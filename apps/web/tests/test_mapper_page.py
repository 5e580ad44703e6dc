"""The Data Mapper page's views (docs/sources.md, "The Data Mapper page"):
the page and its partials against a real PostgreSQL source; manage_sources
for each (a viewer gets 403), another client's job 404, errors next to the
attribute they concern; a draft saved incomplete stays a draft, a complete
one is published; a published job's refused save keeps the form and saves
nothing."""

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from apps.core.tests.factories import MembershipFactory
from apps.ingestion.models import IngestionJob, IngestionRun
from apps.web.tests.mapper_fixtures import policy_source

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
BOUND = {
    "source.policy_id": "POL_ID",
    "source.snapshot_date": "EFF_DT",
    "source.status": "STAT_CD",
    "norm.status": "1",
    "trim.status": "1",
}


@pytest.fixture
def job(member, pg_source):
    return policy_source(member.client_id, pg_source)


def _post(console, name: str, data: dict, **extra):
    return console.post(reverse(f"web:{name}", args=["policies"]), data, **extra)


def test_the_page_shows_the_source_tree_the_attributes_and_the_errors_of_an_empty_mapping(console, job):
    page = console.get(reverse("web:source_mapper", args=["policies"]))
    assert page.status_code == 200
    html = page.content.decode()
    for field in ("POL_ID", "STAT_CD", "EFF_DT"):
        assert f'data-field="{field}"' in html
    assert 'data-testid="validation-state">errors<' in html
    assert html.count("unmapped-required") == 2  # policy_id and the time attribute snapshot_date
    assert "policy_id is required and the mapping gives it no source field" in html
    assert "Active, Terminated" in html


def test_a_check_lists_unmapped_values_and_a_value_map_makes_it_ok(console, job):
    answer = _post(console, "source_mapper_check", BOUND, **HX)
    assert answer.status_code == 200
    html = answer.content.decode()
    assert "<html" not in html  # the panel only
    assert 'data-testid="validation-state">ok, with warnings<' in html
    assert 'data-vm-from="A"' in html and 'data-vm-from="T"' in html
    assert "2 source value(s) of STAT_CD are neither in the value map nor allowed: A, T." in html
    mapped = {**BOUND, "vm.status.from": ["A", "T"], "vm.status.to": ["Active", "Terminated"]}
    html = _post(console, "source_mapper_check", mapped, **HX).content.decode()
    assert 'data-testid="validation-state">ok<' in html
    assert "3 mapped, 0 rejected of 3 sample rows" in html


def test_an_error_shows_next_to_its_attribute(console, job):
    html = _post(console, "source_mapper_check", {**BOUND, "source.policy_id": "POLID"}, **HX).content.decode()
    attribute = html.split('data-testid="attr-policy_id"')[1].split('data-testid="attr-status"')[0]
    assert "the source has no field &#x27;POLID&#x27;. Close matches: POL_ID" in attribute
    assert 'data-testid="validation-state">errors<' in html


def test_the_dry_run_shows_stored_rows_and_rejections_first_and_writes_no_row(console, job):
    mapped = {**BOUND, "vm.status.from": ["A"], "vm.status.to": ["Active"]}
    answer = _post(console, "source_mapper_dry_run", mapped, **HX)
    assert answer.status_code == 200
    html = answer.content.decode()
    assert "<strong>3</strong> rows read: <strong>2</strong> would be stored, <strong>1</strong> rejected." in html
    rows = html.split("<tbody>")[1].split('<tr class="')[1:]
    assert [r.split('"')[0] for r in rows] == ["rejected", "valid", "valid"]
    assert 'data-stored="status">Active<' in html
    assert "Terminated" in rows[0] or "T" in rows[0]
    assert IngestionJob.objects.get(code="policies").mapping == {}  # tried, not saved
    assert IngestionRun.objects.get().trigger == "dry_run"


def test_a_dry_run_of_a_mapping_that_does_not_hold_says_why(console, job):
    answer = _post(console, "source_mapper_dry_run", {}, **HX)
    assert answer.status_code == 400
    assert "policy_id is required" in answer.content.decode()


def test_save_keeps_an_incomplete_draft_publishes_a_complete_one_and_refuses_breaking_a_published_one(console, job):
    # A draft saved incomplete: kept a draft, saying what remains.
    kept = _post(console, "source_mapper", {"source.policy_id": "POL_ID"}, follow=True)
    assert "is saved as a draft; still to map: snapshot_date." in kept.content.decode()
    stored = IngestionJob.objects.get(code="policies")
    assert stored.is_draft and stored.mapping == {"fields": {"policy_id": {"source": "POL_ID"}}}
    mapped = {**BOUND, "vm.status.from": ["A", "T"], "vm.status.to": ["Active", "Terminated"], "default.status": ""}
    # "Save draft": complete, but a draft still.
    assert _post(console, "source_mapper", {**mapped, "save": "draft"}).status_code == 302
    assert IngestionJob.objects.get(code="policies").is_draft
    # "Save mapping", complete: published.
    saved = _post(console, "source_mapper", {**mapped, "save": "publish"}, follow=True)
    assert "the job is published and can run" in saved.content.decode()
    stored = IngestionJob.objects.get(code="policies")
    assert not stored.is_draft and stored.mapping == {
        "fields": {"snapshot_date": {"source": "EFF_DT"}, "policy_id": {"source": "POL_ID"},
                   "status": {"source": "STAT_CD"}},
        "value_maps": {"status": {"A": "Active", "T": "Terminated"}},
    }  # fmt: skip
    page = console.get(reverse("web:source_mapper", args=["policies"])).content.decode()
    assert 'value="STAT_CD" selected' in page and "Save draft" not in page
    # A published job's mapping must hold: refused, the form kept, nothing saved.
    refused = _post(console, "source_mapper", {"source.policy_id": "POL_ID"})
    assert refused.status_code == 400
    assert "Not saved:" in refused.content.decode()
    assert 'value="POL_ID" selected' in refused.content.decode()
    assert IngestionJob.objects.get(code="policies").mapping == stored.mapping


def test_options_are_written_only_where_they_apply(console, job):
    data = {**BOUND, "case.status": "upper", "trim.status": "", "format.snapshot_date": "%Y-%m-%d",
            "scale.status": "2", "default.policy_id": "unknown"}  # fmt: skip
    html = _post(console, "source_mapper_check", data, **HX).content.decode()
    assert "&quot;case&quot;: &quot;upper&quot;" in html and "&quot;trim&quot;: false" in html
    assert "%Y-%m-%d" in html and "scales" not in html  # a string attribute takes no scale
    assert 'name="scale.' not in html and 'name="tz.' not in html  # no number nor timestamp attribute here
    several = _post(console, "source_mapper_check", {**data, "format.snapshot_date": "%Y-%m-%d | %d/%m/%Y"}, **HX)
    assert "[\n      &quot;%Y-%m-%d&quot;,\n      &quot;%d/%m/%Y&quot;\n    ]" in several.content.decode()
    assert 'value="%Y-%m-%d | %d/%m/%Y"' in several.content.decode()  # shown as it was entered


@pytest.mark.parametrize("name", ["source_mapper", "source_mapper_check", "source_mapper_dry_run"])
def test_a_viewer_is_refused_every_part_of_the_page(client, name):
    viewer = MembershipFactory(role="viewer", is_default=True)
    client.force_login(viewer.user)
    url = reverse(f"web:{name}", args=["policies"])
    answer = client.get(url) if name == "source_mapper" else client.post(url, {}, **HX)
    assert answer.status_code == 403
    assert "manage_sources" in answer.content.decode()


@pytest.mark.parametrize("name", ["source_mapper", "source_mapper_check", "source_mapper_dry_run"])
def test_another_clients_job_is_not_found(client, job, name):
    other = MembershipFactory(role="admin", is_default=True)
    client.force_login(other.user)
    url = reverse(f"web:{name}", args=["policies"])
    answer = client.get(url) if name == "source_mapper" else client.post(url, BOUND, **HX)
    assert answer.status_code == 404


def test_a_source_that_cannot_be_read_leaves_the_page_usable_and_says_why(console, job, pg_source):
    pg_source["execute"]('DROP TABLE "POLICIES"')
    page = console.get(reverse("web:source_mapper", args=["policies"]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="sample-error"' in html and "POLICIES" in html.split('data-testid="sample-error"')[1]
    assert 'data-field="STAT_CD"' in html  # the fields of the last discovery


def test_nested_fields_form_a_tree_by_their_dotted_paths():
    from apps.connectors.types import SourceColumn
    from apps.web.mapper_form import source_tree

    names = ["id", "customer.id", "customer.address.city", "customer.name"]
    tree = source_tree([SourceColumn(name, "string") for name in names])

    def shape(nodes):
        return [(n["label"], n["path"], shape(n["children"])) if n["children"] else n["path"] for n in nodes]

    assert shape(tree) == [
        "id",
        ("customer", "customer", ["customer.id", ("address", "customer.address", ["customer.address.city"]),
                                  "customer.name"]),
    ]  # fmt: skip
    html = render_to_string("web/mapper/_tree.html", {"nodes": tree})
    group = html.split('<summary><span class="field-name">address</span></summary>')[1]
    assert 'data-field="customer.address.city"' in group.split("</details>")[0]
