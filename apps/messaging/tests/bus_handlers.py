"""Handlers the reliability tests run in a real `manage.py run_consumers`
subprocess, which imports this module through MESSAGING_EXTRA_HANDLER_MODULES
(the test process imports it too, to replay dead letters).

The handler records each application as a row of a test-only table
(`bus_test_applied`, created and dropped by the tests, no unique key), so a
lost event is a missing row and a double application is a second row for
one event_id. The payload steers it:

- `marker`: a file path written (with the pid) when the handler starts;
- `sleep`: seconds to sleep before writing its row;
- `poison`: fail unless the flag `poison_fixed` is set in `bus_test_flags`.
"""

import hashlib
import json
import os
import time
from pathlib import Path

from django.db import connection

from apps.messaging.services import handler
from apps.messaging.types import Envelope

TOPIC = "bus.reliability"
GROUP = "bus_reliability"

TABLES_CREATE = [
    "CREATE TABLE IF NOT EXISTS bus_test_applied ("
    " id bigserial PRIMARY KEY, event_id uuid NOT NULL, seq integer, digest text NOT NULL,"
    " pid integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS bus_test_flags (name text PRIMARY KEY)",
]
TABLES_DROP = ["DROP TABLE IF EXISTS bus_test_applied", "DROP TABLE IF EXISTS bus_test_flags"]


def tables_create() -> None:
    with connection.cursor() as cursor:
        for statement in TABLES_CREATE:
            cursor.execute(statement)


def tables_drop() -> None:
    with connection.cursor() as cursor:
        for statement in TABLES_DROP:
            cursor.execute(statement)


def flag_set(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bus_test_flags (name) VALUES (%s) ON CONFLICT DO NOTHING", [name])


def _flag(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM bus_test_flags WHERE name = %s", [name])
        return cursor.fetchone() is not None


def payload_digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def applied_counts() -> tuple[int, int]:
    """(rows, distinct event ids) in bus_test_applied."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), count(DISTINCT event_id) FROM bus_test_applied")
        rows, distinct = cursor.fetchone()
    return rows, distinct


def applied_rows() -> list[tuple]:
    """(event_id as str, seq, digest, pid) per application, in order."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT event_id::text, seq, digest, pid FROM bus_test_applied ORDER BY id")
        return cursor.fetchall()


@handler(TOPIC, group=GROUP)
def record_application(envelope: Envelope) -> None:
    payload = envelope.payload
    if payload.get("marker"):
        Path(payload["marker"]).write_text(str(os.getpid()))
    if payload.get("sleep"):
        time.sleep(float(payload["sleep"]))
    if payload.get("poison") and not _flag("poison_fixed"):
        raise RuntimeError("poison message: this handler cannot apply it")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bus_test_applied (event_id, seq, digest, pid) VALUES (%s, %s, %s, %s)",
            [envelope.event_id, payload.get("seq"), payload_digest(payload), os.getpid()],
        )
