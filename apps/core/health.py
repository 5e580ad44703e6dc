"""Health checks contributed by apps above observability's layer siblings.

`apps.observability` owns `/health` but may not import its siblings (archival,
identity, ...), nor may they import it. So an app registers its check here, in
the shared kernel, from its `AppConfig.ready()`, and observability reads the
registry. `enabled` is asked at every probe, so a check appears only while the
dependency it probes is configured (settings overridden at runtime included)."""

from collections.abc import Callable
from dataclasses import dataclass

Check = Callable[[], dict]


@dataclass(frozen=True)
class RegisteredCheck:
    check: Check
    enabled: Callable[[], bool]


_REGISTRY: dict[str, RegisteredCheck] = {}


def _always() -> bool:
    return True


def health_check_register(name: str, check: Check, *, enabled: Callable[[], bool] = _always) -> None:
    """Add (or replace) the check `name`: a callable returning `{"status": "ok", ...}`
    or raising. Registering the same name again replaces it (ready() may run twice)."""
    _REGISTRY[name] = RegisteredCheck(check=check, enabled=enabled)


def health_check_unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def registered_checks() -> dict[str, Check]:
    """The registered checks that are enabled now, in registration order."""
    return {name: entry.check for name, entry in _REGISTRY.items() if entry.enabled()}
