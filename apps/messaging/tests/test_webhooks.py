"""Webhooks against a real local receiver (hook_receiver.py), the real
database and Redis: dispatch, signatures, retries and the dead-letter store,
replay, the circuit breaker, the private-address rule, tenant isolation."""

import base64
import json
import os
import time
import uuid

import pytest
import redis
from django.db import transaction

from apps.core.crypto import secret_decrypt
from apps.core.errors import AppError, Conflict
from apps.core.tests.factories import ClientFactory, MembershipFactory
from apps.core.tests.waiting import wait_until
from apps.messaging import outbound, webhook_delivery
from apps.messaging.events import webhook_dispatch
from apps.messaging.models import DeadLetter, Subscription, WebhookDelivery
from apps.messaging.outbound import (
    breaker_namespace,
    destination_breaker,
    destination_breaker_reset,
    webhook_url_validate,
)
from apps.messaging.registry import handlers_discover, handlers_for
from apps.messaging.services import event_apply
from apps.messaging.tasks import webhook_deliver
from apps.messaging.tests.hook_receiver import Receiver
from apps.messaging.tests.hook_tls import client_context, self_signed, server_context
from apps.messaging.tests.webhook_fixtures import (
    BACKOFF_BASE,
    BACKOFF_MAX,
    MAX_ATTEMPTS,
    event_make,
    pending_delivery,
    subscribe,
)
from apps.messaging.types import WebhookURLError
from apps.messaging.webhook_delivery import SECRET_PURPOSE, webhook_backoff_seconds, webhook_delivery_attempt
from apps.messaging.webhooks import (
    subscription_secrets_rotate,
    webhook_deliveries_create,
    webhook_redeliver,
    webhook_signature_verify,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhook_settings")]

# --- Dispatch, signature, tenant isolation -----------------------------------------------


def test_the_dispatcher_is_registered_with_the_bus_on_every_topic():
    handlers_discover()
    for topic in ("metric.calculated", "ingestion.completed", "training.job.completed"):
        assert webhook_dispatch in [r.func for r in handlers_for(topic=topic, group="webhooks")]
    assert not handlers_for(topic="commands.recalculate", group="webhooks")


def test_event_through_the_bus_handler_is_delivered_signed_and_verifies_on_the_receiver(
    receiver, eager_tasks, django_capture_on_commit_callbacks
):
    client = ClientFactory(code="acme")
    subscription, secret = subscribe(client, receiver.url)
    receiver.secret = secret
    envelope = event_make("acme", value=0.91)

    handlers_discover()
    with django_capture_on_commit_callbacks(execute=True):
        assert event_apply(envelope=envelope, group="webhooks")

    (request,) = receiver.requests
    assert request.signature_ok is True  # the receiver's own check, as documented
    assert request.path == "/hooks/ae?source=test"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-ae-event-id"] == str(envelope.event_id)
    assert abs(int(request.headers["x-ae-timestamp"]) - time.time()) < 60
    body = json.loads(request.body)
    assert body["event_id"] == str(envelope.event_id)
    assert body["topic"] == "metric.calculated" and body["tenant"] == "acme"
    assert body["payload"] == {"value": 0.91} and body["correlation_id"] == "corr-1"

    # Our helper for receivers agrees, and refuses a changed body, another secret, a stale timestamp.
    timestamp, signature = request.headers["x-ae-timestamp"], request.headers["x-ae-signature"]
    assert signature.startswith("v1=")
    assert webhook_signature_verify(secret, timestamp, request.body, signature)
    assert not webhook_signature_verify(secret, timestamp, request.body.replace(b"0.91", b"0.99"), signature)
    assert not webhook_signature_verify("whsec_someone_else_entirely", timestamp, request.body, signature)
    assert not webhook_signature_verify(secret, timestamp, request.body, signature, now=int(timestamp) + 301)
    assert webhook_signature_verify(secret, timestamp, request.body, f"v1=00, {signature}")  # rotation: any v1

    delivery = WebhookDelivery.objects.get(subscription=subscription)
    assert delivery.status == "delivered" and delivery.attempts == 1 and delivery.last_status_code == 200

    # The bus applies an event once per group; the dispatcher itself also adds nothing for a repeat.
    with django_capture_on_commit_callbacks(execute=True):
        assert not event_apply(envelope=envelope, group="webhooks")
        assert webhook_deliveries_create(envelope=envelope) == []
    assert len(receiver.requests) == 1


def test_a_subscription_never_receives_another_clients_events(
    receiver, eager_tasks, django_capture_on_commit_callbacks
):
    acme, globex = ClientFactory(code="acme"), ClientFactory(code="globex")
    acme_sub, _ = subscribe(acme, receiver.url + "&client=acme")
    globex_sub, _ = subscribe(globex, receiver.url + "&client=globex")
    subscribe(acme, receiver.url + "&client=acme-ingestion", pattern="ingestion.*")
    paused, _ = subscribe(acme, receiver.url + "&client=acme-paused", pattern="metric.calculated")
    Subscription.objects.filter(pk=paused.pk).update(active=False)

    with django_capture_on_commit_callbacks(execute=True):
        webhook_dispatch(event_make("acme"))
        webhook_dispatch(event_make("globex"))
        webhook_dispatch(event_make(None))  # platform-wide: nobody's
        webhook_dispatch(event_make("initech"))  # a client without subscriptions

    by_path = sorted((r.path.rsplit("=", 1)[1], json.loads(r.body)["tenant"]) for r in receiver.requests)
    assert by_path == [("acme", "acme"), ("globex", "globex")]
    assert WebhookDelivery.objects.get(subscription=acme_sub).topic == "metric.calculated"
    assert WebhookDelivery.objects.filter(subscription=globex_sub).count() == 1
    assert WebhookDelivery.objects.count() == 2


def test_a_rolled_back_handler_sends_nothing(receiver, eager_tasks, django_capture_on_commit_callbacks):
    client = ClientFactory(code="acme")
    subscribe(client, receiver.url)

    class Boom(Exception):
        pass

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Boom), transaction.atomic():
        webhook_dispatch(event_make("acme"))
        raise Boom
    assert receiver.requests == []
    assert not WebhookDelivery.objects.exists()


# --- Retries, dead letters, replay --------------------------------------------------------


def test_backoff_is_exponential_with_full_jitter(webhook_settings):
    webhook_settings.MESSAGING_WEBHOOK_BACKOFF_BASE_SECONDS = 10
    webhook_settings.MESSAGING_WEBHOOK_BACKOFF_MAX_SECONDS = 300
    for attempts, ceiling in [(1, 10), (2, 20), (3, 40), (5, 160), (6, 300), (12, 300)]:
        draws = [webhook_backoff_seconds(attempts) for _ in range(400)]
        assert all(0 <= d <= ceiling for d in draws)
        assert min(draws) < ceiling * 0.1 and max(draws) > ceiling * 0.9  # spread over the whole range


def test_receiver_down_retried_with_backoff_then_dead_letter_then_replay_delivers_once(
    receiver, monkeypatch, django_capture_on_commit_callbacks
):
    client = ClientFactory(code="acme")
    subscription, secret = subscribe(client, receiver.url)
    receiver.stop()  # down: connection refused
    delivery = pending_delivery(event_make("acme"), django_capture_on_commit_callbacks)

    delays = []

    def recorded_backoff(attempts):
        delays.append(webhook_backoff_seconds(attempts))
        return delays[-1]

    monkeypatch.setattr(webhook_delivery, "webhook_backoff_seconds", recorded_backoff)
    # The Celery task, run eagerly: each self.retry(countdown=backoff) runs the next attempt at once.
    assert webhook_deliver.apply(args=[delivery.pk]).get() == "failed"

    assert len(delays) == MAX_ATTEMPTS - 1
    for attempt, delay in enumerate(delays, start=1):
        assert 0 <= delay <= min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (attempt - 1))
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == MAX_ATTEMPTS
    assert "Connection failed" in delivery.last_error and f"after {MAX_ATTEMPTS} attempts" in delivery.last_error
    parked = DeadLetter.objects.get()
    assert (parked.kind, parked.status, parked.subscription_id) == ("webhook", "parked", subscription.pk)
    assert parked.attempts == MAX_ATTEMPTS and parked.client_id == client.pk
    assert parked.last_status_code is None  # never answered
    assert parked.event_id == delivery.event_id and parked.envelope == delivery.envelope
    assert receiver.requests == []

    # Receiver back on the same address; the replay delivers, once.
    receiver.secret = secret
    receiver.start()
    with django_capture_on_commit_callbacks(execute=True) as queued:
        outcome = webhook_redeliver(dead_letter=parked)
    assert outcome.status == "delivered" and queued == []
    (request,) = receiver.requests
    assert request.signature_ok is True
    assert json.loads(request.body)["event_id"] == str(delivery.event_id)
    parked.refresh_from_db()
    assert parked.status == "replayed" and parked.replay_count == 1 and parked.replayed_at is not None
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 1  # a fresh budget

    with pytest.raises(Conflict):
        webhook_redeliver(dead_letter=parked)
    assert webhook_delivery_attempt(delivery_id=delivery.pk).status == "skipped"
    assert len(receiver.requests) == 1


def test_a_replay_that_fails_keeps_retrying_and_closes_the_dead_letter_when_one_gets_through(
    receiver, django_capture_on_commit_callbacks
):
    client = ClientFactory(code="acme")
    subscribe(client, receiver.url)
    receiver.status = 500
    delivery = pending_delivery(event_make("acme"), django_capture_on_commit_callbacks)
    for _ in range(MAX_ATTEMPTS):
        outcome = webhook_delivery_attempt(delivery_id=delivery.pk)
    assert outcome.status == "failed" and outcome.status_code == 500
    parked = DeadLetter.objects.get()
    assert "HTTP 500: receiver says no" in parked.error and parked.last_status_code == 500

    with django_capture_on_commit_callbacks(execute=False) as queued, pytest.raises(AppError) as failed:
        webhook_redeliver(dead_letter=parked)
    assert failed.value.code == "replay_failed" and failed.value.status_code == 409
    assert "Retries continue" in failed.value.message
    assert len(queued) == 1  # the next retry, with the fresh budget
    parked.refresh_from_db()
    delivery.refresh_from_db()
    assert parked.status == "parked" and delivery.status == "pending" and delivery.attempts == 1
    with pytest.raises(Conflict):  # no second replay while the first one's retries run
        webhook_redeliver(dead_letter=parked)

    receiver.status = 204
    assert webhook_delivery_attempt(delivery_id=delivery.pk).status == "delivered"
    parked.refresh_from_db()
    assert parked.status == "replayed" and parked.replay_count == 1
    assert DeadLetter.objects.count() == 1
    assert len(receiver.requests) == MAX_ATTEMPTS + 2


def test_replay_through_the_dead_letter_api(receiver, api_client, django_capture_on_commit_callbacks):
    member = MembershipFactory(role="admin", is_default=True)
    api_client.force_authenticate(member.user)
    subscribe(member.client, receiver.url)
    receiver.status = 503
    delivery = pending_delivery(event_make(member.client.code), django_capture_on_commit_callbacks)
    for _ in range(MAX_ATTEMPTS):
        webhook_delivery_attempt(delivery_id=delivery.pk)
    listing = api_client.get("/api/v1/messaging/dead-letters/?kind=webhook").json()
    (parked,) = listing["results"]
    replay = f"/api/v1/messaging/dead-letters/{parked['id']}/replay/"

    with django_capture_on_commit_callbacks(execute=False):
        still_down = api_client.post(replay)
    assert still_down.status_code == 409 and still_down.json()["error"]["code"] == "replay_failed"
    assert DeadLetter.objects.get().status == "parked"

    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed")  # its retries ran out again meanwhile
    receiver.status = 200
    replayed = api_client.post(replay)
    assert replayed.status_code == 200 and replayed.json()["status"] == "replayed"
    assert len(receiver.requests) == MAX_ATTEMPTS + 2
    assert api_client.post(replay).status_code == 409  # not parked any more: nothing sent again
    assert len(receiver.requests) == MAX_ATTEMPTS + 2


def test_redirects_are_not_followed(receiver, django_capture_on_commit_callbacks):
    client = ClientFactory(code="acme")
    subscribe(client, receiver.url)
    receiver.status = 302
    delivery = pending_delivery(event_make("acme"), django_capture_on_commit_callbacks)
    outcome = webhook_delivery_attempt(delivery_id=delivery.pk)
    assert outcome.status == "retry" and outcome.status_code == 302
    assert len(receiver.requests) == 1


# --- Circuit breaker ---------------------------------------------------------------------


def test_circuit_opens_after_n_failures_and_stops_calling_the_destination(
    receiver, webhook_settings, django_capture_on_commit_callbacks
):
    webhook_settings.MESSAGING_WEBHOOK_BREAKER_FAIL_MAX = 3
    webhook_settings.MESSAGING_WEBHOOK_MAX_ATTEMPTS = 10
    client = ClientFactory(code="acme")
    subscribe(client, receiver.url)
    receiver.status = 503
    deliveries = [pending_delivery(event_make("acme"), django_capture_on_commit_callbacks) for _ in range(5)]

    outcomes = [webhook_delivery_attempt(delivery_id=d.pk) for d in deliveries[:3]]
    assert [o.status for o in outcomes] == ["retry"] * 3
    assert len(receiver.requests) == 3
    origin = f"http://127.0.0.1:{receiver.port}"
    assert destination_breaker(origin).current_state == "open"

    for delivery in deliveries[3:]:
        outcome = webhook_delivery_attempt(delivery_id=delivery.pk)
        assert outcome.status == "postponed"
        assert 60 <= outcome.retry_in <= 120  # after the reset timeout, spread out
        delivery.refresh_from_db()
        assert delivery.status == "pending" and delivery.attempts == 0  # no attempt spent
    assert len(receiver.requests) == 3  # the destination was not called

    # The state is in Redis: another worker's breaker (a fresh instance) sees it open too.
    outbound._breaker.cache_clear()
    assert webhook_delivery_attempt(delivery_id=deliveries[3].pk).status == "postponed"
    assert len(receiver.requests) == 3

    # Reset timeout elapsed (moved back in Redis instead of sleeping): one trial call, which succeeds and closes it.
    receiver.status = 200
    redis.Redis.from_url(webhook_settings.REDIS_URL).set(
        f"{breaker_namespace(origin)}:pybreaker:opened_at", int(time.time()) - 61
    )
    assert webhook_delivery_attempt(delivery_id=deliveries[3].pk).status == "delivered"
    assert destination_breaker(origin).current_state == "closed"
    assert webhook_delivery_attempt(delivery_id=deliveries[4].pk).status == "delivered"
    assert len(receiver.requests) == 5


def test_client_errors_do_not_open_the_circuit(receiver, webhook_settings, django_capture_on_commit_callbacks):
    webhook_settings.MESSAGING_WEBHOOK_BREAKER_FAIL_MAX = 2
    client = ClientFactory(code="acme")
    subscribe(client, receiver.url)
    receiver.status = 400  # the destination is up and answering: retried, but no reason to stop calling it
    deliveries = [pending_delivery(event_make("acme"), django_capture_on_commit_callbacks) for _ in range(4)]
    assert [webhook_delivery_attempt(delivery_id=d.pk).status for d in deliveries] == ["retry"] * 4
    assert len(receiver.requests) == 4


def test_postponed_for_too_long_is_parked(receiver, webhook_settings, django_capture_on_commit_callbacks):
    webhook_settings.MESSAGING_WEBHOOK_BREAKER_FAIL_MAX = 1
    webhook_settings.MESSAGING_WEBHOOK_POSTPONE_MAX_SECONDS = 3600
    client = ClientFactory(code="acme")
    subscribe(client, receiver.url)
    receiver.status = 503
    first, second = (pending_delivery(event_make("acme"), django_capture_on_commit_callbacks) for _ in range(2))
    assert webhook_delivery_attempt(delivery_id=first.pk).status == "retry"  # trips the breaker
    WebhookDelivery.objects.filter(pk=second.pk).update(updated_at=second.updated_at.replace(year=2000))
    outcome = webhook_delivery_attempt(delivery_id=second.pk)
    assert outcome.status == "failed" and "stayed open" in outcome.error
    assert DeadLetter.objects.get().event_id == second.event_id
    assert len(receiver.requests) == 1


# --- Destinations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://localhost/hook", "loopback"),  # a name resolving to 127.0.0.1 / ::1
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),  # IPv4-mapped IPv6
        ("http://2130706433/hook", "loopback"),  # 127.0.0.1 as a number
        ("http://10.1.2.3/hook", "private"),
        ("https://192.168.0.10/hook", "private"),
        ("http://[fc00::1]/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),  # cloud metadata
        ("http://[fe80::1]/hook", "link-local"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://100.64.0.1/hook", "non-public"),  # carrier-grade NAT
        ("http://[64:ff9b::a00:1]/hook", "private"),  # NAT64 of 10.0.0.1
    ],
)
def test_private_addresses_are_refused(webhook_settings, url, kind):
    webhook_settings.MESSAGING_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(WebhookURLError) as refused:
        webhook_url_validate(url)
    assert f"a {kind} address" in refused.value.message
    assert refused.value.code == "invalid_webhook_url" and refused.value.details["webhook_url"]


def test_localhost_is_refused_naming_the_address_it_resolves_to(webhook_settings):
    webhook_settings.MESSAGING_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(WebhookURLError, match=r"localhost resolves to (127\.0\.0\.1|::1), which is a loopback"):
        webhook_url_validate("https://localhost:8443/hook")


def test_public_addresses_are_accepted(webhook_settings):
    webhook_settings.MESSAGING_WEBHOOK_ALLOW_PRIVATE = False
    assert webhook_url_validate(" https://93.184.215.14/hooks?x=1 ") == "https://93.184.215.14/hooks?x=1"
    assert webhook_url_validate("http://[2606:4700:4700::1111]:8080/h") == "http://[2606:4700:4700::1111]:8080/h"


@pytest.mark.parametrize("allow_private", [True, False])
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://user:pass@93.184.215.14/hook", "must not contain credentials"),
        ("https://token@93.184.215.14/hook", "must not contain credentials"),
        ("ftp://93.184.215.14/hook", "must start with http:// or https://"),
        ("javascript:alert(1)", "must start with http:// or https://"),
        ("//93.184.215.14/hook", "must start with http:// or https://"),
        ("https:///hook", "has no host"),
        ("https://93.184.215.14:99999/hook", "invalid port"),
        ("https://93.184.215.14/a b", "spaces"),
        ("", "empty"),
    ],
)
def test_malformed_urls_and_credentials_are_refused(webhook_settings, allow_private, url, message):
    webhook_settings.MESSAGING_WEBHOOK_ALLOW_PRIVATE = allow_private
    with pytest.raises(WebhookURLError, match=message):
        webhook_url_validate(url)


def test_the_address_is_checked_again_at_delivery_time(receiver, webhook_settings, django_capture_on_commit_callbacks):
    """A destination accepted when subscribing but private when delivering
    (DNS rebinding, or the rule switched on) is never called."""
    client = ClientFactory(code="acme")
    url = f"http://localhost:{receiver.port}/hooks/ae"
    subscribe(client, url)
    delivery = pending_delivery(event_make("acme"), django_capture_on_commit_callbacks)

    webhook_settings.MESSAGING_WEBHOOK_ALLOW_PRIVATE = False
    outcome = webhook_delivery_attempt(delivery_id=delivery.pk)
    assert outcome.status == "failed" and "loopback address" in outcome.error
    assert receiver.requests == []
    parked = DeadLetter.objects.get()
    assert parked.status == "parked" and "private networks are refused" in parked.error


def test_a_name_resolving_to_several_addresses_is_tried_in_turn(receiver, django_capture_on_commit_callbacks):
    # localhost resolves to ::1 as well as 127.0.0.1; the receiver listens on IPv4 only.
    client = ClientFactory(code="acme")
    subscribe(client, f"http://localhost:{receiver.port}/hooks/ae")
    delivery = pending_delivery(event_make("acme"), django_capture_on_commit_callbacks)
    assert webhook_delivery_attempt(delivery_id=delivery.pk).status == "delivered"
    assert receiver.requests[0].headers["host"] == f"localhost:{receiver.port}"


def test_https_goes_to_the_checked_address_and_verifies_the_certificate_for_the_url_host(
    monkeypatch, django_capture_on_commit_callbacks
):
    """The request goes to the address that passed the check, yet TLS (SNI and
    the certificate check) is for the URL's host name: a certificate naming
    only `localhost` is accepted for https://localhost, one naming another
    host is not, even when trusted."""
    client = ClientFactory(code="acme")
    for cert_name, expected in (("localhost", "delivered"), ("other.example", "retry")):
        cert, key = self_signed(cert_name)
        secure = Receiver(ssl_context=server_context(cert, key)).start()
        try:
            monkeypatch.setattr(outbound, "_tls_verify", lambda cert=cert: client_context(cert))
            subscribe(client, f"https://localhost:{secure.port}/hooks/ae", pattern=f"metric.{cert_name[:5]}*")
            envelope = event_make("acme", topic=f"metric.{cert_name[:5]}")
            delivery = pending_delivery(envelope, django_capture_on_commit_callbacks)
            outcome = webhook_delivery_attempt(delivery_id=delivery.pk)
            assert outcome.status == expected, outcome
            if expected == "delivered":
                assert secure.requests[0].headers["host"] == f"localhost:{secure.port}"
            else:
                assert "Hostname mismatch" in outcome.error and secure.requests == []
        finally:
            secure.stop()
            destination_breaker_reset(f"https://localhost:{secure.port}")


# --- Secrets ----------------------------------------------------------------------------


def test_the_secret_is_stored_encrypted_and_a_given_secret_is_used(receiver, django_capture_on_commit_callbacks):
    client = ClientFactory(code="acme")
    generated, generated_secret = subscribe(client, receiver.url)
    assert generated_secret.startswith("whsec_") and len(generated_secret) > 40
    assert generated_secret not in generated.secret_encrypted
    assert secret_decrypt(generated.secret_encrypted, purpose=SECRET_PURPOSE) == generated_secret

    chosen, chosen_secret = subscribe(client, receiver.url, pattern="metric.calculated", secret="my own secret 123")
    assert chosen_secret == "my own secret 123"
    Subscription.objects.filter(pk=generated.pk).update(active=False)
    receiver.secret = chosen_secret
    delivery = pending_delivery(event_make("acme"), django_capture_on_commit_callbacks)
    assert delivery.subscription_id == chosen.pk
    assert webhook_delivery_attempt(delivery_id=delivery.pk).status == "delivered"
    assert receiver.requests[0].signature_ok is True


def _kek() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def test_secrets_are_re_encrypted_with_a_new_key(receiver, webhook_settings, django_capture_on_commit_callbacks):
    old_key, new_key = f"old:{_kek()}", f"new:{_kek()}"
    webhook_settings.AE_SECRET_KEKS = [old_key]
    client = ClientFactory(code="acme")
    subscription, secret = subscribe(client, receiver.url)

    webhook_settings.AE_SECRET_KEKS = [new_key, old_key]
    assert subscription_secrets_rotate() == 1
    webhook_settings.AE_SECRET_KEKS = [new_key]  # the old key retired
    subscription.refresh_from_db()
    assert subscription.secret_encrypted.startswith("v2:new:")
    assert secret_decrypt(subscription.secret_encrypted, purpose=SECRET_PURPOSE) == secret
    receiver.secret = secret
    delivery = pending_delivery(event_make("acme"), django_capture_on_commit_callbacks)
    assert webhook_delivery_attempt(delivery_id=delivery.pk).status == "delivered"
    assert receiver.requests[0].signature_ok is True


# --- End to end through a real Celery worker ------------------------------------------------


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_end_to_end_through_the_celery_worker(receiver, celery_worker_process):
    client = ClientFactory(code=f"e2e_{uuid.uuid4().hex[:8]}")
    subscription, secret = subscribe(client, receiver.url)
    receiver.secret = secret

    class Boom(Exception):
        pass

    rolled_back = event_make(client.code, note="rolled back")
    with pytest.raises(Boom), transaction.atomic():
        webhook_dispatch(rolled_back)
        raise Boom
    committed = event_make(client.code, note="committed")
    with transaction.atomic():
        webhook_dispatch(committed)

    (request,) = receiver.wait_for(1)
    assert request.signature_ok is True
    assert json.loads(request.body)["payload"] == {"note": "committed"}
    delivery = wait_until(
        lambda: WebhookDelivery.objects.filter(subscription=subscription, status="delivered").first(),
        what="the delivery marked delivered",
        timeout=10,
        interval=0.05,
    )
    assert WebhookDelivery.objects.get(subscription=subscription) == delivery
    assert delivery.status == "delivered" and delivery.event_id == committed.event_id
    assert len(receiver.requests) == 1  # the worker is FIFO: a queued rolled-back delivery would have come first
