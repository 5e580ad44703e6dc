"""Dead letters of another app's kind (threshold_alert): parked through
messaging's face, replayed by the replayer their app registered, and refused
when none is registered. The threshold alert's own path (parked by
calculations, replayed to a Slack-style receiver) is tested in
apps/calculations/tests/test_threshold_dead_letters.py."""

import uuid

import pytest

from apps.core.errors import AppError, Conflict
from apps.core.tests.factories import ClientFactory
from apps.messaging import services
from apps.messaging.models import DeadLetter
from apps.messaging.services import dead_letter_discard, dead_letter_park, dead_letter_replay
from apps.messaging.types import DeadLetterKind, ParkedItem

pytestmark = pytest.mark.django_db


@pytest.fixture
def replayers(monkeypatch):
    """Messaging's replayer registry, empty for the test (the apps' own restored after)."""
    registry: dict = {}
    monkeypatch.setattr(services, "_replayers", registry)
    return registry


def park(client, **overrides) -> DeadLetter:
    values = {
        "kind": DeadLetterKind.THRESHOLD_ALERT, "topic": "metric.calculated", "group": "calculations.thresholds",
        "event_id": uuid.uuid4(), "envelope": {"alert_id": 7, "text": "low"}, "error": "HTTP 404: no_service",
        "attempts": 1, "status_code": 404, "client_id": client.pk, **overrides,
    }  # fmt: skip
    return dead_letter_park(**values)


def test_another_apps_job_is_parked_under_its_kind_for_its_client():
    client = ClientFactory()
    dead = park(client)
    dead.refresh_from_db()
    assert (dead.kind, dead.status, dead.client_id, dead.last_status_code) == (
        "threshold_alert",
        "parked",
        client.pk,
        404,
    )
    assert dead.envelope == {"alert_id": 7, "text": "low"} and dead.subscription_id is None


def test_a_registered_replayer_replays_in_the_replays_transaction(replayers):
    client = ClientFactory()
    dead = park(client)
    seen: list[ParkedItem] = []

    def replayer(item: ParkedItem) -> None:
        seen.append(item)
        assert DeadLetter.objects.get(pk=item.id).status == "parked"  # not yet: in the same transaction

    services.dead_letter_replayer_register(DeadLetterKind.THRESHOLD_ALERT, replayer)
    replayed = dead_letter_replay(dead_letter=dead)
    assert (replayed.status, replayed.replay_count) == ("replayed", 1) and replayed.replayed_at is not None
    (item,) = seen
    assert (item.id, item.kind, item.record, item.client_id, item.attempts) == (
        dead.pk, "threshold_alert", {"alert_id": 7, "text": "low"}, client.pk, 1,
    )  # fmt: skip
    with pytest.raises(Conflict) as refused:
        dead_letter_replay(dead_letter=replayed)
    assert refused.value.code == "not_parked" and len(seen) == 1


def test_a_replayer_that_refuses_leaves_the_dead_letter_parked(replayers):
    dead = park(ClientFactory())

    def refuse(item: ParkedItem) -> None:
        DeadLetter.objects.filter(pk=item.id).update(error="changed")  # rolled back with the refusal
        raise Conflict("The alert is gone.", code="not_replayable")

    services.dead_letter_replayer_register(DeadLetterKind.THRESHOLD_ALERT, refuse)
    with pytest.raises(AppError) as refused:
        dead_letter_replay(dead_letter=dead)
    assert refused.value.code == "not_replayable"
    dead.refresh_from_db()
    assert (dead.status, dead.replay_count, dead.error) == ("parked", 0, "HTTP 404: no_service")
    assert dead_letter_discard(dead_letter=dead).status == "discarded"


def test_without_a_replayer_the_kind_is_not_replayable(replayers):
    dead = park(ClientFactory())
    with pytest.raises(Conflict) as refused:
        dead_letter_replay(dead_letter=dead)
    assert refused.value.code == "not_replayable"
    dead.refresh_from_db()
    assert dead.status == "parked"


def test_handler_and_webhook_kinds_take_no_replayer(replayers):
    for kind in ("handler", "webhook", "no_such_kind"):
        with pytest.raises(ValueError):
            services.dead_letter_replayer_register(kind, lambda item: None)
    assert replayers == {}


def test_calculations_registers_the_threshold_alert_replayer_at_start():
    replayer = services._replayers[DeadLetterKind.THRESHOLD_ALERT]  # messaging imports no calculations, even here
    assert (replayer.__module__, replayer.__name__) == (
        "apps.calculations.thresholds.services", "threshold_alert_replay",
    )  # fmt: skip
