"""Work to do once the current transaction has committed.

`after_commit(func, *args, **kwargs)` is the project's only way to register
an on-commit callback (a test in apps/core/tests/test_transactions.py keeps
it so). Django's own `transaction.on_commit(..., robust=True)` logs a failing
callback with `func.__qualname__`, which a `functools.partial`, a Celery
`Task.delay` partial or any callable object may lack (Django 5.2.x,
django/db/backends/base/base.py): the logging itself then raised
AttributeError out of the commit, and a request whose rows had committed
answered 500. Here the failure is caught and logged by our own wrapper, under
a name that always exists, and never reaches the caller: once the commit has
happened, nothing that follows may report the transaction as failed."""

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from django.db import DEFAULT_DB_ALIAS, transaction

logger = logging.getLogger(__name__)


def callable_name(func: Callable[..., Any]) -> str:
    """A readable name for any callable: `module.qualname`, through partials,
    bound methods (`<task name>.delay` for Celery tasks) and callable objects."""
    while isinstance(func, partial):
        func = func.func
    owner = getattr(func, "__self__", None)
    owner_name = getattr(owner, "name", None)
    if owner is not None and isinstance(owner_name, str):
        return f"{owner_name}.{getattr(func, '__name__', '?')}"
    qualname = getattr(func, "__qualname__", None) or type(func).__qualname__
    module = getattr(func, "__module__", None) or type(func).__module__
    return f"{module}.{qualname}"


def after_commit(func: Callable[..., Any], /, *args: Any, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """Call `func(*args, **kwargs)` when the current transaction on `using`
    commits (at once outside a transaction; never on rollback). An exception
    it raises is logged with the callable's name and swallowed: the commit
    has happened, and what follows it must not turn into an error for the
    caller. Work that must not be lost goes through the outbox
    (apps.messaging.outbox), not here alone."""
    name = callable_name(func)

    def call() -> None:
        try:
            func(*args, **kwargs)
        except Exception:
            logger.exception("after-commit call %s failed; the transaction had committed", name)

    call.__qualname__ = call.__name__ = f"after_commit[{name}]"
    transaction.on_commit(call, using=using, robust=True)
