"""The fast reader of strptime patterns answers exactly what strptime does
(apps/ontology/row_validation/patterns.py): the same datetime, or the same
refusal, for any text."""

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.ontology.row_validation.patterns import _fast, pattern_reader

PATTERNS = ["%d.%m.%Y %H:%M", "%Y/%m/%d", "%Y-%m-%d %H:%M:%S", "%d.%m.%Y", "%m/%d/%Y %H:%M", "%dT%m-%Y"]


def strptime_or_error(text, pattern):
    try:
        return datetime.strptime(text, pattern)
    except ValueError:
        return "refused"


def reader_or_error(text, pattern):
    try:
        return pattern_reader(pattern)(text)
    except ValueError:
        return "refused"


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_common_patterns_take_the_fast_path(pattern):
    assert _fast(pattern) is not None


@pytest.mark.parametrize("pattern", ["%Y%m%d", "%d.%m.%Y %I:%M %p", "%d %b %Y", "%Y-%m-%d %H:%M:%S.%f", "%d.%m"])
def test_other_patterns_are_left_to_strptime(pattern):
    assert _fast(pattern) is None


@pytest.mark.parametrize(
    "text",
    [
        "01.03.2026 14:05",
        "1.3.2026 4:05",
        "31.02.2026 10:00",
        "00.01.2026 10:00",
        "01.13.2026 10:00",
        "01.03.2026 24:00",
        "01.03.2026  14:05",
        "01.03.2026 14:05 ",
        "01.03.0000 14:05",
        "\u0660\u0661.03.2026 14:05",
        " 1.03.2026 14:05",
        "01.03.26 14:05",
        "01.03.2026 14:5",
        "001.03.2026 14:05",
    ],
)
def test_edge_texts_read_as_strptime_reads_them(text):
    assert reader_or_error(text, "%d.%m.%Y %H:%M") == strptime_or_error(text, "%d.%m.%Y %H:%M")


@settings(max_examples=300, deadline=None)
@given(
    pattern=st.sampled_from(PATTERNS),
    moment=st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31)),
    noise=st.text(alphabet="0123456789 .:/-T", max_size=3),
    cut=st.integers(min_value=0, max_value=25),
)
def test_any_text_reads_as_strptime_reads_it(pattern, moment, noise, cut):
    text = moment.strftime(pattern)
    for candidate in (text, text[:cut] + noise + text[cut:], text.replace("0", "", 1)):
        assert reader_or_error(candidate, pattern) == strptime_or_error(candidate, pattern), candidate
