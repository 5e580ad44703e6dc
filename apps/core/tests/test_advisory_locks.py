"""Advisory locks: one key, one lock, across sessions; the transaction-scoped
ones go with the transaction. Two sessions: Django's and a copy of it."""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import OperationalError, connection

from apps.core.advisory_locks import advisory_lock, advisory_lock_try, advisory_xact_lock, advisory_xact_lock_try

ROOT = Path(__file__).resolve().parents[3]
KEY = "core.test-advisory-lock"

pytestmark = pytest.mark.django_db


@pytest.fixture
def other() -> Iterator:
    """A second session (another worker)."""
    session = connection.copy()
    yield session
    session.close()


def _waits(session) -> bool:
    """Whether taking KEY's lock in `session` waits (gives up after 200 ms)."""
    with session.cursor() as cursor:
        cursor.execute("SET lock_timeout = '200ms'")
    try:
        with advisory_lock(KEY, db=session):
            return False
    except OperationalError:
        return True


def test_a_held_session_lock_blocks_and_try_says_no_until_released(other):
    with advisory_lock(KEY):
        assert _waits(other)
        with advisory_lock_try(KEY, db=other) as acquired:
            assert acquired is False
    with advisory_lock_try(KEY, db=other) as acquired:
        assert acquired is True
        with advisory_lock_try(KEY) as mine:
            assert mine is False
    assert not _waits(other)


def test_a_transaction_lock_is_held_until_the_transaction_commits(other):
    with other.cursor() as cursor:
        cursor.execute("BEGIN")
    assert advisory_xact_lock_try(KEY, db=other) is True
    advisory_xact_lock(KEY, db=other)  # taken again by its holder: no wait
    with advisory_lock_try(KEY) as acquired:
        assert acquired is False
    with other.cursor() as cursor:
        cursor.execute("COMMIT")
    with advisory_lock_try(KEY) as acquired:
        assert acquired is True
        assert advisory_xact_lock_try(KEY, db=other) is False  # the other session holds it now


def test_no_production_module_takes_an_advisory_lock_by_itself():
    """One hash for every key: advisory-lock SQL lives in apps/core/advisory_locks.py only."""
    offenders = []
    for path in (ROOT / "apps").rglob("*.py"):
        if "tests" in path.parts or "migrations" in path.parts or path.name == "advisory_locks.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            text = node.value.lower() if isinstance(node, ast.Constant) and isinstance(node.value, str) else ""
            if "pg_advisory" in text or "pg_try_advisory" in text:
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
