"""The console's formula check and derive dialog refuse a derived formula
whose value is not a number, as the API does (issue 15, "input"), naming
what is wrong."""

import pytest
from django.urls import reverse

from apps.ontology import selectors
from apps.web.tests.ontology_fixtures import insurer_define

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def insurer(member):
    insurer_define(member.client_id)
    return member


@pytest.mark.parametrize(
    ("formula", "needle"),
    [
        ("new_count > start_count", "must be a number"),
        ("new_count + 'x'", "needs numbers"),
        ("new_count * 1e400", "out of range"),
        ("IF(new_count, 1, 0)", "IF needs a condition"),
    ],
)
def test_formula_check_and_derive_refuse_a_formula_that_is_not_a_number(console, insurer, formula, needle):
    check = console.get(reverse("web:kpi_formula_check"), {"formula": formula, "code": "net_growth"}, **HX)
    assert check.status_code == 200
    assert 'class="field-error"' in check.content.decode() and needle in check.content.decode()
    data = {"name": "Net growth", "code": "net_growth", "formula": formula}
    response = console.post(reverse("web:kpi_derive"), data, **HX)
    assert response.status_code == 422 and needle in response.content.decode()
    assert not selectors.metric_exists(client_id=insurer.client_id, code="net_growth")
