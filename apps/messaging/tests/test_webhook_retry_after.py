"""A webhook replay that is still being retried says when to ask again
(Retry-After: the next attempt), and a 409 that no wait will change (the
dead letter is closed) does not."""

import pytest

from apps.core.tests.factories import MembershipFactory
from apps.messaging.models import DeadLetter
from apps.messaging.tests.webhook_fixtures import MAX_ATTEMPTS, event_make, pending_delivery, subscribe
from apps.messaging.webhook_delivery import webhook_delivery_attempt

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhook_settings")]


def test_a_replay_whose_retries_still_run_answers_409_with_retry_after(
    receiver, api_client, django_capture_on_commit_callbacks
):
    member = MembershipFactory(role="admin", is_default=True)
    api_client.force_authenticate(member.user)
    subscribe(member.client, receiver.url)
    receiver.status = 503
    delivery = pending_delivery(event_make(member.client.code), django_capture_on_commit_callbacks)
    for _ in range(MAX_ATTEMPTS):
        webhook_delivery_attempt(delivery_id=delivery.pk)
    parked = DeadLetter.objects.get()
    replay = f"/api/v1/messaging/dead-letters/{parked.pk}/replay/"

    with django_capture_on_commit_callbacks(execute=False):
        still_down = api_client.post(replay)
    assert still_down.status_code == 409 and still_down.json()["error"]["code"] == "replay_failed"
    assert int(still_down["Retry-After"]) >= 1  # the next retry's turn
    again = api_client.post(replay)  # while that retry is pending
    assert again.status_code == 409 and again.json()["error"]["code"] == "in_progress"
    assert int(again["Retry-After"]) >= 1

    receiver.status = 200
    assert webhook_delivery_attempt(delivery_id=delivery.pk).status == "delivered"
    closed = api_client.post(replay)
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "not_parked"
    assert "Retry-After" not in closed  # waiting changes nothing
