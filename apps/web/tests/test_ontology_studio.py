"""The ontology studio (`/ontology/`): pages and HTMX fragments, saves through
the ontology services (the table follows), inline errors, relationships,
history, diff, revert, and tenant isolation."""

import html as html_lib
import json
import re

import pytest
from django.urls import reverse

from apps.core.tests.factories import MembershipFactory
from apps.ontology import selectors
from apps.ontology.services import entities as entity_services
from apps.warehouse.selectors import table_columns, table_exists
from apps.web.tests.ontology_fixtures import insurer_define

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def insurer(member):
    insurer_define(member.client_id, with_metrics=False)
    return member


def _entity_post(**overrides) -> dict:
    data = {
        "code": "claim",
        "name": "Claim",
        "description": "A claim filed by a member.",
        "kind": "time_series",
        "time_attribute": "filed_on",
        "attr-0-code": "filed_on",
        "attr-0-data_type": "date",
        "attr-0-required": "on",
        "attr-3-code": "claim_id",  # rows added and removed in the browser leave gaps
        "attr-3-data_type": "string",
        "attr-3-required": "on",
        "attr-4-code": "status",
        "attr-4-data_type": "string",
        "attr-4-enum_values": "Open, Paid, Refused",
    }
    data.update(overrides)
    return data


def _attribute(entity, code: str):
    return next(a for a in entity.attributes if a.code == code)


def _error(html: str, element_id: str) -> str:
    found = re.search(rf'id="{re.escape(element_id)}">(.*?)</p>', html, re.S)
    assert found, f"no #{element_id} in the response"
    return html_lib.unescape(found.group(1))


# --- the studio page -----------------------------------------------------------


def test_studio_lists_entities_draws_the_diagram_and_relationships(console, insurer):
    response = console.get(reverse("web:ontology_studio"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and "Ontology studio" in html
    assert 'data-entity="policy_snapshot"' in html and 'data-entity="member"' in html
    assert 'data-relationship="snapshot_member"' in html
    graph = json.loads(re.search(r'<script id="studio-graph" type="application/json">(.*?)</script>', html, re.S)[1])
    assert {n["id"] for n in graph["nodes"]} == {"entity:policy_snapshot", "entity:member"}
    assert graph["edges"][0]["kind"] == "many_to_one"
    assert "vendor/dagre/dagre.min.js" in html and "js/diagram.js" in html
    assert 'id="relationship-form"' in html


def test_studio_fragment_is_the_entity_list(console, insurer):
    response = console.get(reverse("web:ontology_studio"), **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'data-entity="member"' in html
    assert response["Vary"].find("HX-Request") >= 0


def test_studio_empty_state(console):
    html = console.get(reverse("web:ontology_studio")).content.decode()
    assert "No entities yet" in html and "Define an entity" in html
    assert 'id="relationship-form"' not in html  # nothing to relate yet


def test_studio_needs_sign_in(client):
    response = client.get(reverse("web:ontology_studio"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- creating and editing entities ---------------------------------------------


def test_new_entity_form_page_and_fragment(console):
    full = console.get(reverse("web:ontology_entity_new")).content.decode()
    fragment = console.get(reverse("web:ontology_entity_new"), **HX).content.decode()
    assert "<html" in full and 'id="entity-editor"' in full
    assert "<html" not in fragment and 'id="entity-editor"' in fragment
    assert 'id="attr-row-template"' in fragment
    for data_type in ("string", "integer", "decimal", "boolean", "date", "timestamp", "json"):
        assert f'<option value="{data_type}"' in fragment


def test_create_entity_creates_its_table(console, member):
    response = console.post(reverse("web:ontology_entity_new"), _entity_post(), **HX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("web:ontology_entity", args=["claim"]) + "?saved=1"
    entity = selectors.entity(client_id=member.client_id, code="claim")
    assert [a.code for a in entity.attributes] == ["filed_on", "claim_id", "status"]
    assert list(_attribute(entity, "status").enum_values) == ["Open", "Paid", "Refused"]
    assert _attribute(entity, "claim_id").nullable is False
    assert table_exists(table=entity.table_name)
    assert {c.name for c in table_columns(table=entity.table_name)} >= {"filed_on", "claim_id", "status"}
    page = console.get(response["HX-Redirect"]).content.decode()
    assert "Saved." in page and 'data-entity="claim"' in page


def test_create_without_htmx_redirects(console, member):
    response = console.post(reverse("web:ontology_entity_new"), _entity_post())
    assert response.status_code == 302
    assert response["Location"].endswith("/ontology/entities/claim/?saved=1")


@pytest.mark.parametrize(
    ("overrides", "error_id", "words"),
    [
        ({"code": "Bad Code"}, "entity-code-error", "lower snake case"),
        ({"code": "select"}, "entity-code-error", "reserved"),
        ({"attr-4-code": "claim_id"}, "attr-2-code-error", "appears twice"),
        ({"attr-4-data_type": "money"}, "attr-2-data_type-error", "unknown data type 'money'"),
        ({"attr-3-code": "2fast"}, "attr-1-code-error", "lower snake case"),
        ({"attr-3-enum_values": "A, B", "attr-3-data_type": "integer"}, "attr-1-enum_values-error", "only for string"),
        ({"time_attribute": "claim_id"}, "entity-time-error", "must be a date or timestamp"),
        ({"name": ""}, "entity-name-error", "needs a name"),
    ],
)
def test_refused_entity_shows_the_error_next_to_its_field(console, member, overrides, error_id, words):
    response = console.post(reverse("web:ontology_entity_new"), _entity_post(**overrides), **HX)
    html = response.content.decode()
    assert response.status_code == 400
    assert "<html" not in html
    assert words in _error(html, error_id)
    assert 'aria-invalid="true"' in html
    assert not selectors.entities(client_id=member.client_id)
    # what the user typed comes back as typed
    assert 'value="Open, Paid, Refused"' in html or "attr-4-enum_values" not in overrides


def test_refused_entity_without_htmx_is_the_full_page(console):
    response = console.post(reverse("web:ontology_entity_new"), _entity_post(code="Bad Code"))
    assert response.status_code == 400
    assert "<html" in response.content.decode() and "lower snake case" in response.content.decode()


def test_duplicate_entity_code_is_a_conflict_on_the_code_field(console, insurer):
    response = console.post(reverse("web:ontology_entity_new"), _entity_post(code="member"), **HX)
    assert response.status_code == 409
    assert "already exists" in _error(response.content.decode(), "entity-code-error")


def test_edit_entity_adds_a_column(console, insurer):
    url = reverse("web:ontology_entity", args=["member"])
    page = console.get(url).content.decode()
    assert 'value="region"' in page and "<html" in page
    fragment = console.get(url, **HX).content.decode()
    assert "<html" not in fragment and 'id="entity-editor"' in fragment
    response = console.post(
        url,
        {
            "name": "Member",
            "attr-0-code": "member_id",
            "attr-0-data_type": "string",
            "attr-0-required": "on",
            "attr-1-code": "region",
            "attr-1-data_type": "string",
            "attr-2-code": "birth_year",
            "attr-2-data_type": "integer",
        },
        **HX,
    )
    assert response.status_code == 200 and response["HX-Redirect"].endswith("?saved=1")
    entity = selectors.entity(client_id=insurer.client_id, code="member")
    assert "birth_year" in {c.name for c in table_columns(table=entity.table_name)}


def test_unsafe_type_change_is_shown_on_the_type(console, insurer):
    response = console.post(
        reverse("web:ontology_entity", args=["member"]),
        {"name": "Member", "attr-0-code": "member_id", "attr-0-data_type": "integer", "attr-0-required": "on"},
        **HX,
    )
    assert response.status_code == 400
    assert "cannot change from string to integer" in _error(response.content.decode(), "attr-0-data_type-error")


def test_viewer_may_read_but_not_save(client, insurer):
    viewer = MembershipFactory(client=insurer.client, role="viewer", is_default=True)
    client.force_login(viewer.user)
    assert client.get(reverse("web:ontology_entity", args=["member"])).status_code == 200
    response = client.post(reverse("web:ontology_entity_new"), _entity_post(), **HX)
    assert response.status_code == 403
    assert not selectors.entities(client_id=insurer.client_id, codes=["claim"])


# --- relationships ------------------------------------------------------------------


def _relationship_post(**overrides) -> dict:
    data = {
        "code": "claim_member",
        "source_entity": "policy_snapshot",
        "source_attribute": "member_id",
        "kind": "many_to_one",
        "target_entity": "member",
        "target_attribute": "member_id",
    }
    data.update(overrides)
    return data


def test_relationship_builder_creates_a_relationship(console, insurer):
    response = console.post(reverse("web:ontology_relationship_new"), _relationship_post(kind="composition"), **HX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("web:ontology_studio") + "?relationship=claim_member#relationships"
    (rel,) = selectors.relationships(client_id=insurer.client_id, codes=["claim_member"])
    assert (rel.source_entity, rel.target_entity, rel.kind) == ("policy_snapshot", "member", "composition")
    page = console.get(reverse("web:ontology_studio") + "?relationship=claim_member").content.decode()
    assert 'class="just-saved" data-relationship="claim_member"' in page
    assert '"kind": "composition"' in page  # drawn on the diagram


@pytest.mark.parametrize(
    ("overrides", "error_id", "words"),
    [
        ({"target_attribute": "nope"}, "rel-target-attribute-error", "has no attribute 'nope'"),
        ({"source_attribute": "start_date"}, "rel-target-attribute-error", "keys must have the same type"),
        ({"code": "snapshot_member"}, "rel-code-error", "already exists"),
        ({"code": ""}, "rel-code-error", "code is required"),
    ],
)
def test_refused_relationship_shows_inline_errors(console, insurer, overrides, error_id, words):
    response = console.post(reverse("web:ontology_relationship_new"), _relationship_post(**overrides), **HX)
    assert response.status_code in (400, 409)
    html = response.content.decode()
    assert "<html" not in html and words in _error(html, error_id)
    assert len(selectors.relationships(client_id=insurer.client_id)) == 1


def test_relationship_form_page_and_attribute_options(console, insurer):
    assert "<html" in console.get(reverse("web:ontology_relationship_new")).content.decode()
    fragment = console.get(reverse("web:ontology_relationship_new"), **HX).content.decode()
    assert "<html" not in fragment and 'id="relationship-form"' in fragment
    options = console.get(reverse("web:ontology_attribute_options"), {"source_entity": "member"}).content.decode()
    assert '<option value="member_id">' in options and '<option value="region">' in options


# --- history, diff, revert ---------------------------------------------------------


@pytest.fixture
def changed_member(insurer):
    entity = selectors.entity(client_id=insurer.client_id, code="member")
    data = entity_services.EntityInput(
        code="member",
        name="Insured member",
        kind="reference",
        attributes=[
            entity_services.AttributeInput("member_id", "string", nullable=False),
            entity_services.AttributeInput("region", "string", nullable=False),
            entity_services.AttributeInput("birth_year", "integer"),
        ],
    )
    entity_services.entity_update(entity=entity, data=data, user=insurer.user)
    return entity


def test_history_lists_versions_with_their_changes(console, changed_member):
    url = reverse("web:ontology_entity_history", args=["member"])
    full = console.get(url).content.decode()
    fragment = console.get(url, **HX).content.decode()
    assert "<html" in full and "<html" not in fragment
    assert fragment.count("data-version=") == 2
    assert "Changed entity member" in fragment and "Created entity member" in fragment
    assert "+ attribute <code>birth_year</code>" in fragment
    assert "<del>Member</del> → <ins>Insured member</ins>" in fragment


def test_diff_highlights_attributes_added_changed_and_fields(console, changed_member):
    first = min(v.id for v in _versions(changed_member))
    response = console.get(reverse("web:ontology_entity_diff", args=["member", first]), **HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert '<tr class="added" data-attribute="birth_year">' in html
    assert '<tr class="changed" data-attribute="region">' in html
    assert '<tr class="unchanged" data-attribute="member_id">' in html
    assert "<del>Member</del>" in html and "<ins>Insured member</ins>" in html
    assert "<html" in console.get(reverse("web:ontology_entity_diff", args=["member", first])).content.decode()


def _versions(entity):
    from apps.ontology.selectors.versions import definition_history

    return definition_history(entity)


def test_revert_restores_the_old_definition_as_a_new_version(console, changed_member, insurer):
    first = min(v.id for v in _versions(changed_member))
    response = console.post(reverse("web:ontology_entity_revert", args=["member", first]), **HX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("web:ontology_entity_history", args=["member"]) + f"?reverted={first}"
    entity = selectors.entity(client_id=insurer.client_id, code="member")
    assert entity.name == "Member"
    assert [a.code for a in entity.attributes] == ["member_id", "region"]
    assert _attribute(entity, "region").nullable is True
    assert len(_versions(entity)) == 3
    page = console.get(response["HX-Redirect"]).content.decode()
    assert f"Reverted to version {first}" in page


def test_refused_revert_shows_why(console, insurer):
    """Reverting to before an attribute a relationship now uses is refused (409 in_use)."""
    entity = selectors.entity(client_id=insurer.client_id, code="member")
    first = min(v.id for v in _versions(entity))
    entity_services.entity_update(
        entity=entity,
        data=entity_services.EntityInput(
            code="member",
            name="Member",
            kind="reference",
            attributes=[
                entity_services.AttributeInput("member_id", "string", nullable=False),
                entity_services.AttributeInput("region", "string"),
                entity_services.AttributeInput("household_id", "string"),
            ],
        ),
    )
    from apps.ontology.services import relationships

    relationships.relationship_create(
        client_id=insurer.client_id,
        data=relationships.RelationshipInput(
            code="member_household",
            source_entity="member",
            target_entity="member",
            kind="many_to_one",
            source_attribute="household_id",
            target_attribute="member_id",
        ),
    )
    response = console.post(reverse("web:ontology_entity_revert", args=["member", first]), **HX)
    assert response.status_code == 409
    assert "still used by relationship member_household" in _error(response.content.decode(), "revert-error")
    assert len(_versions(entity)) == 2


def test_unknown_version_is_404(console, insurer):
    assert console.get(reverse("web:ontology_entity_diff", args=["member", 999999])).status_code == 404
    assert console.post(reverse("web:ontology_entity_revert", args=["member", 999999])).status_code == 404


# --- tenancy -------------------------------------------------------------------------


def test_another_clients_entity_is_404_on_every_entity_route(client, insurer):
    stranger = MembershipFactory(is_default=True, role="admin")
    client.force_login(stranger.user)
    entity = selectors.entity(client_id=insurer.client_id, code="member")
    version = _versions(entity)[0].id
    gets = [
        reverse("web:ontology_entity", args=["member"]),
        reverse("web:ontology_entity_history", args=["member"]),
        reverse("web:ontology_entity_diff", args=["member", version]),
        reverse("web:ontology_attribute_options") + "?source_entity=member",
    ]
    for url in gets:
        assert client.get(url).status_code == 404, url
        assert client.get(url, **HX).status_code == 404, url
    assert client.post(reverse("web:ontology_entity", args=["member"]), {"name": "Mine"}).status_code == 404
    assert client.post(reverse("web:ontology_entity_revert", args=["member", version])).status_code == 404
    # the stranger's studio does not show it, and relating to it is refused as unknown
    assert 'data-entity="member"' not in client.get(reverse("web:ontology_studio")).content.decode()
    response = client.post(reverse("web:ontology_relationship_new"), _relationship_post(), **HX)
    assert response.status_code == 400 and "Unknown source entity" in response.content.decode()
    assert selectors.entity(client_id=insurer.client_id, code="member").name == "Member"
