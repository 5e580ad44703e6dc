"""after_commit: work after a commit never turns the committed work into an error."""

import ast
import logging
from functools import partial
from pathlib import Path

import pytest
from django.db import transaction

from apps.core.transactions import after_commit, callable_name

ROOT = Path(__file__).resolve().parents[3]
HELPER = ROOT / "apps" / "core" / "transactions.py"


def _fails(what: str) -> None:
    raise RuntimeError(f"broker away ({what})")


class _Task:
    name = "apps.example.tasks.send"

    def delay(self, *args) -> None:
        raise ConnectionError("broker away")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "func",
    [partial(_fails, "partial"), _Task().delay, partial(_Task().delay, 1)],
    ids=["partial", "bound method", "partial of a bound method"],
)
def test_a_failing_callback_after_commit_is_logged_by_name_and_never_raised(func, caplog):
    ran = []
    with caplog.at_level(logging.ERROR, logger="apps.core.transactions"), transaction.atomic():
        after_commit(func)
        after_commit(ran.append, "the next callback")
    # Django 5.2's robust on_commit formats `func.__qualname__`, which a partial lacks:
    # there the failure itself raised AttributeError out of the atomic block.
    assert ran == ["the next callback"]
    [record] = [r for r in caplog.records if r.name == "apps.core.transactions"]
    assert "failed; the transaction had committed" in record.getMessage()
    assert callable_name(func) in record.getMessage()
    assert record.exc_info is not None  # the traceback is kept


@pytest.mark.django_db(transaction=True)
def test_after_commit_runs_nothing_on_rollback_and_at_once_outside_a_transaction():
    ran = []
    with transaction.atomic():
        after_commit(ran.append, "rolled back")
        transaction.set_rollback(True)
    assert ran == []
    after_commit(ran.append, "autocommit")
    assert ran == ["autocommit"]


def test_callable_names():
    assert callable_name(partial(partial(_fails, "a"))) == f"{__name__}._fails"
    assert callable_name(_Task().delay) == "apps.example.tasks.send.delay"
    assert callable_name(_Task()) == f"{__name__}._Task"


def _robust_on_commit_calls(path: Path) -> list[int]:
    """Lines calling `on_commit(...)` with `robust=` or with a `partial(...)`."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name != "on_commit":
            continue
        first = node.args[0] if node.args else None
        built_by_partial = (
            isinstance(first, ast.Call) and getattr(first.func, "id", getattr(first.func, "attr", None)) == "partial"
        )
        if built_by_partial or any(keyword.arg == "robust" for keyword in node.keywords):
            lines.append(node.lineno)
    return lines


def test_robust_on_commit_callbacks_go_through_after_commit():
    """The whole class of the bug: any robust on_commit or on_commit of a
    partial outside the helper would bring Django's logging back."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted((ROOT / "apps").rglob("*.py"))
        if path != HELPER and "/tests/" not in str(path)
        for line in _robust_on_commit_calls(path)
    ]
    assert offenders == [], "use apps.core.transactions.after_commit instead of transaction.on_commit(..., robust=True)"
