"""One refresh of a rollup at a time, across processes: a session-level
advisory lock held for the whole refresh (which commits slice by slice, so a
transaction-level lock would not span it). A lock is released when its
session ends, so a worker that dies mid-refresh does not leave it held."""

from collections.abc import Iterator
from contextlib import contextmanager

from apps.core.advisory_locks import advisory_lock, advisory_lock_try, advisory_xact_lock, advisory_xact_lock_try
from apps.core.errors import Conflict

_KEY = "calculations.rollup:{}"
# A refresh commits slice by slice (seconds each); asking again after a few
# slices is soon enough, and a refresh that is still running answers again.
REFRESH_RETRY_AFTER_SECONDS = 10


class RefreshRunning(Conflict):
    def __init__(self, rollup_id: int) -> None:
        super().__init__(
            f"Rollup {rollup_id} is being refreshed; try again when the refresh is done.",
            code="refresh_running",
            details={"rollup": rollup_id},
            retry_after=REFRESH_RETRY_AFTER_SECONDS,
        )


@contextmanager
def refresh_lock(rollup_id: int) -> Iterator[bool]:
    """Yields whether the lock was taken (never waits)."""
    with advisory_lock_try(_KEY.format(rollup_id)) as acquired:
        yield acquired


def refresh_lock_for_transaction(rollup_id: int) -> bool:
    """The refresh lock of `rollup_id` until the current transaction ends
    (never waits; False when a refresh holds it). A lock taken by a deleting
    transaction stays held until the delete commits, so no refresh starts on
    a rollup whose row and table are about to go. Call inside atomic()."""
    return advisory_xact_lock_try(_KEY.format(rollup_id))


def _ensure_key(client_id: int, entity: str) -> str:
    return f"calculations.rollup-ensure:{client_id}:{entity}"


def ensure_lock_for_transaction(client_id: int, entity: str) -> None:
    """The generation lock of `entity` until the current transaction ends
    (waits for a running generation): a generation queued meanwhile runs
    after the caller commits and sees what it committed. Call inside atomic()."""
    advisory_xact_lock(_ensure_key(client_id, entity))


@contextmanager
def ensure_lock(client_id: int, entity: str) -> Iterator[None]:
    """Serialises automatic generation for one entity (two metric saves in a
    row enqueue two runs); waits for the other run to finish."""
    with advisory_lock(_ensure_key(client_id, entity)):
        yield
