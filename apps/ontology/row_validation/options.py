"""How to read a load's values when they do not come in the platform's own
forms (docs/loading-data.md, "Files as they come"): date and timestamp
patterns, the zone of naive timestamps, header renames, and the CSV
delimiter and decimal mark.

Each parser checks one parameter up front and refuses a bad value with a
400 `invalid_parameter` naming it, before any row is read."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from apps.core.close_matches import close_matches
from apps.core.errors import AppError

DELIMITERS = {",": ",", ";": ";", "|": "|", "\t": "\t", "tab": "\t", "\\t": "\t"}
DECIMAL_MARKS = (".", ",")

# strptime directives (Python's `time.strptime`, C locale).
DATE_DIRECTIVES = frozenset("aAbBdjmUWwyYGVu")
TIME_DIRECTIVES = frozenset("HIpMSfz")
REFUSED_DIRECTIVES = {
    "c": "it depends on the server's locale; spell the parts out (e.g. %d.%m.%Y %H:%M)",
    "x": "it depends on the server's locale; spell the parts out (e.g. %d.%m.%Y)",
    "X": "it depends on the server's locale; spell the parts out (e.g. %H:%M:%S)",
    "Z": "strptime reads zone names but ignores them; use %z for offsets, or the timezone parameter",
}
_DIRECTIVE = re.compile(r"%(.?)", re.DOTALL)
# Moments a pattern must write and read back unchanged: two of everything (day > 12, hour > 12, two centuries).
_SAMPLES = (datetime(2026, 11, 28, 21, 47, 15, tzinfo=UTC), datetime(1987, 3, 9, 4, 5, 6, tzinfo=UTC))


@dataclass(frozen=True)
class LoadOptions:
    """The reading of one load. The defaults read the platform's own forms:
    ISO 8601 dates and timestamps (naive ones in UTC), headers named as the
    attributes, comma-separated CSV with a decimal point."""

    date_format: str | None = None
    timestamp_format: str | None = None
    timezone: ZoneInfo | None = None
    # (header or JSON key, attribute) pairs.
    rename: tuple[tuple[str, str], ...] = ()
    delimiter: str = ","
    decimal: str = "."

    @property
    def renames(self) -> dict[str, str]:
        return dict(self.rename)


DEFAULT_OPTIONS = LoadOptions()


def invalid_parameter(parameter: str, value: str, why: str, **details) -> AppError:
    return AppError(
        f"{parameter}={value!r} {why}",
        code="invalid_parameter",
        details={"parameter": parameter, "value": value, **details},
    )


def strptime_pattern_parse(pattern: str, *, parameter: str, times: bool) -> str:
    """A strptime pattern for dates (`times=False`: date directives only) or
    timestamps, refused unless it determines a whole date (and the hour when
    it has one): it must write two sample moments and read them back."""
    if not pattern.strip():
        raise invalid_parameter(parameter, pattern, "is empty: give a strptime pattern such as %d.%m.%Y.")
    found = set()
    for match in _DIRECTIVE.finditer(pattern):
        directive = match.group(1)
        if directive == "%":
            continue
        if not directive:
            raise invalid_parameter(parameter, pattern, "ends with a lone %: write %% for a literal percent sign.")
        if directive in REFUSED_DIRECTIVES:
            raise invalid_parameter(parameter, pattern, f"uses %{directive}: {REFUSED_DIRECTIVES[directive]}.")
        if directive in TIME_DIRECTIVES and not times:
            raise invalid_parameter(
                parameter, pattern, f"uses the time directive %{directive}: dates have no time; use timestamp_format."
            )
        if directive not in DATE_DIRECTIVES | TIME_DIRECTIVES:
            raise invalid_parameter(
                parameter,
                pattern,
                f"uses %{directive}, which is not a strptime directive; use %Y %m %d (%y %b %B %j) for the date"
                + (", %H %M %S (%I %p %f %z) for the time." if times else "."),
            )
        found.add(directive)
    if not found & DATE_DIRECTIVES:
        raise invalid_parameter(parameter, pattern, "has no date directive: it needs %Y, %m and %d (or %y %b %j).")
    for sample in _SAMPLES:
        shown = sample if "z" in found else sample.replace(tzinfo=None)
        try:
            read = datetime.strptime(shown.strftime(pattern), pattern)
        except ValueError as exc:
            raise invalid_parameter(parameter, pattern, f"is not a usable strptime pattern: {exc}.") from None
        for part, hint in (("year", "%Y or %y"), ("month", "%m, %b or %B"), ("day", "%d")):
            if getattr(read, part) != getattr(sample, part):
                raise invalid_parameter(parameter, pattern, f"does not determine the {part}: it needs {hint}.")
        if found & {"H", "I"} and read.hour != sample.hour:
            raise invalid_parameter(parameter, pattern, "does not determine the hour: %I needs %p (AM/PM); or use %H.")
    return pattern


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def timezone_parse(name: str, *, parameter: str = "timezone") -> ZoneInfo:
    """An IANA time zone by its name (`Europe/Berlin`, `UTC`)."""
    if name not in _zones():
        close = close_matches(name, sorted(_zones()), limit=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise invalid_parameter(
            parameter, name, f"is not an IANA time zone (such as Europe/Berlin, America/New_York, UTC).{hint}"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise invalid_parameter(parameter, name, "is not a readable IANA time zone.") from None


def rename_parse(values: list[str], *, parameter: str = "map") -> tuple[tuple[str, str], ...]:
    """`header:attribute` pairs, comma-separated (or the parameter repeated).
    A header renamed twice, or two headers onto one attribute, is refused.
    Whether the attributes exist is checked against the entity
    (`RowValidator.renames_check`)."""
    pairs: list[tuple[str, str]] = []
    text = ",".join(values)
    for item in text.split(","):
        if not item.strip():
            continue
        header, colon, attribute = item.rpartition(":")  # attribute codes never hold a colon
        header, attribute = header.strip(), attribute.strip()
        if not colon or not header or not attribute:
            raise invalid_parameter(
                parameter, text, f"has {item.strip()!r}, which is not header:attribute (e.g. map=temp:temperature)."
            )
        pairs.append((header, attribute))
    if not pairs:
        raise invalid_parameter(parameter, text, "is empty: give header:attribute pairs (e.g. map=temp:temperature).")
    for position, side in ((0, "header"), (1, "attribute")):
        names = [pair[position] for pair in pairs]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise invalid_parameter(parameter, text, f"names the {side} {twice[0]!r} twice.", duplicates=twice)
    return tuple(pairs)


def delimiter_parse(text: str) -> str:
    delimiter = DELIMITERS.get(text if len(text) == 1 else text.lower())
    if delimiter is None:
        raise invalid_parameter("delimiter", text, "is not a CSV delimiter: use , ; | or tab (also %09 or \\t).")
    return delimiter


def decimal_parse(text: str, *, delimiter: str) -> str:
    if text not in DECIMAL_MARKS:
        raise invalid_parameter("decimal", text, "is not a decimal mark: use . or ,.")
    if text == delimiter:
        raise invalid_parameter(
            "decimal",
            text,
            "is also the delimiter, so 1,5 would read as two cells: give delimiter=; (or tab or |).",
            delimiter=delimiter,
        )
    return text
