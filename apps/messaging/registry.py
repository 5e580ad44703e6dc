"""Event handlers and the consumer groups they run in.

A handler is a function of one `Envelope` registered for a topic or an
fnmatch-style pattern, in a consumer group:

    from apps.messaging.services import command_handler, handler

    @handler("ingestion.completed", group="calculations")
    def invalidate_caches(envelope: Envelope) -> None: ...

    @handler("metric.*", group="observability")      # every metric.<...> topic
    def count_metric_events(envelope: Envelope) -> None: ...

    @command_handler("recalculate", group="calculations")   # commands.recalculate
    def recalculate(envelope: Envelope) -> None: ...

Every consumer group receives every event on its topics (fan-out between
groups); within a group each event goes to one consumer process, and is
applied at most once (apps.messaging.services.event_apply). All handlers of
a group that match a topic run in one transaction, in registration order.

Rules: `*` matches across dots (`metric.*` matches `metric.calculated.daily`);
patterns never match command topics (`commands.<type>`), which need an exact
registration, and a command type belongs to exactly one group.

Handlers live in an app's `events.py` (that module holds the app's bus
handlers and nothing else), which `handlers_discover` imports for every app
under `apps.`, plus the modules in MESSAGING_EXTRA_HANDLER_MODULES. The
decorators are messaging's face (apps.messaging.services); this module keeps
the registrations.
"""

import importlib
import importlib.util
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatchcase

from django.apps import apps as django_apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.messaging.bus import COMMAND_PREFIX, TOPIC_RE, is_command_topic
from apps.messaging.types import Envelope

Handler = Callable[[Envelope], None]

GROUP_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,99}$")
GLOB_CHARS = frozenset("*?[")
PATTERN_RE = re.compile(r"^[a-z0-9_.*?\[\]!-]{1,200}$")
DISCOVERED_MODULES = ("events",)


@dataclass(frozen=True)
class Registration:
    pattern: str
    group: str
    func: Handler

    @property
    def name(self) -> str:
        return f"{self.func.__module__}.{self.func.__qualname__}"

    @property
    def is_pattern(self) -> bool:
        return is_pattern(self.pattern)

    def matches(self, topic: str) -> bool:
        return topic_matches(self.pattern, topic)


_registrations: list[Registration] = []
_lock = threading.RLock()
_discovered = False


def is_pattern(topic_or_pattern: str) -> bool:
    return any(char in GLOB_CHARS for char in topic_or_pattern)


def topic_matches(pattern: str, topic: str) -> bool:
    if not is_pattern(pattern):
        return pattern == topic
    return not is_command_topic(topic) and fnmatchcase(topic, pattern)


def _validate(pattern: str, group: str) -> None:
    if not isinstance(group, str) or not GROUP_RE.match(group):
        raise ImproperlyConfigured(
            f"Invalid consumer group {group!r}: lower case letters, digits, '_', '.', '-' (a letter first)."
        )
    if is_pattern(pattern):
        if not PATTERN_RE.match(pattern):
            raise ImproperlyConfigured(f"Invalid topic pattern {pattern!r}.")
        if pattern.startswith(COMMAND_PREFIX.rstrip(".")):
            raise ImproperlyConfigured(
                f"Pattern {pattern!r}: commands are handled per type; register each with command_handler(type, ...)."
            )
    elif not TOPIC_RE.match(pattern):
        raise ImproperlyConfigured(f"Invalid topic {pattern!r}: use dotted lower-case words.")


def handler_register(topic_or_pattern: str, *, group: str, func: Handler) -> Registration:
    """Register `func` for a topic or pattern in `group` (the decorators in
    apps.messaging.services call this). Registering the same function again (a module imported twice)
    replaces the earlier registration."""
    _validate(topic_or_pattern, group)
    registration = Registration(topic_or_pattern, group, func)
    with _lock:
        if is_command_topic(topic_or_pattern):
            owners = {r.group for r in _registrations if r.pattern == topic_or_pattern} - {group}
            if owners:
                raise ImproperlyConfigured(
                    f"{topic_or_pattern} is already handled by the group {owners.pop()!r}; "
                    "a command type belongs to exactly one consumer group."
                )
        _registrations[:] = [
            r for r in _registrations if (r.pattern, r.group, r.name) != (topic_or_pattern, group, registration.name)
        ]
        _registrations.append(registration)
    return registration


def handler_unregister(func: Handler) -> None:
    with _lock:
        _registrations[:] = [r for r in _registrations if r.func is not func]


def registrations(*, group: str | None = None) -> list[Registration]:
    with _lock:
        return [r for r in _registrations if group is None or r.group == group]


def group_names() -> list[str]:
    with _lock:
        return sorted({r.group for r in _registrations})


def handlers_for(*, topic: str, group: str) -> list[Registration]:
    """The handlers of `group` for an event on `topic`, in registration order."""
    return [r for r in registrations(group=group) if r.matches(topic)]


def group_topics(group: str, known: set[str]) -> set[str]:
    """The topics a group reads: its exact topics, and every known topic one
    of its patterns matches."""
    regs = registrations(group=group)
    exact = {r.pattern for r in regs if not r.is_pattern}
    patterns = [r.pattern for r in regs if r.is_pattern]
    return exact | {topic for topic in known if any(topic_matches(p, topic) for p in patterns)}


def handlers_discover(*, force: bool = False) -> list[str]:
    """Import every app's `events` module (apps under `apps.`)
    and the MESSAGING_EXTRA_HANDLER_MODULES, registering their handlers.
    Cheap after the first call. Returns the modules imported."""
    global _discovered
    imported = []
    with _lock:
        if _discovered and not force:
            return imported
        for config in django_apps.get_app_configs():
            if not config.name.startswith("apps."):
                continue
            for module in DISCOVERED_MODULES:
                name = f"{config.name}.{module}"
                if importlib.util.find_spec(name) is not None:
                    importlib.import_module(name)
                    imported.append(name)
        for name in settings.MESSAGING_EXTRA_HANDLER_MODULES:
            importlib.import_module(name)
            imported.append(name)
        _discovered = True
    return imported


@contextmanager
def registrations_isolated() -> Iterator[None]:
    """Tests: registrations made inside are dropped on exit. The apps'
    handlers are discovered first, so they stay registered whatever the
    test imports."""
    handlers_discover()
    with _lock:
        saved = list(_registrations)
    try:
        yield
    finally:
        with _lock:
            _registrations[:] = saved
