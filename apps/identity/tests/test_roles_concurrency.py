"""A role deleted while a membership is granted it at the same moment, on two
database connections: never both (apps.identity.services.roles.role_delete
locks the role FOR UPDATE, core's role check holds it FOR KEY SHARE through
the role directory). Whichever transaction holds the role first is kept open
until the other one is seen waiting for its lock (or done), then committed."""

import threading
from collections.abc import Callable

import pytest
from django.db import connection, transaction

from apps.core.errors import AppError
from apps.core.services import membership_grant
from apps.core.tests.factories import ClientFactory, UserFactory
from apps.core.tests.waiting import wait_until
from apps.identity.models import Role
from apps.identity.services.roles import role_create, role_delete

pytestmark = pytest.mark.django_db(transaction=True)


class InTransaction(threading.Thread):
    """`work()` in a transaction on the thread's own connection; with `hold`,
    the transaction stays open after the work until `hold` is set."""

    def __init__(self, work: Callable[[], object], *, hold: threading.Event | None = None) -> None:
        super().__init__(daemon=True)
        self.work, self.hold = work, hold
        self.pid: int | None = None
        self.worked = threading.Event()
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            with transaction.atomic():
                self.work()
                self.worked.set()
                if self.hold is not None:
                    assert self.hold.wait(timeout=60), "never released"
        except Exception as exc:
            self.error = exc
        finally:
            connection.close()

    def waiting_or_done(self) -> bool:
        """Blocked on a lock of another transaction, or finished."""
        if not self.is_alive():
            return True
        if self.pid is None:
            return False
        with connection.cursor() as cursor:
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [self.pid])
            row = cursor.fetchone()
        return row is not None and row[0] == "Lock"


@pytest.fixture
def auditor():
    client = ClientFactory()
    role_create(client_id=client.pk, code="auditor", name="Auditor", permissions=["view_metrics"])
    return client


def _race(first: InTransaction, second_work: Callable[[], object]) -> InTransaction:
    """`first` does its work and holds its transaction open; `second_work`
    starts on another connection; once it waits for a lock (or is done),
    `first` commits."""
    first.start()
    wait_until(lambda: first.worked.is_set() or not first.is_alive(), what="the first transaction's work")
    assert first.error is None, first.error
    second = InTransaction(second_work)
    second.start()
    wait_until(second.waiting_or_done, what="the second transaction waiting for the lock or done")
    first.hold.set()
    first.join(60)
    second.join(60)
    assert not first.is_alive() and not second.is_alive()
    return second


def test_a_grant_in_progress_keeps_the_role_from_being_deleted(auditor):
    user = UserFactory()
    grant = InTransaction(lambda: membership_grant(user=user, client=auditor, role="auditor"), hold=threading.Event())
    deletion = _race(grant, lambda: role_delete(client_id=auditor.pk, code="auditor"))

    assert grant.error is None
    assert isinstance(deletion.error, AppError) and deletion.error.code == "role_in_use", deletion.error
    assert Role.objects.filter(client=auditor, code="auditor").exists()
    assert user.memberships.get(client=auditor).role == "auditor"


def test_a_grant_waiting_on_a_deletion_finds_no_role(auditor):
    user = UserFactory()
    deletion = InTransaction(lambda: role_delete(client_id=auditor.pk, code="auditor"), hold=threading.Event())
    grant = _race(deletion, lambda: membership_grant(user=user, client=auditor, role="auditor"))

    assert deletion.error is None
    assert isinstance(grant.error, AppError) and grant.error.code == "unknown_role", grant.error
    assert "has no role 'auditor'" in grant.error.message
    assert not Role.objects.filter(client=auditor, code="auditor").exists()
    assert not user.memberships.filter(client=auditor).exists()
