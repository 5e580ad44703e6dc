"""Deliveries whose task was lost (the enqueue failed as the event
committed, the broker lost a retry) are queued again by the beat sweep once
overdue; a delivery waiting for its own backoff is left alone."""

import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.tests.factories import ClientFactory
from apps.messaging.tasks import webhook_deliveries_resume
from apps.messaging.tests.webhook_fixtures import event_make, pending_delivery, subscribe
from apps.messaging.webhook_delivery import webhook_deliveries_due, webhook_delivery_attempt

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhook_settings")]


def test_a_delivery_whose_task_was_lost_is_queued_again_by_the_sweep(
    receiver, webhook_settings, eager_tasks, django_capture_on_commit_callbacks
):
    """The dispatcher recorded the delivery but its task never ran (the
    enqueue after commit failed): once overdue, the beat sweep queues it and
    it is delivered, once."""
    client = ClientFactory()
    _, receiver.secret = subscribe(client, receiver.url)
    delivery = pending_delivery(event_make(client.code), django_capture_on_commit_callbacks)  # its task is lost

    assert webhook_deliveries_resume.delay().get() == {"queued": []}  # not overdue yet: its task may still come
    assert not receiver.requests

    webhook_settings.MESSAGING_WEBHOOK_SWEEP_GRACE_SECONDS = 0
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_deliveries_resume.delay().get() == {"queued": [delivery.pk]}
    (request,) = receiver.wait_for(1)
    assert request.signature_ok is True
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 1
    assert webhook_deliveries_resume.delay().get() == {"queued": []}  # delivered: nothing to resume
    assert len(receiver.requests) == 1


def test_a_delivery_waiting_for_its_backoff_is_not_swept(webhook_settings, django_capture_on_commit_callbacks):
    """A failed attempt schedules the next one (next_attempt_at in the
    future): the sweep leaves it to its own retry."""
    webhook_settings.MESSAGING_WEBHOOK_SWEEP_GRACE_SECONDS = 0
    webhook_settings.MESSAGING_WEBHOOK_BACKOFF_BASE_SECONDS = 300
    webhook_settings.MESSAGING_WEBHOOK_BACKOFF_MAX_SECONDS = 300
    client = ClientFactory()
    with socket.socket() as closed:  # a port nothing listens on: the attempt fails at once
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/hook"
    subscribe(client, url)
    delivery = pending_delivery(event_make(client.code), django_capture_on_commit_callbacks)
    before = timezone.now()
    outcome = webhook_delivery_attempt(delivery_id=delivery.pk)
    assert outcome.status == "retry"
    delivery.refresh_from_db()
    due = before + timedelta(seconds=outcome.retry_in)
    assert abs(delivery.next_attempt_at - due) < timedelta(seconds=5)
    assert webhook_deliveries_due(now=before) == []
    # Overdue by its own schedule (the retry task was lost too): swept.
    assert webhook_deliveries_due(now=delivery.next_attempt_at + timedelta(seconds=1)) == [delivery.pk]
