"""The payload schemas of the archival topics (types.py), registered with the
bus when the app starts (apps.py), so every process validates what it
publishes on them."""

from apps.messaging.services import register_schema
from apps.warehouse.types import (
    ARCHIVAL_CONFIRMATIONS_TOPIC,
    ARCHIVAL_EVENTS_TOPIC,
    ARCHIVAL_FAILURES_TOPIC,
    ArchivalConfirmation,
    ArchivalEvent,
    ArchivalFailure,
)

register_schema(ARCHIVAL_EVENTS_TOPIC, 1, ArchivalEvent)
register_schema(ARCHIVAL_CONFIRMATIONS_TOPIC, 1, ArchivalConfirmation)
register_schema(ARCHIVAL_FAILURES_TOPIC, 1, ArchivalFailure)
