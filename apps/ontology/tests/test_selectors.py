"""The face's selectors hand other apps frozen dataclasses, never models or
querysets, and read them in a number of queries that does not grow with
the number of definitions."""

import dataclasses

import pytest
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext

from apps.core.errors import NotFound
from apps.core.tests.factories import MembershipFactory
from apps.ontology import selectors
from apps.ontology.models import EntityDefinition, MetricDefinition, ValueChainPatternDefinition
from apps.ontology.services.entities import AttributeInput, EntityInput, entity_create
from apps.ontology.services.metrics import MetricInput, metric_create
from apps.ontology.services.relationships import RelationshipInput, relationship_create
from apps.ontology.types.definitions import AttributeView, EntityView, MetricView, RelationshipView, ValueChainRef

pytestmark = pytest.mark.django_db


def _entity(client_id: int, code: str) -> None:
    entity_create(
        client_id=client_id,
        data=EntityInput(
            code=code,
            name=code.title(),
            kind="reference",
            attributes=[
                AttributeInput(f"{code}_id", "string", nullable=False),
                AttributeInput("status", "string", enum_values=("Open", "Closed")),
            ],
        ),
    )


def _family(client_id: int, n: int) -> None:
    """Entity `e<n>` with a relationship to `e0`, a metric over it and a
    metric derived from that one, both in a value chain."""
    _entity(client_id, f"e{n}")
    relationship_create(
        client_id=client_id,
        data=RelationshipInput(f"r{n}", f"e{n}", "e0", "many_to_one", "status", "status"),
    )
    metric_create(client_id=client_id, data=MetricInput(f"m{n}", f"M {n}", f"COUNT_DISTINCT(e{n}_id)", entity=f"e{n}"))
    metric_create(client_id=client_id, data=MetricInput(f"d{n}", f"D {n}", f"m{n} * 2"))
    chain = ValueChainPatternDefinition.objects.create(client_id=client_id, code=f"vc{n}", name=f"Chain {n}")
    chain.metrics.add(*MetricDefinition.objects.filter(client_id=client_id, code=f"m{n}"))
    chain.entities.add(*EntityDefinition.objects.filter(client_id=client_id, code=f"e{n}"))


@pytest.fixture
def client_id(db):
    client_id = MembershipFactory().client_id
    _entity(client_id, "e0")
    _family(client_id, 1)
    return client_id


def _no_models(value) -> None:
    """Nothing reachable from a selector's answer is a model or a queryset."""
    assert not isinstance(value, Model) and not hasattr(value, "query"), value
    if dataclasses.is_dataclass(value):
        assert type(value).__dataclass_params__.frozen, type(value)
        for field in dataclasses.fields(value):
            _no_models(getattr(value, field.name))
    elif isinstance(value, list | tuple):
        for item in value:
            _no_models(item)


def test_selectors_return_frozen_dataclasses(client_id):
    entities = selectors.entities(client_id=client_id)
    relationships = selectors.relationships(client_id=client_id)
    metrics = selectors.metrics(client_id=client_id)
    for answer in (entities, relationships, metrics, selectors.entity(client_id=client_id, code="e1")):
        _no_models(answer)

    e1 = selectors.entity(client_id=client_id, code="e1")
    assert isinstance(e1, EntityView)
    assert (e1.code, e1.kind, e1.kind_label) == ("e1", "reference", "Reference")
    assert e1.table_name.endswith("e1")
    assert [(a.code, a.data_type, a.nullable, a.enum_values) for a in e1.attributes] == [
        ("e1_id", "string", False, ()),
        ("status", "string", True, ("Open", "Closed")),
    ]
    assert all(isinstance(a, AttributeView) for a in e1.attributes)
    assert e1.value_chains == (ValueChainRef("vc1", "Chain 1", "", ""),)
    assert [e.code for e in entities] == ["e0", "e1"]

    (r1,) = relationships
    assert isinstance(r1, RelationshipView)
    assert (r1.source_entity, r1.target_entity, r1.source_entity_name, r1.kind) == ("e1", "e0", "E1", "many_to_one")

    by_code = {m.code: m for m in metrics}
    assert all(isinstance(m, MetricView) for m in metrics)
    assert (by_code["m1"].entity, by_code["m1"].used_by, by_code["m1"].value_chains[0].code) == ("e1", ("d1",), "vc1")
    assert (by_code["d1"].entity, by_code["d1"].depends_on_metrics, by_code["d1"].used_by) == (None, ("m1",), ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        by_code["m1"].name = "changed"


def test_selectors_filter_by_codes_and_answer_404_for_another_clients_entity(client_id):
    assert [e.code for e in selectors.entities(client_id=client_id, codes=["e1", "nope"])] == ["e1"]
    assert [m.code for m in selectors.metrics(client_id=client_id, codes=["d1"])] == ["d1"]
    assert [r.code for r in selectors.relationships(client_id=client_id, codes=[])] == []
    assert selectors.metric_exists(client_id=client_id, code="m1")
    assert selectors.metric_count(client_id=client_id) == 2
    other = MembershipFactory().client_id
    assert not selectors.metric_exists(client_id=other, code="m1")
    with pytest.raises(NotFound):
        selectors.entity(client_id=other, code="e1")


def _queries(client_id: int) -> dict[str, int]:
    counts = {}
    for name in ("entities", "relationships", "metrics"):
        with CaptureQueriesContext(connection) as captured:
            getattr(selectors, name)(client_id=client_id)
        counts[name] = len(captured.captured_queries)
    return counts


def test_query_count_does_not_grow_with_the_definitions(client_id):
    before = _queries(client_id)
    for n in (2, 3, 4):
        _family(client_id, n)
    assert len(selectors.metrics(client_id=client_id)) == 8
    assert _queries(client_id) == before
    assert before == {"entities": 3, "relationships": 1, "metrics": 4}
