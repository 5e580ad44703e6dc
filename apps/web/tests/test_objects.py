"""The object model browser (`/objects/`) and the required-objects analysis
(`/objects/required/`): grouping, sections, search, the UML graph, and the
dependency graph of the KPIs in the cart."""

import json
import re

import pytest
from django.urls import reverse

from apps.core.tests.factories import MembershipFactory
from apps.web.services import cart_add
from apps.web.tests.ontology_fixtures import insurer_define

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def insurer(member):
    insurer_define(member.client_id)
    return member


def _json_script(html: str, element_id: str) -> dict:
    found = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S)
    assert found, f"no #{element_id}"
    return json.loads(found.group(1))


def _section(html: str, code: str) -> str:
    found = re.search(rf'<article class="card entity-section" id="entity-{code}".*?</article>', html, re.S)
    assert found, f"no section for {code}"
    return found.group(0)


# --- browser -----------------------------------------------------------------------


def test_browser_groups_by_value_chain_with_one_section_per_entity(console, insurer, api_client):
    api_client.force_authenticate(insurer.user)
    response = api_client.post(
        "/api/v1/ontology/value-chains/",
        {"code": "retention", "name": "Health retention", "entities": ["policy_snapshot"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    html = console.get(reverse("web:objects")).content.decode()
    assert '<h2 id="group-retention" class="group-title">Health retention</h2>' in html
    assert '<h2 id="group-ungrouped" class="group-title">Ungrouped</h2>' in html
    assert html.index("group-retention") < html.index('id="entity-policy_snapshot"') < html.index("group-ungrouped")
    assert html.index("group-ungrouped") < html.index('id="entity-member"')
    for code in ("policy_snapshot", "member"):
        assert html.count(f'id="entity-{code}"') == 1


def test_entity_section_lists_attributes_relationships_and_metrics_reading_it(console, insurer):
    response = console.get(reverse("web:objects"))
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    snapshot = _section(html, "policy_snapshot")
    for attribute in ("snapshot_date", "policy_id", "status", "start_date", "member_id"):
        assert f"<code>{attribute}</code>" in snapshot
    assert "Active, Terminated" in snapshot
    assert 'href="#entity-member">Member</a>' in snapshot  # relationship, linked
    # the derived metric reads the snapshots through the metrics it uses
    for metric in ("start_count", "new_count", "growth_rate"):
        assert f'<code class="muted">{metric}</code>' in snapshot
    member = _section(html, "member")
    assert "snapshot_member" not in member or "Policy snapshot" in member
    assert 'href="#entity-policy_snapshot">Policy snapshot</a>' in member
    assert "None yet." in member  # no metric reads members
    assert 'id="metric-growth_rate"' in html


def test_uml_diagram_data_is_the_ontologys_graph(console, insurer):
    html = console.get(reverse("web:objects")).content.decode()
    graph = _json_script(html, "uml-graph")
    entity = next(n for n in graph["nodes"] if n["id"] == "entity:policy_snapshot")
    assert entity["time_attribute"] == "snapshot_date"
    assert [a["code"] for a in entity["attributes"]][:2] == ["snapshot_date", "policy_id"]
    edge = graph["edges"][0]
    assert edge["kind"] == "many_to_one" and edge["multiplicity"] == {"source": "*", "target": "1"}
    assert 'data-diagram-link="#entity-__code__"' in html


def test_browser_empty_state(console):
    html = console.get(reverse("web:objects")).content.decode()
    assert "No entities yet" in html and reverse("web:ontology_studio") in html


# --- search ------------------------------------------------------------------------


def test_search_fragment_highlights_matches_across_entities_attributes_and_metrics(console, insurer):
    response = console.get(reverse("web:objects"), {"q": "count"}, **HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert 'data-kind="metric"' in html and "Start <mark>count</mark>" in html
    assert 'href="#metric-new_count"' in html

    html = console.get(reverse("web:objects"), {"q": "HOLDS"}, **HX).content.decode()
    assert 'data-kind="attribute"' in html and "Who <mark>holds</mark> the policy" in html

    html = console.get(reverse("web:objects"), {"q": "snap"}, **HX).content.decode()
    assert 'data-kind="entity"' in html and 'href="#entity-policy_snapshot"' in html
    assert "Policy <mark>snap</mark>shot" in html


def test_search_without_matches_and_full_page_with_query(console, insurer):
    html = console.get(reverse("web:objects"), {"q": "zebra"}, **HX).content.decode()
    assert "Nothing matches “zebra”" in html
    full = console.get(reverse("web:objects"), {"q": "region"}).content.decode()
    assert "<html" in full and 'value="region"' in full and "<mark>region</mark>" in full


def test_search_escapes_what_it_highlights(console, member):
    from apps.ontology.services import entities

    entities.entity_create(
        client_id=member.client_id,
        data=entities.EntityInput(
            code="note",
            name="Note <b>bold</b>",
            kind="reference",
            attributes=[entities.AttributeInput("note_id", "string")],
        ),
    )
    html = console.get(reverse("web:objects"), {"q": "bold"}, **HX).content.decode()
    assert "&lt;b&gt;<mark>bold</mark>&lt;/b&gt;" in html and "<b>bold" not in html


def test_another_clients_objects_are_not_shown(client, insurer):
    stranger = MembershipFactory(is_default=True)
    client.force_login(stranger.user)
    html = client.get(reverse("web:objects")).content.decode()
    assert 'id="entity-policy_snapshot"' not in html and "No entities yet" in html
    assert "Nothing matches" in client.get(reverse("web:objects"), {"q": "policy"}, **HX).content.decode()


# --- required objects -----------------------------------------------------------------


def test_required_objects_empty_cart(console, insurer):
    response = console.get(reverse("web:required_objects"))
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert "Your KPI cart is empty" in html
    assert f'href="{reverse("web:kpis")}"' in html
    fragment = console.get(reverse("web:required_objects"), **HX).content.decode()
    assert "<html" not in fragment and "Your KPI cart is empty" in fragment


def test_required_objects_of_two_kpis_sharing_an_entity(console, insurer):
    for code in ("start_count", "new_count"):
        cart_add(user_id=insurer.user_id, client_id=insurer.client_id, metric_code=code)
    response = console.get(reverse("web:required_objects"))
    html = response.content.decode()
    assert response.status_code == 200
    graph = _json_script(html, "required-graph")
    ids = [n["id"] for n in graph["nodes"]]
    assert len(ids) == len(set(ids))
    assert ids.count("entity:policy_snapshot") == 1  # shared, drawn once
    assert {"metric:start_count", "metric:new_count"} <= set(ids)
    assert "entity:member" not in ids  # neither statement reads members
    attributes = {i for i in ids if i.startswith("attribute:")}
    assert attributes == {
        "attribute:policy_snapshot.policy_id",
        "attribute:policy_snapshot.status",
        "attribute:policy_snapshot.start_date",
        "attribute:policy_snapshot.snapshot_date",
    }
    reads = {(e["source"], e["target"]) for e in graph["edges"] if e["kind"] == "reads"}
    assert reads == {
        ("metric:start_count", "entity:policy_snapshot"),
        ("metric:new_count", "entity:policy_snapshot"),
    }
    assert all(n["in_cart"] for n in graph["nodes"] if n["type"] == "metric")
    listing = re.search(r'<li data-entity="policy_snapshot">.*?</li>', html, re.S).group(0)
    assert 'href="/objects/#entity-policy_snapshot"' in listing
    assert "Needed by new_count, start_count" in listing
    fragment = console.get(reverse("web:required_objects"), **HX).content.decode()
    assert "<html" not in fragment and 'id="required-graph"' in fragment


def test_required_objects_follow_metrics_a_kpi_uses(console, insurer):
    cart_add(user_id=insurer.user_id, client_id=insurer.client_id, metric_code="growth_rate")
    graph = _json_script(console.get(reverse("web:required_objects")).content.decode(), "required-graph")
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes["metric:growth_rate"]["in_cart"] is True
    assert nodes["metric:start_count"]["in_cart"] is False and nodes["metric:new_count"]["in_cart"] is False
    uses = {(e["source"], e["target"]) for e in graph["edges"] if e["kind"] == "uses"}
    assert uses == {("metric:growth_rate", "metric:new_count"), ("metric:growth_rate", "metric:start_count")}
    reads = {e["source"] for e in graph["edges"] if e["kind"] == "reads"}
    assert reads == {"metric:start_count", "metric:new_count"}  # the derived metric reads through them


def test_required_objects_are_per_user_and_client(client, insurer):
    cart_add(user_id=insurer.user_id, client_id=insurer.client_id, metric_code="start_count")
    colleague = MembershipFactory(client=insurer.client, is_default=True)
    client.force_login(colleague.user)
    assert "Your KPI cart is empty" in client.get(reverse("web:required_objects")).content.decode()
