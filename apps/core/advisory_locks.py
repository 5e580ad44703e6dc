"""PostgreSQL advisory locks, named by a text key (`"calculations.rollup:7"`).

Every lock in the project goes through here, so every key is turned into a
lock number the same way: `hashtextextended(key, 0)` (64 bits; two keys that
hash alike would share a lock, which 64 bits makes unlikely).

- Session locks (`advisory_lock`, `advisory_lock_try`) span transactions
  (work that commits step by step) and are released at the end of the block,
  or when the session ends: a worker that dies does not leave one held.
- Transaction locks (`advisory_xact_lock`, `advisory_xact_lock_try`) are
  released when the current transaction commits or rolls back; call them
  inside `transaction.atomic()`.

The blocking forms wait for the holder; the `_try` forms never wait and say
whether the lock was taken. `db` is the connection (default: Django's default
one), for callers that work on another."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection as default_connection
from django.db.backends.base.base import BaseDatabaseWrapper


def _call(function: str, key: str, db: BaseDatabaseWrapper | None) -> bool | None:
    with (db or default_connection).cursor() as cursor:
        cursor.execute(f"SELECT {function}(hashtextextended(%s, 0))", [key])
        return cursor.fetchone()[0]


@contextmanager
def advisory_lock(key: str, *, db: BaseDatabaseWrapper | None = None) -> Iterator[None]:
    """Hold `key`'s session lock for the block (waits for a holder)."""
    _call("pg_advisory_lock", key, db)
    try:
        yield
    finally:
        _call("pg_advisory_unlock", key, db)


@contextmanager
def advisory_lock_try(key: str, *, db: BaseDatabaseWrapper | None = None) -> Iterator[bool]:
    """Yields whether `key`'s session lock was taken (never waits); a lock
    taken is released at the end of the block."""
    acquired = bool(_call("pg_try_advisory_lock", key, db))
    try:
        yield acquired
    finally:
        if acquired:
            _call("pg_advisory_unlock", key, db)


def advisory_xact_lock(key: str, *, db: BaseDatabaseWrapper | None = None) -> None:
    """`key`'s lock until the current transaction ends (waits for a holder)."""
    _call("pg_advisory_xact_lock", key, db)


def advisory_xact_lock_try(key: str, *, db: BaseDatabaseWrapper | None = None) -> bool:
    """`key`'s lock until the current transaction ends, if free now (never
    waits): whether it was taken."""
    return bool(_call("pg_try_advisory_xact_lock", key, db))
