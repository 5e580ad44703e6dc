"""Query strings read strictly: a parameter the endpoint does not know is a
400 `unknown_parameter` naming it, never silently ignored (API.md)."""

from collections.abc import Callable, Iterable

from apps.core.errors import AppError

# Accepted everywhere (the tenant, DRF's renderer choice), not worth listing in every message.
UNLISTED = frozenset({"client", "format"})


def unknown_parameters_refuse(
    params: Iterable[str],
    known: set[str] | frozenset[str],
    *,
    accepted: list[str] | None = None,
    allowed: Callable[[str], object] | None = None,
) -> None:
    """Refuse (400 `unknown_parameter`) any name in `params` outside `known`
    (or for which `allowed(name)` is false). The message names the first and
    lists the accepted ones: `accepted`, by default `known` without the
    parameters every endpoint takes."""
    unknown = sorted(name for name in params if name not in known and not (allowed and allowed(name)))
    if unknown:
        listed = accepted if accepted is not None else sorted(set(known) - UNLISTED)
        raise AppError(
            f"Unknown parameter {unknown[0]!r}; use {', '.join(listed)}.",
            code="unknown_parameter",
            details={"parameters": unknown},
        )
