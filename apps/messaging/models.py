"""Durable state of the event bus. The events themselves live in Redis
Streams; the database keeps what must survive Redis and be queryable:
which events each consumer group applied (idempotency), parked messages
(the dead-letter store), webhook subscriptions and their deliveries."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.model_mixins import TimestampedModel
from apps.messaging.types import DeadLetterKind


class ProcessedEvent(models.Model):
    """An event a consumer group has applied; written in the handler's
    transaction, so an event is applied at most once per group."""

    event_id = models.UUIDField()
    group = models.CharField(max_length=100)
    topic = models.CharField(max_length=200)
    processed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event_id", "group"], name="messaging_processed_event_group_unique")
        ]
        indexes = [models.Index(fields=["processed_at"])]

    def __str__(self) -> str:
        return f"{self.event_id} by {self.group}"


class DeadLetter(TimestampedModel):
    """A message parked after its retry budget: a handler that kept failing,
    a webhook that kept refusing, or a threshold alert (calculations) that
    could not be sent. An admin inspects and replays it. `envelope` is what
    was parked: the event (handler, webhook) or the alert without its URL
    (threshold_alert)."""

    Kind = DeadLetterKind  # handler | webhook | threshold_alert (apps.messaging.types)

    class Status(models.TextChoices):
        PARKED = "parked"
        REPLAYED = "replayed"
        DISCARDED = "discarded"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PARKED)
    topic = models.CharField(max_length=200)
    group = models.CharField(max_length=100, blank=True, default="")  # consumer group (handler kind)
    subscription = models.ForeignKey(
        "Subscription", on_delete=models.CASCADE, null=True, blank=True, related_name="dead_letters"
    )
    event_id = models.UUIDField()
    envelope = models.JSONField()  # the whole event as published (decompressed)
    error = models.TextField()
    attempts = models.PositiveIntegerField()
    # The answer of the last attempt of an outbound job (webhook, threshold_alert); None without one.
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    client = models.ForeignKey("core.Client", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    replayed_at = models.DateTimeField(null=True, blank=True)
    replay_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "kind"])]


class Subscription(TimestampedModel):
    """A client's webhook: events whose topic matches `topic_pattern`
    (fnmatch style, e.g. `metric.*`) and whose tenant is the client are
    POSTed to `webhook_url`, signed with the (encrypted at rest) secret."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey("core.Client", on_delete=models.CASCADE, related_name="+")
    topic_pattern = models.CharField(max_length=200)
    webhook_url = models.URLField(max_length=1000)
    secret_encrypted = models.TextField()
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]


class WebhookDelivery(TimestampedModel):
    """One event to one subscription: attempts, outcome, last error."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"  # parked in the dead-letter store

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.UUIDField()
    topic = models.CharField(max_length=200)
    # The event as POSTed: kept with the delivery so retries, the worker that
    # picks them up and a replay after Redis trimmed the stream all send it.
    envelope = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    # When the next attempt is due (now at creation, then after each backoff or
    # postponement). A pending delivery long past it lost its task (the enqueue
    # failed at commit, say): the sweep queues it again.
    next_attempt_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["subscription", "event_id"], name="messaging_delivery_unique")]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="messaging_delivery_due",
                condition=models.Q(status="pending"),
            )
        ]


class OutboxEvent(models.Model):
    """An event published from a database transaction (`publish_on_commit`):
    written in that transaction, so it exists exactly when what it reports
    committed; relayed to its stream after the commit, and by the relay in
    `run_consumers` while Redis is away (apps/messaging/outbox.py)."""

    id = models.BigAutoField(primary_key=True)  # relay order: creation order
    event_id = models.UUIDField(unique=True)
    topic = models.CharField(max_length=200)
    envelope = models.JSONField()  # the whole envelope, as `Envelope.model_dump(mode="json")`
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)  # relay attempts that failed
    last_error = models.TextField(blank=True, default="")
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["id"], name="messaging_outbox_pending", condition=models.Q(published_at__isnull=True)),
            models.Index(
                fields=["published_at"],
                name="messaging_outbox_published",
                condition=models.Q(published_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.event_id}"
