import dataclasses
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from psycopg import sql

from apps.core.tests.assertions import assert_error
from apps.core.tests.factories import ClientFactory, MembershipFactory
from apps.ontology.models import DataLoad
from apps.ontology.services.entities import AttributeInput, EntityInput, entity_create

pytestmark = pytest.mark.django_db

READING = EntityInput(
    code="reading",
    name="Reading",
    kind="time_series",
    time_attribute="observed_at",
    attributes=[
        AttributeInput("observed_at", "timestamp", nullable=False),
        AttributeInput("meter", "string", nullable=False),
        AttributeInput("status", "string", enum_values=("ok", "late")),
        AttributeInput("value", "decimal"),
    ],
)
URL = "/api/v1/data/reading/rows/"
GOOD = [
    {"observed_at": "2026-01-05T10:00:00Z", "meter": "m-1", "status": "ok", "value": 12.5},
    {"observed_at": "2026-01-05T11:00:00+01:00", "meter": "m-2", "value": "0.1"},
]


@pytest.fixture
def reading(analyst):
    return entity_create(client_id=analyst.client_id, data=READING)


def stored(entity):
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT observed_at, meter, status, value FROM {} ORDER BY observed_at, meter").format(
                sql.Identifier("analytics_data", entity.table_name)
            )
        )
        return cursor.fetchall()


def post_json(api, rows, url=URL, **extra):
    return api.generic("POST", url, json.dumps(rows), content_type="application/json", **extra)


def post_csv(api, text, url=URL, content_type="text/csv"):
    return api.generic("POST", url, text.encode() if isinstance(text, str) else text, content_type=content_type)


def test_json_rows_are_stored_and_read_back(analyst_client, analyst, reading):
    response = post_json(analyst_client, GOOD)

    assert response.status_code == 201, response.content
    assert response.json() == {"inserted": 2, "rejected": [], "rejected_count": 0}
    assert stored(reading) == [
        (datetime(2026, 1, 5, 10, tzinfo=UTC), "m-1", "ok", Decimal("12.5")),
        (datetime(2026, 1, 5, 10, tzinfo=UTC), "m-2", None, Decimal("0.1")),
    ]
    load = DataLoad.objects.get()
    assert (load.inserted, load.source, load.created_by) == (2, "api", analyst.user)


def test_the_trailing_slash_is_optional(analyst_client, reading):
    assert post_json(analyst_client, GOOD[:1], url=URL.rstrip("/")).status_code == 201


def test_invalid_rows_are_reported_and_the_valid_ones_stored(analyst_client, reading):
    response = post_json(analyst_client, [GOOD[0], {"observed_at": "soon", "meter": "m-3", "status": "lost"}])

    assert response.status_code == 201
    assert response.json() == {
        "inserted": 1,
        "rejected": [
            {
                "row": 1,
                "errors": {
                    "observed_at": 'Expected an ISO 8601 timestamp (2026-01-31T09:30:00Z), got "soon".',
                    "status": '"lost" is not one of the allowed values: ok, late.',
                },
            }
        ],
        "rejected_count": 1,
    }
    assert len(stored(reading)) == 1


def test_when_every_row_is_rejected_the_answer_is_200_with_the_report(analyst_client, reading):
    response = post_json(analyst_client, [{"meter": "m-1"}, {"observed_at": "2026-01-05", "meter": None}])

    assert response.status_code == 200
    body = response.json()
    assert (body["inserted"], body["rejected_count"], [r["row"] for r in body["rejected"]]) == (0, 2, [0, 1])
    assert stored(reading) == []
    assert not DataLoad.objects.exists()


def test_csv_rows_are_stored_and_read_back(analyst_client, reading):
    text = 'meter,observed_at,value,status\r\nm-1,2026-01-05T10:00:00Z,12.50,ok\r\n"m,2",2026-01-05 10:00,,\r\n'
    response = post_csv(analyst_client, text)

    assert response.status_code == 201, response.content
    assert response.json() == {"inserted": 2, "rejected": [], "rejected_count": 0}
    assert stored(reading) == [
        (datetime(2026, 1, 5, 10, tzinfo=UTC), "m,2", None, None),
        (datetime(2026, 1, 5, 10, tzinfo=UTC), "m-1", "ok", Decimal("12.50")),
    ]
    assert DataLoad.objects.get().source == "csv"


def test_csv_in_another_charset_and_with_a_byte_order_mark(analyst_client, reading):
    latin = "observed_at,meter\n2026-01-05T10:00:00Z,Zürich\n".encode("latin-1")
    response = post_csv(analyst_client, latin, content_type="text/csv; charset=latin-1")
    assert response.status_code == 201, response.content

    bom = "\ufeffobserved_at,meter\n2026-01-06T10:00:00Z,Genève\n".encode()
    assert post_csv(analyst_client, bom).status_code == 201
    assert [r[1] for r in stored(reading)] == ["Zürich", "Genève"]


def test_invalid_csv_rows_carry_their_line(analyst_client, reading):
    response = post_csv(analyst_client, "observed_at,meter\n2026-01-05T10:00:00Z,m-1\nlater,m-2\n")

    assert response.status_code == 201
    assert response.json()["rejected"] == [
        {"row": 1, "line": 3, "errors": {"observed_at": 'Expected an ISO 8601 timestamp (2026-01-31T09:30:00Z), '
                                                        'got "later".'}}
    ]  # fmt: skip


def test_a_wrong_csv_header_is_a_400_naming_the_columns(analyst_client, reading):
    error = assert_error(post_csv(analyst_client, "observed_at,colour\n2026-01-05,red\n"), 400, "invalid_csv_header")

    assert "unknown column(s) colour" in error["message"]
    assert "missing required (non-nullable) column(s) meter" in error["message"]
    assert error["details"]["unknown_columns"] == ["colour"]
    assert error["details"]["missing_columns"] == ["meter"]
    assert stored(reading) == []


def test_an_unknown_entity_is_404(analyst_client, reading):
    error = assert_error(post_json(analyst_client, GOOD, url="/api/v1/data/nothing/rows/"), 404, "not_found")
    assert "nothing" in error["message"]


def test_another_clients_entity_is_404_and_untouched(analyst_client, reading):
    other = entity_create(client_id=ClientFactory().id, data=dataclasses.replace(READING, code="theirs"))

    assert_error(post_json(analyst_client, GOOD, url="/api/v1/data/theirs/rows/"), 404, "not_found")
    assert stored(other) == []


def test_a_viewer_may_not_load(api_client, reading):
    viewer = MembershipFactory(client_id=reading.client_id, role="viewer", is_default=True)
    api_client.force_authenticate(viewer.user)

    error = assert_error(post_json(api_client, GOOD), 403, "permission_denied")
    assert "may read data but not load it" in error["message"]
    assert stored(reading) == []


def test_anonymous_callers_are_refused(api_client, reading):
    assert post_json(api_client, GOOD).status_code == 401


def test_a_body_over_the_byte_limit_is_413_before_it_is_read(analyst_client, reading, settings):
    settings.AE_MAX_LOAD_BYTES = 100
    rows = GOOD * 5
    error = assert_error(post_json(analyst_client, rows), 413, "payload_too_large")

    assert error["details"] == {"max_bytes": 100}
    assert f"({len(json.dumps(rows))} bytes)" in error["message"]  # from Content-Length
    assert stored(reading) == []


def test_more_rows_than_the_row_cap_is_413(analyst_client, reading, settings):
    settings.AE_MAX_LOAD_ROWS = 1
    error = assert_error(post_json(analyst_client, GOOD), 413, "too_many_rows")
    assert error["details"] == {"max_rows": 1}


def test_loads_beyond_djangos_upload_limit_go_through(analyst_client, reading, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440  # Django's default, whatever settings say
    rows = [{"observed_at": f"2026-01-05T10:{i % 60:02d}:00Z", "meter": f"m-{i:08d}", "value": i} for i in range(40000)]
    body = json.dumps(rows)
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    response = analyst_client.generic("POST", URL, body, content_type="application/json")

    assert response.status_code == 201, response.content[:300]
    assert response.json()["inserted"] == 40_000


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", ""])
def test_other_content_types_are_415(analyst_client, reading, content_type):
    response = analyst_client.generic("POST", URL, json.dumps(GOOD), content_type=content_type)

    error = assert_error(response, 415, "unsupported_media_type")
    assert "application/json" in error["message"] and "text/csv" in error["message"]


@pytest.mark.parametrize(
    ("body", "code", "needle"),
    [
        ('[{"meter": "m-1",', "malformed_json", "line 1, column"),
        ("", "empty_body", "empty"),
        ('{"meter": "m-1"}', "expected_array", "got an object"),
        ('[{"meter": "m-1"}, "m-2", 3]', "expected_objects", "first at index 1"),
        ('[{"value": Infinity}]', "malformed_json", "Infinity is not valid JSON"),
    ],
)
def test_bad_json_bodies_are_400_naming_the_problem(analyst_client, reading, body, code, needle):
    response = analyst_client.generic("POST", URL, body, content_type="application/json")

    error = assert_error(response, 400, code)
    assert needle in error["message"]
    assert stored(reading) == []


def test_an_empty_csv_body_is_400(analyst_client, reading):
    assert_error(post_csv(analyst_client, ""), 400, "empty_body")


def test_undecodable_csv_is_400(analyst_client, reading):
    error = assert_error(post_csv(analyst_client, b"observed_at,meter\n2026-01-05,\xff\xfe\n"), 400, "invalid_encoding")
    assert "byte 29" in error["message"]
