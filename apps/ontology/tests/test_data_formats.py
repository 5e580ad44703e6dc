"""Files as they come (issue #14 item 5): query parameters that read a CSV
(or JSON) in the form it was downloaded in, each checked up front, and the
examples of docs/loading-data.md ("Files as they come") computed here."""

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from psycopg import sql
from rest_framework.test import APIClient

from apps.core.tests.assertions import assert_error
from apps.ontology.models import DataLoad
from apps.ontology.services.entities import AttributeInput, EntityInput, entity_create

pytestmark = pytest.mark.django_db

WEATHER_DAY = EntityInput(
    code="weather_day",
    name="Daily weather",
    kind="time_series",
    time_attribute="day",
    attributes=[
        AttributeInput("day", "date", nullable=False),
        AttributeInput("station", "string", nullable=False),
        AttributeInput("temperature", "decimal"),
        AttributeInput("precipitation", "decimal"),
    ],
)
TEMPERATURE_HOUR = EntityInput(
    code="temperature_hour",
    name="Hourly temperature",
    kind="time_series",
    time_attribute="observed_at",
    attributes=[
        AttributeInput("observed_at", "timestamp", nullable=False),
        AttributeInput("station", "string", nullable=False),
        AttributeInput("temperature", "decimal"),
    ],
)
DAY_URL = "/api/v1/data/weather_day/rows/"
HOUR_URL = "/api/v1/data/temperature_hour/rows/"

# As a weather service publishes daily values: German headers, ; between cells, decimal commas.
WEATHER_CSV = (
    "Datum;Station;Temp;Niederschlag\r\n"
    "01.03.2026;Berlin-Tempelhof;4,5;0,0\r\n"
    "02.03.2026;Berlin-Tempelhof;-1,25;\r\n"
    "03.03.2026;Berlin-Tempelhof;12,0;3,7\r\n"
)
WEATHER_PARAMS = {
    "delimiter": ";",
    "decimal": ",",
    "date_format": "%d.%m.%Y",
    "map": "Datum:day,Station:station,Temp:temperature,Niederschlag:precipitation",
}
WEATHER_STORED = [
    (date(2026, 3, 1), "Berlin-Tempelhof", Decimal("4.5"), Decimal("0.0")),
    (date(2026, 3, 2), "Berlin-Tempelhof", Decimal("-1.25"), None),
    (date(2026, 3, 3), "Berlin-Tempelhof", Decimal("12.0"), Decimal("3.7")),
]


@pytest.fixture
def weather(analyst):
    return entity_create(client_id=analyst.client_id, data=WEATHER_DAY)


@pytest.fixture
def hourly(analyst):
    return entity_create(client_id=analyst.client_id, data=TEMPERATURE_HOUR)


def stored(entity, columns):
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT {} FROM {} ORDER BY 1, 2").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.Identifier("analytics_data", entity.table_name),
            )
        )
        return cursor.fetchall()


def day_rows(entity):
    return stored(entity, ["day", "station", "temperature", "precipitation"])


def hour_rows(entity):
    return stored(entity, ["observed_at", "station", "temperature"])


def with_query(url, params):
    return f"{url}?{urlencode(params, doseq=True)}" if params else url


def post_csv(api, url, text, params=None, content_type="text/csv"):
    body = text.encode() if isinstance(text, str) else text
    return api.generic("POST", with_query(url, params), body, content_type=content_type)


def post_json(api, url, rows, params=None):
    return api.generic("POST", with_query(url, params), json.dumps(rows), content_type="application/json")


def post_file(api, url, text, params=None, content_type="text/csv", field="file", **fields):
    upload = SimpleUploadedFile("data.csv", text.encode() if isinstance(text, str) else text, content_type)
    return api.post(with_query(url, params), {field: upload, **fields}, format="multipart")


# --- Each parameter on a real-looking file --------------------------------------


def test_a_weather_file_with_semicolons_decimal_commas_german_dates_and_its_own_headers_loads(analyst_client, weather):
    response = post_csv(analyst_client, DAY_URL, WEATHER_CSV, WEATHER_PARAMS)

    assert response.status_code == 201, response.content
    assert response.json() == {"inserted": 3, "rejected": [], "rejected_count": 0}
    assert day_rows(weather) == WEATHER_STORED
    load = DataLoad.objects.get()
    assert (load.time_min, load.time_max) == (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC))


def test_without_the_parameters_the_same_file_loads_nothing_and_says_why(analyst_client, weather):
    response = post_csv(analyst_client, DAY_URL, WEATHER_CSV)

    error = assert_error(response, 400, "invalid_csv_header")
    assert error["details"]["unknown_columns"] == ["Datum;Station;Temp;Niederschlag"]
    assert (
        error["details"]["hint"]
        == "The header is one column holding ';': is the file separated by it? Add delimiter=;."
    )
    assert day_rows(weather) == []


def test_naive_timestamps_are_read_in_the_timezone_across_both_daylight_saving_changes(analyst_client, hourly):
    text = (
        "time\tstation\ttemperature\n"
        "29.03.2026 01:00\tB\t3.5\n"  # CET, +01:00
        "29.03.2026 03:00\tB\t3.0\n"  # CEST, +02:00: one hour after the previous row
        "25.10.2026 02:30\tB\t9.5\n"  # passed twice: the first (CEST)
        "25.10.2026 03:30\tB\t9.0\n"  # CET again
        "15.07.2026 12:00\tB\t25.0\n"
    )
    params = {
        "delimiter": "\t",
        "timestamp_format": "%d.%m.%Y %H:%M",
        "timezone": "Europe/Berlin",
        "map": "time:observed_at",
    }

    response = post_csv(analyst_client, HOUR_URL, text, params)

    assert response.status_code == 201, response.content
    assert response.json()["rejected_count"] == 0
    assert [row[0] for row in hour_rows(hourly)] == [
        datetime(2026, 3, 29, 0, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 7, 15, 10, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 2, 30, tzinfo=UTC),
    ]


def test_a_time_the_clocks_skipped_is_a_rejected_row_naming_it_and_an_explicit_offset_is_kept(analyst_client, hourly):
    text = (
        "observed_at|station|temperature\n"
        "2026-03-29 02:30|B|3.0\n"  # does not exist in Berlin
        "2026-03-29 02:30+01:00|B|3.0\n"  # an offset says which instant it is: kept
        "2026-03-29 04:00|B|4.0\n"
    )

    response = post_csv(analyst_client, HOUR_URL, text, {"delimiter": "|", "timezone": "Europe/Berlin"})

    assert response.status_code == 201, response.content
    assert response.json()["rejected"] == [
        {
            "row": 0,
            "line": 2,
            "errors": {
                "observed_at": "2026-03-29 02:30:00 does not exist in Europe/Berlin: "
                "the clocks skipped that hour (daylight saving time began)."
            },
        }
    ]
    assert [row[0] for row in hour_rows(hourly)] == [
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        datetime(2026, 3, 29, 2, 0, tzinfo=UTC),
    ]


@pytest.mark.parametrize("tab", ["tab", "TAB", "\t", "\\t"])
def test_a_tab_delimiter_is_accepted_as_the_word_the_character_and_the_escape(analyst_client, hourly, tab):
    text = "observed_at\tstation\ttemperature\n2026-01-31T09:30:00Z\tB\t1.5\n"

    response = post_csv(analyst_client, HOUR_URL, text, {"delimiter": tab})

    assert response.status_code == 201, response.content
    assert hour_rows(hourly) == [(datetime(2026, 1, 31, 9, 30, tzinfo=UTC), "B", Decimal("1.5"))]


def test_a_tab_delimiter_percent_encoded_in_the_url_is_a_tab(analyst_client, hourly):
    text = "observed_at\tstation\ttemperature\n2026-01-31T09:30:00Z\tB\t1.5\n"

    response = analyst_client.generic("POST", f"{HOUR_URL}?delimiter=%09", text.encode(), content_type="text/csv")

    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("date_format", "cell"),
    [("%Y/%m/%d", "2026/03/01"), ("%d %b %Y", "01 Mar 2026"), ("%y%m%d", "260301"), ("%j/%Y", "060/2026")],
)
def test_date_formats(analyst_client, weather, date_format, cell):
    response = post_csv(analyst_client, DAY_URL, f"day,station\n{cell},S\n", {"date_format": date_format})

    assert response.status_code == 201, response.content
    assert day_rows(weather) == [(date(2026, 3, 1), "S", None, None)]


@pytest.mark.parametrize(
    ("timestamp_format", "cell", "expected"),
    [
        ("%d.%m.%Y %H:%M", "01.03.2026 14:05", datetime(2026, 3, 1, 14, 5, tzinfo=UTC)),
        ("%Y%m%d%H", "2026030114", datetime(2026, 3, 1, 14, tzinfo=UTC)),
        ("%m/%d/%Y %I:%M %p", "03/01/2026 02:05 PM", datetime(2026, 3, 1, 14, 5, tzinfo=UTC)),
        ("%d.%m.%Y %H:%M %z", "01.03.2026 14:05 +0100", datetime(2026, 3, 1, 13, 5, tzinfo=UTC)),
        ("%Y-%m-%d", "2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
    ],
)
def test_timestamp_formats_without_a_timezone_are_utc(analyst_client, hourly, timestamp_format, cell, expected):
    response = post_csv(
        analyst_client, HOUR_URL, f"observed_at,station\n{cell},S\n", {"timestamp_format": timestamp_format}
    )

    assert response.status_code == 201, response.content
    assert hour_rows(hourly) == [(expected, "S", None)]


def test_a_csv_whose_dates_do_not_match_the_format_loads_nothing_and_says_which_rows_and_why(analyst_client, weather):
    text = "day,station\n2026-03-01,S\n2026-03-02,S\n"

    response = post_csv(analyst_client, DAY_URL, text, {"date_format": "%d.%m.%Y"})

    assert response.status_code == 200, response.content
    reason = 'Expected a date as %d.%m.%Y (e.g. 31.01.2026), got "{}".'
    assert response.json() == {
        "inserted": 0,
        "rejected": [
            {"row": 0, "line": 2, "errors": {"day": reason.format("2026-03-01")}},
            {"row": 1, "line": 3, "errors": {"day": reason.format("2026-03-02")}},
        ],
        "rejected_count": 2,
    }
    assert day_rows(weather) == []
    assert not DataLoad.objects.exists()


def test_with_a_decimal_comma_a_point_is_a_rejected_row_not_a_guess(analyst_client, weather):
    text = "day;station;temperature\n2026-03-01;S;1.234,5\n2026-03-02;S;1.5\n2026-03-03;S;1,5\n"

    response = post_csv(analyst_client, DAY_URL, text, {"delimiter": ";", "decimal": ","})

    assert response.status_code == 201, response.content
    body = response.json()
    assert [row["row"] for row in body["rejected"]] == [0, 1]
    assert body["rejected"][0]["errors"]["temperature"].startswith(
        'Expected a number with a decimal comma (12,5), got "1.234,5"'
    )
    assert day_rows(weather) == [(date(2026, 3, 3), "S", Decimal("1.5"), None)]


def test_json_rows_take_formats_timezone_and_map(analyst_client, hourly):
    rows = [
        {"time": "29.03.2026 03:00", "station": "B", "temperature": 3.0},
        {"time": "29.03.2026 03:00 +0000", "station": "C"},
        {"time": "29.03.2026 02:30", "station": "D"},
        {"time": "29.03.2026 04:00", "observed_at": "29.03.2026 05:00", "station": "E"},
    ]
    params = {
        "timestamp_format": "%d.%m.%Y %H:%M",
        "timezone": "Europe/Berlin",
        "map": "time:observed_at",
    }

    response = post_json(analyst_client, HOUR_URL, rows, params)

    assert response.status_code == 201, response.content
    rejected = {row["row"]: row["errors"] for row in response.json()["rejected"]}
    assert set(rejected) == {1, 2, 3}
    assert rejected[1]["observed_at"] == (
        'Expected a timestamp as %d.%m.%Y %H:%M (e.g. 31.01.2026 09:30), got "29.03.2026 03:00 +0000".'
    )
    assert "does not exist in Europe/Berlin" in rejected[2]["observed_at"]
    assert rejected[3] == {"_row": "Both 'time' (mapped to 'observed_at') and 'observed_at' are given."}
    assert hour_rows(hourly) == [(datetime(2026, 3, 29, 1, tzinfo=UTC), "B", Decimal("3.0"))]


def test_json_dates_take_the_date_format(analyst_client, weather):
    response = post_json(analyst_client, DAY_URL, [{"day": "01.03.2026", "station": "S"}], {"date_format": "%d.%m.%Y"})

    assert response.status_code == 201, response.content
    assert day_rows(weather) == [(date(2026, 3, 1), "S", None, None)]


def test_a_map_can_swap_two_headers(analyst_client, weather):
    text = "station,day\n2026-03-01,S\n"  # the columns were labelled the wrong way round

    response = post_csv(analyst_client, DAY_URL, text, {"map": "station:day,day:station"})

    assert response.status_code == 201, response.content
    assert day_rows(weather) == [(date(2026, 3, 1), "S", None, None)]


def test_the_map_may_be_given_as_repeated_parameters(analyst_client, weather):
    text = "Datum,Ort\n2026-03-01,S\n"

    response = post_csv(analyst_client, DAY_URL, text, {"map": ["Datum:day", "Ort:station"]})

    assert response.status_code == 201, response.content


# --- Every bad value is a 400 naming it, nothing stored --------------------------

BAD = [
    pytest.param({"date_format": "%d.%Q.%Y"}, "date_format", "%Q, which is not a strptime directive", id="unknown-Q"),
    pytest.param({"date_format": "%d.%m"}, "date_format", "does not determine the year", id="no-year"),
    pytest.param({"date_format": "%Y-%m"}, "date_format", "does not determine the day", id="no-day"),
    pytest.param({"date_format": "day"}, "date_format", "has no date directive", id="no-directive"),
    pytest.param({"date_format": ""}, "date_format", "is empty", id="empty"),
    pytest.param({"date_format": "%d.%m.%Y %H:%M"}, "date_format", "time directive %H", id="time-in-date"),
    pytest.param({"date_format": "%d.%m.%Y%"}, "date_format", "lone %", id="lone-percent"),
    pytest.param({"date_format": "%-d.%m.%Y"}, "date_format", "%-", id="glibc-flag"),
    pytest.param({"timestamp_format": "%c"}, "timestamp_format", "locale", id="locale"),
    pytest.param({"timestamp_format": "%d.%m.%Y %H:%M %Z"}, "timestamp_format", "%z", id="zone-name"),
    pytest.param({"timestamp_format": "%d.%m.%Y %I:%M"}, "timestamp_format", "%I needs %p", id="12h-no-pm"),
    pytest.param({"timestamp_format": "%G-%m-%d"}, "timestamp_format", "not a usable strptime", id="iso-year"),
    pytest.param({"timezone": "Europe/Berln"}, "timezone", "Did you mean Europe/Berlin?", id="typo-zone"),
    pytest.param({"timezone": "../../etc/passwd"}, "timezone", "not an IANA time zone", id="path-zone"),
    pytest.param({"timezone": "CET+1"}, "timezone", "not an IANA time zone", id="posix-zone"),
    pytest.param({"map": "Datum"}, "map", "not header:attribute", id="no-colon"),
    pytest.param({"map": "Datum:"}, "map", "not header:attribute", id="no-attribute"),
    pytest.param({"map": ","}, "map", "is empty", id="empty-map"),
    pytest.param({"map": "Datum:dya"}, "map", "maps onto 'dya', which is not an attribute", id="unknown-attribute"),
    pytest.param({"map": "Datum:day,Tag:day"}, "map", "names the attribute 'day' twice", id="two-onto-one"),
    pytest.param({"map": "Datum:day,Datum:station"}, "map", "names the header 'Datum' twice", id="header-twice"),
    pytest.param({"delimiter": "x"}, "delimiter", "is not a CSV delimiter", id="delimiter-x"),
    pytest.param({"delimiter": ";;"}, "delimiter", "is not a CSV delimiter", id="delimiter-two"),
    pytest.param({"delimiter": ""}, "delimiter", "is not a CSV delimiter", id="delimiter-empty"),
    pytest.param({"decimal": "x"}, "decimal", "is not a decimal mark", id="decimal-x"),
    pytest.param({"decimal": ",", "delimiter": None}, "decimal", "is also the delimiter", id="default-delimiter"),
    pytest.param({"decimal": ",", "delimiter": ","}, "decimal", "is also the delimiter", id="explicit-comma-comma"),
    pytest.param({"date_format": ["%d.%m.%Y", "%Y"]}, "date_format", "is given 2 times", id="twice"),
]


@pytest.mark.parametrize(("params", "parameter", "says"), BAD)
def test_a_bad_parameter_is_a_400_naming_it_and_nothing_is_stored(analyst_client, weather, params, parameter, says):
    query = {name: value for name, value in {**WEATHER_PARAMS, **params}.items() if value is not None}
    response = post_csv(analyst_client, DAY_URL, WEATHER_CSV, query)

    error = assert_error(response, 400, "invalid_parameter")
    assert error["details"]["parameter"] == parameter
    assert error["message"].startswith(f"{parameter}=")
    assert says in error["message"]
    assert day_rows(weather) == []


@pytest.mark.parametrize("parameter", ["delimiter", "decimal"])
def test_csv_only_parameters_are_refused_on_json(analyst_client, weather, parameter):
    response = post_json(analyst_client, DAY_URL, [{"day": "2026-03-01", "station": "S"}], {parameter: ";"})

    error = assert_error(response, 400, "invalid_parameter")
    assert error["details"]["parameter"] == parameter
    assert "applies to CSV only" in error["message"]
    assert day_rows(weather) == []


@pytest.mark.parametrize(
    ("url", "params", "parameter", "says"),
    [
        (HOUR_URL, {"date_format": "%d.%m.%Y"}, "date_format", "applies to date attributes, and this entity has none"),
        (DAY_URL, {"timestamp_format": "%d.%m.%Y %H:%M"}, "timestamp_format", "applies to timestamp attributes"),
        (DAY_URL, {"timezone": "Europe/Berlin"}, "timezone", "applies to timestamp attributes"),
    ],
)
def test_a_parameter_with_nothing_to_apply_to_is_a_400_naming_it(
    analyst_client, weather, hourly, url, params, parameter, says
):
    response = post_csv(analyst_client, url, "day,station\n2026-03-01,S\n", params)

    error = assert_error(response, 400, "invalid_parameter")
    assert error["details"]["parameter"] == parameter
    assert says in error["message"]


def test_a_map_of_a_header_the_file_does_not_have_is_a_400_naming_it(analyst_client, weather):
    response = post_csv(analyst_client, DAY_URL, WEATHER_CSV, {**WEATHER_PARAMS, "map": "Datum:day,Stadion:station"})

    error = assert_error(response, 400, "invalid_parameter")
    assert error["details"]["absent_columns"] == ["Stadion"]
    assert "renames the column 'Stadion', which the CSV header does not have" in error["message"]


@pytest.mark.parametrize("post", ["csv", "json"])
def test_an_unknown_parameter_is_a_400_naming_it_and_listing_the_accepted_ones(analyst_client, weather, post):
    params = {"dateformat": "%d.%m.%Y", "sep": ";"}
    if post == "csv":
        response = post_csv(analyst_client, DAY_URL, "day,station\n2026-03-01,S\n", params)
    else:
        response = post_json(analyst_client, DAY_URL, [{"day": "2026-03-01", "station": "S"}], params)

    error = assert_error(response, 400, "unknown_parameter")
    assert error["details"] == {"parameters": ["dateformat", "sep"]}
    assert error["message"] == (
        "Unknown parameter 'dateformat'; use date_format, timestamp_format, timezone, map, delimiter, decimal."
    )
    assert day_rows(weather) == []


def test_the_tenant_parameter_is_still_accepted(analyst_client, analyst, weather):
    response = post_csv(analyst_client, DAY_URL, "day,station\n2026-03-01,S\n", {"client": analyst.client.code})

    assert response.status_code == 201, response.content


# --- Multipart uploads ------------------------------------------------------------


def test_a_csv_uploaded_as_a_form_file_loads_with_its_parameters(analyst_client, weather):
    response = post_file(analyst_client, DAY_URL, WEATHER_CSV, WEATHER_PARAMS)

    assert response.status_code == 201, response.content
    assert day_rows(weather) == WEATHER_STORED
    assert DataLoad.objects.get().source == "csv"


def test_a_form_file_in_another_charset_says_so_in_its_part(analyst_client, weather):
    text = "day,station\n2026-03-01,Zürich\n".encode("latin-1")

    response = post_file(analyst_client, DAY_URL, text, content_type="text/csv; charset=latin-1")

    assert response.status_code == 201, response.content
    assert day_rows(weather) == [(date(2026, 3, 1), "Zürich", None, None)]


PART = (
    b'--XX\r\nContent-Disposition: form-data; name="file"; filename="w.csv"\r\n'
    b"Content-Type: text/csv\r\n\r\nday,station\r\n2026-03-01,S\r\n"
)


@pytest.mark.parametrize(
    ("content_type", "body", "reason"),
    [
        pytest.param("multipart/form-data", PART + b"--XX--\r\n", "the Content-Type header has no boundary", id="none"),
        pytest.param("multipart/form-data; boundary=XX", PART, "closing boundary --XX-- (truncated?)", id="truncated"),
        pytest.param("multipart/form-data; boundary=XX", b"day,station\n2026-03-01,S\n", "closing", id="not-multipart"),
        pytest.param('multipart/form-data; boundary="a\x7fb"', b"--a\x7fb--", "Invalid boundary", id="bad-boundary"),
    ],
)
def test_a_malformed_multipart_body_is_a_400_in_the_error_shape(analyst_client, weather, content_type, body, reason):
    response = analyst_client.generic("POST", DAY_URL, body, content_type=content_type)

    error = assert_error(response, 400, "malformed_multipart")
    assert reason in error["details"]["reason"]
    assert reason in error["message"]
    assert day_rows(weather) == []


def test_a_form_without_the_file_field_is_a_400_naming_the_field(analyst_client, weather):
    response = post_file(analyst_client, DAY_URL, "day,station\n2026-03-01,S\n", field="csv")

    error = assert_error(response, 400, "unknown_parameter")
    assert error["details"] == {"parameters": ["csv"]}


def test_a_form_with_no_file_at_all_is_missing_file(analyst_client, weather):
    response = analyst_client.post(DAY_URL, {}, format="multipart")

    error = assert_error(response, 400, "missing_file")
    assert error["details"] == {"field": "file"}


def test_load_parameters_are_not_form_fields(analyst_client, weather):
    response = post_file(analyst_client, DAY_URL, WEATHER_CSV, date_format="%d.%m.%Y")

    error = assert_error(response, 400, "unknown_parameter")
    assert "in the query string" in error["message"]


def test_a_signed_in_browser_session_may_load_csv_and_form_files(analyst, weather):
    # The session's CSRF check asks DRF for the form fields of the POST: it used to answer 415 to every load.
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(analyst.user)
    browser.cookies["csrftoken"] = "c" * 32
    csrf = {"HTTP_X_CSRFTOKEN": "c" * 32}

    text = browser.generic("POST", DAY_URL, b"day,station\n2026-03-01,S\n", content_type="text/csv", **csrf)
    upload = SimpleUploadedFile("weather.csv", WEATHER_CSV.encode(), "text/csv")
    form = browser.post(with_query(DAY_URL, WEATHER_PARAMS), {"file": upload}, format="multipart", **csrf)
    forged = browser.generic("POST", DAY_URL, b"day,station\n2026-03-05,S\n", content_type="text/csv")

    assert text.status_code == 201, text.content
    assert form.status_code == 201, form.content
    assert forged.status_code == 403
    assert day_rows(weather) == sorted([(date(2026, 3, 1), "S", None, None), *WEATHER_STORED], key=lambda r: r[:2])


def test_a_file_field_holding_text_says_to_attach_the_file(analyst_client, weather):
    response = analyst_client.post(DAY_URL, {"file": "weather.csv"}, format="multipart")

    error = assert_error(response, 400, "missing_file")
    assert "with the @" in error["message"]


# --- The examples of docs/loading-data.md ------------------------------------------

EXAMPLE = re.compile(r"<!-- example: (\w+) -->\n(.*?)<!-- /example -->", re.DOTALL)
ENTITIES = {"weather_day": WEATHER_DAY, "temperature_hour": TEMPERATURE_HOUR}
EXAMPLE_STORED = {
    "weather_day": WEATHER_STORED,
    "temperature_hour": [
        (datetime(2026, 3, 29, 0, tzinfo=UTC), "Berlin-Tempelhof", Decimal("3.5")),
        (datetime(2026, 3, 29, 1, tzinfo=UTC), "Berlin-Tempelhof", Decimal("3.0")),
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "Berlin-Tempelhof", Decimal("9.5")),
    ],
}


def documented_examples() -> dict[str, str]:
    text = (Path(settings.BASE_DIR) / "docs" / "loading-data.md").read_text(encoding="utf-8")
    return dict(EXAMPLE.findall(text))


def test_the_docs_show_the_examples_computed_here():
    assert set(documented_examples()) == set(ENTITIES)


@pytest.mark.parametrize("name", sorted(ENTITIES))
def test_each_documented_example_answers_and_stores_what_the_docs_say(analyst_client, analyst, name):
    example = documented_examples()[name]
    file_text = re.search(r"```text\n(.*?)```", example, re.DOTALL).group(1)
    command = re.search(r"```sh\n(.*?)```", example, re.DOTALL).group(1)
    answer = json.loads(re.search(r"```json\n(.*?)```", example, re.DOTALL).group(1))
    url = re.search(r'"http://127\.0\.0\.1:8000(/api/v1/[^"]+)"', command).group(1)
    entity = entity_create(client_id=analyst.client_id, data=ENTITIES[name])

    if "-F file=@" in command:
        upload = SimpleUploadedFile("file.csv", file_text.encode(), "text/csv")
        response = analyst_client.post(url, {"file": upload}, format="multipart")
    else:
        assert "--data-binary" in command and "Content-Type: text/csv" in command
        response = analyst_client.generic("POST", url, file_text.encode(), content_type="text/csv")

    assert response.json() == answer
    assert stored(entity, [a.code for a in ENTITIES[name].attributes]) == EXAMPLE_STORED[name]
