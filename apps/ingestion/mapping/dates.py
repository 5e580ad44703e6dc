"""Dates and timestamps: strptime patterns (checked before any run, read
fast for the common numeric ones), time zones of naive timestamps, and the
converters that leave ISO 8601 text: `2026-01-15` for a date, a UTC moment
with its offset (`2026-01-15T08:30:00+00:00`) for a timestamp."""

import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from functools import cache
from operator import itemgetter
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from apps.core.close_matches import close_matches
from apps.ingestion.mapping.values import Bad, Converter, shown

_SAMPLE = datetime(2026, 1, 31, 9, 30, 15, tzinfo=UTC)
# Fixed-width numeric fields: a pattern made only of these and literals that
# are not digits is matched by one regex (strptime costs ~10 us a value). When
# the regex matches, strptime would read the same digits (its alternatives
# try two digits first); anything else goes to strptime, which decides.
_FIELDS = {
    "Y": "([0-9]{4})",
    "m": "([0-9]{2})",
    "d": "([0-9]{2})",
    "H": "([0-9]{2})",
    "M": "([0-9]{2})",
    "S": "([0-9]{2})",
}
_ORDER = ("Y", "m", "d", "H", "M", "S")
_PIECE = re.compile(r"%(.)|([^%]+)", re.DOTALL)


def pattern_problem(pattern: object) -> str | None:
    """Why `pattern` is not a strptime pattern, or None when it is one."""
    if not isinstance(pattern, str) or not pattern:
        return f"a format must be a strptime pattern such as '%Y%m%d', got {shown(pattern)}"
    if "%" not in pattern:
        return f"{pattern!r} has no % directives: strptime patterns look like '%Y%m%d' or '%d.%m.%Y %H:%M'"
    try:
        datetime.strptime(_SAMPLE.strftime(pattern), pattern)
    except ValueError as exc:
        return f"{pattern!r} is not a strptime pattern: {exc}"
    return None


def zone_problem(name: object) -> str | None:
    """Why `name` is not a time zone of the IANA database, or None."""
    if not isinstance(name, str) or not name:
        return f"a time zone must be a name such as 'Europe/Zurich', got {shown(name)}"
    # Only names of the zone database: a name is never used as a path (../, 300 characters).
    if name in _zone_names():
        try:
            ZoneInfo(name)
            return None
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    close = close_matches(name[:100], sorted(_zone_names()))
    hint = f" (did you mean {', '.join(close)}?)" if close else " (names look like 'Europe/Zurich', 'UTC')"
    return f"unknown time zone {shown(name)}{hint}"


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def _fast(pattern: str) -> Callable[[str], datetime | None] | None:
    parts, order = [], []
    for match in _PIECE.finditer(pattern):
        directive, literal = match.groups()
        if literal is not None:
            if any(c in "0123456789" for c in literal):
                return None
            parts.append(re.escape(literal))
        elif directive in _FIELDS and directive not in order:
            parts.append(_FIELDS[directive])
            order.append(directive)
        else:
            return None
    if not {"Y", "m", "d"} <= set(order):
        return None
    regex = re.compile("".join(parts) + r"\Z")
    if tuple(order) == _ORDER[: len(order)]:  # Y, m, d[, H[, M[, S]]] in datetime's own order
        take = itemgetter(*(order.index(name) for name in _ORDER[: len(order)]))
    else:
        take = None
    positions = [order.index(name) if name in order else None for name in _ORDER]

    def read(text: str) -> datetime | None:
        found = regex.match(text)
        if found is None:
            return None
        groups = found.groups()
        try:
            if take is not None:
                return datetime(*map(int, take(groups)))
            return datetime(*(int(groups[i]) if i is not None else 0 for i in positions))
        except ValueError:
            return None

    return read


def pattern_reader(pattern: str) -> Callable[[str], datetime]:
    """`text -> datetime` as `datetime.strptime(text, pattern)` (its ValueError included)."""
    strptime = datetime.strptime
    fast = _fast(pattern)
    if fast is None:
        return lambda text: strptime(text, pattern)
    return lambda text: fast(text) or strptime(text, pattern)


def _patterns_reader(formats: Sequence[str], what: str) -> Callable[[str], datetime]:
    readers = [pattern_reader(p) for p in formats]
    example = " or ".join(f"{p} (e.g. {_SAMPLE.strftime(p)})" for p in formats)

    def read(text: str) -> datetime:
        for reader in readers:
            try:
                return reader(text)
            except ValueError:
                continue
        raise Bad(f"expected a {what} as {example}, got {shown(text)}")

    return read


def date_converter(formats: Sequence[str]) -> Converter:
    parse = _patterns_reader(formats, "date") if formats else None
    fromisoformat = date.fromisoformat

    def convert(value):
        kind = type(value)
        if kind is str:
            if parse is not None:
                return parse(value).date()
            try:
                return fromisoformat(value)
            except ValueError:
                try:
                    return datetime.fromisoformat(value).date()
                except ValueError:
                    raise Bad(f"expected an ISO 8601 date (YYYY-MM-DD) or a format, got {shown(value)}") from None
        if kind is date:
            return value
        if isinstance(value, datetime):
            return value.date()
        if kind is int and parse is not None:  # 20260115 from a numeric column, with format %Y%m%d
            return convert(str(value))
        raise Bad(f"expected a date, got {shown(value)}")

    return convert


def _localizer(zone_name: str | None) -> Callable[[datetime], datetime]:
    """A naive moment as wall-clock time in the zone, in UTC. A time the
    clocks skipped (spring forward) does not exist there and is refused; a
    time they passed twice (fall back) is the first of the two (fold=0)."""
    if zone_name is None or zone_name == "UTC":
        return lambda moment: moment.replace(tzinfo=UTC)
    zone = ZoneInfo(zone_name)

    def localize(moment: datetime) -> datetime:
        moment_utc = moment.replace(tzinfo=zone).astimezone(UTC)
        if moment_utc.astimezone(zone).replace(tzinfo=None) != moment:
            raise Bad(
                f"{moment.isoformat(sep=' ')} does not exist in {zone_name}: "
                "the clocks skipped that hour (daylight saving time began)"
            )
        return moment_utc

    return localize


def timestamp_converter(formats: Sequence[str], zone_name: str | None) -> Converter:
    """Naive moments are in `zone_name` (UTC when None); the result is in UTC.
    A moment with its own offset keeps it (then converted to UTC)."""
    parse = _patterns_reader(formats, "timestamp") if formats else None
    localize = _localizer(zone_name)
    fromisoformat = datetime.fromisoformat

    def finish(moment: datetime) -> datetime:
        try:
            if moment.tzinfo is None:
                return localize(moment)
            return moment.astimezone(UTC)
        except OverflowError:  # 9999-12-31 23:00 at UTC-5 is in the year 10000
            raise Bad(f"out of range for a timestamp in UTC: {moment.isoformat(sep=' ')}") from None

    def convert(value):
        kind = type(value)
        if kind is str:
            if parse is not None:
                return finish(parse(value))
            try:
                moment = fromisoformat(value)
            except ValueError:
                raise Bad(
                    f"expected an ISO 8601 timestamp (2026-01-31T09:30:00) or a format, got {shown(value)}"
                ) from None
            return finish(moment)
        if isinstance(value, datetime):
            return finish(value)
        if kind is date:
            return finish(datetime.combine(value, time()))
        if kind is int and parse is not None:
            return convert(str(value))
        raise Bad(f"expected a timestamp, got {shown(value)}")

    return convert


__all__ = ["date_converter", "pattern_problem", "pattern_reader", "timestamp_converter", "zone_problem"]
