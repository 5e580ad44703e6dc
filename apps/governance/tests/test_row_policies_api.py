"""`/api/v1/row-policies/` (docs/access.md, "Row policies"): CRUD for the
client's administrators, every predicate compiled at save (a 400 naming
the problem: position, attribute, type), another client's policy a 404."""

import pytest
from rest_framework.test import APIClient

from apps.core.tests.factories import MembershipFactory
from apps.governance.models import RowPolicy

pytestmark = pytest.mark.django_db(transaction=True)

PEOPLE = {
    "code": "people",
    "name": "People",
    "kind": "reference",
    "attributes": [
        {"code": "person_id", "data_type": "string", "nullable": False},
        {"code": "home_region", "data_type": "string"},
        {"code": "grade", "data_type": "integer"},
    ],
}
ORDERS = {
    "code": "orders",
    "name": "Orders",
    "kind": "time_series",
    "time_attribute": "ordered_at",
    "attributes": [
        {"code": "ordered_at", "data_type": "timestamp", "nullable": False},
        {"code": "region", "data_type": "string"},
        {"code": "lob", "data_type": "string"},
        {"code": "person_id", "data_type": "string"},
        {"code": "amount", "data_type": "decimal"},
    ],
}
URL = "/api/v1/row-policies/"


def api_for(role: str, client=None) -> tuple[APIClient, object]:
    kwargs = {"client": client} if client is not None else {}
    membership = MembershipFactory(role=role, is_default=True, **kwargs)
    api = APIClient()
    api.force_authenticate(membership.user)
    return api, membership.client


@pytest.fixture
def admin():
    api, client = api_for("admin")
    for entity in (PEOPLE, ORDERS):
        assert api.post("/api/v1/ontology/entities/", entity, format="json").status_code == 201
    relationship = {
        "code": "sold_by", "name": "Sold by", "source_entity": "orders", "target_entity": "people",
        "kind": "many_to_one", "source_attribute": "person_id", "target_attribute": "person_id",
    }  # fmt: skip
    assert api.post("/api/v1/ontology/relationships/", relationship, format="json").status_code == 201
    return api, client


def body(predicate: str, **extra) -> dict:
    return {
        "name": extra.pop("name", "EU only"),
        "subject_kind": "role",
        "subject_value": "viewer",
        "entity": "orders",
        "predicate": predicate,
        **extra,
    }


def test_crud(admin):
    api, _ = admin
    response = api.post(URL, body("region = 'EU'"), format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["predicate"] == "region = 'EU'" and created["is_enabled"] is True
    for predicate in (
        "lob IN ('Health', 'Motor')",
        "sold_by.home_region = 'EU'",
        "sold_by.home_region = {user.region} OR NOT (lob = 'Life' AND amount > 10)",
        "sold_by.grade BETWEEN 1 AND 3 AND region IS NOT NULL",
    ):
        response = api.post(URL, body(predicate, name=predicate), format="json")
        assert response.status_code == 201, (predicate, response.content)
    assert len(api.get(URL).json()) == 5
    url = f"{URL}{created['id']}/"
    assert api.get(url).json()["name"] == "EU only"
    changed = api.patch(url, {"predicate": "region = 'US'", "is_enabled": False}, format="json")
    assert changed.status_code == 200 and changed.json()["predicate"] == "region = 'US'"
    assert RowPolicy.objects.get(pk=created["id"]).is_enabled is False
    assert api.patch(url, {"predicate": "regio = 'US'"}, format="json").status_code == 400
    assert api.post(URL, body("region = 'EU'"), format="json").status_code == 409  # the name is taken
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404


@pytest.mark.parametrize(
    ("predicate", "entity", "message", "details"),
    [
        ("region = ", "orders", "The predicate ends too early", {}),
        ("region = 'EU' garbage", "orders", "Unexpected garbage", {"position": 14}),
        ("lob = 'x' AND regio = 'EU'", "orders", "regio", {"attribute": "regio", "position": 14}),
        ("sold_by.nope = 'EU'", "orders", "sold_by.nope", {"attribute": "sold_by.nope", "position": 0}),
        ("amount = 'abc'", "orders", "'abc' is not a valid number", {"attribute": "amount", "position": 7}),
        ("region = 3", "orders", "cannot compare", {"attribute": "region"}),
        ("region", "orders", "must be a condition", {"attribute": "region"}),
        ("SUM(amount) > 3", "orders", "SUM is not allowed", {"position": 0}),
        ("region = {customer.x}", "orders", "is not a placeholder", {}),
        ("region = 'EU'; DROP TABLE x", "orders", "not allowed", {}),
        ("region = 'EU'", "nothing", "Unknown entity 'nothing'", {"entity": "nothing"}),
    ],
)
def test_a_predicate_that_does_not_compile_is_a_400_naming_the_problem(admin, predicate, entity, message, details):
    api, _ = admin
    response = api.post(URL, body(predicate, entity=entity), format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_predicate" and message in error["message"], error
    for key, value in details.items():
        assert error["details"][key] == value, error
    assert not RowPolicy.objects.exists()


def test_bad_subjects_are_400s(admin):
    api, _ = admin
    assert api.post(URL, body("region = 'EU'", subject_kind="team"), format="json").status_code == 400
    assert (
        api.post(URL, body("region = 'EU'", subject_kind="user", subject_value="bob"), format="json").status_code == 400
    )


def test_only_administrators_manage_and_another_clients_policy_is_a_404(admin):
    api, client = admin
    policy_id = api.post(URL, body("region = 'EU'"), format="json").json()["id"]
    analyst, _ = api_for("analyst", client)
    assert analyst.get(URL).status_code == 403
    assert analyst.post(URL, body("region = 'US'", name="x"), format="json").status_code == 403
    stranger, _ = api_for("admin")
    assert stranger.get(URL).json() == []
    for method in ("get", "patch", "delete"):
        response = getattr(stranger, method)(f"{URL}{policy_id}/", {"name": "mine"}, format="json")
        assert response.status_code == 404, (method, response.content)
    assert RowPolicy.objects.get(pk=policy_id).name == "EU only"
