"""`manage.py secrets_rotate` (issue #17, item 9): every registered secret
field is rewrapped under the newest KEK, legacy Fernet tokens become
envelopes, and then the old keys can go while everything still reads."""

import base64
import os
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.calculations.models import ThresholdRule
from apps.calculations.thresholds.delivery import WEBHOOK_URL_PURPOSE
from apps.core.artifacts import CONTENT_PURPOSE
from apps.core.crypto import SecretDecryptionError, secret_decrypt, secret_encrypt
from apps.core.secret_fields import secret_fields
from apps.core.tests.factories import ClientFactory
from apps.messaging.models import Subscription
from apps.messaging.tests.webhook_fixtures import subscribe
from apps.messaging.webhook_delivery import SECRET_PURPOSE
from apps.messaging.webhooks import subscription_secret

pytestmark = pytest.mark.django_db


def kek(kid: str) -> str:
    return f"{kid}:" + base64.urlsafe_b64encode(os.urandom(32)).decode()


def rotate(*args: str) -> str:
    out = StringIO()
    call_command("secrets_rotate", *args, stdout=out)
    return out.getvalue()


def rule_make(client, url: str) -> ThresholdRule:
    return ThresholdRule.objects.create(
        client=client,
        name="Retention",
        metric_code="retention_rate",
        operator="<",
        threshold=0.85,
        webhook_url_encrypted=secret_encrypt(url, purpose=WEBHOOK_URL_PURPOSE),
        webhook_host="127.0.0.1",
    )


def test_every_stored_secret_field_is_registered():
    registered = {(f.model, f.field, f.purpose) for f in secret_fields()}
    assert ("messaging.Subscription", "secret_encrypted", SECRET_PURPOSE) in registered
    assert ("calculations.ThresholdRule", "webhook_url_encrypted", WEBHOOK_URL_PURPOSE) in registered
    assert ("core.SensitiveArtifact", "content_encrypted", CONTENT_PURPOSE) in registered


def test_rotation_rewraps_everything_under_the_newest_kek_then_the_old_keys_can_go(settings):
    first, second, legacy = kek("k1"), kek("k2"), Fernet.generate_key().decode()
    settings.AE_SECRET_KEKS = [first]
    settings.AE_ENCRYPTION_KEYS = [legacy]
    client = ClientFactory(code="acme")
    subscriptions = [subscribe(client, f"http://127.0.0.1:9/hook{i}") for i in range(3)]
    old, old_secret = subscriptions[0]
    # A secret stored before envelope encryption, as today's databases hold them.
    Subscription.objects.filter(pk=old.pk).update(secret_encrypted=Fernet(legacy).encrypt(old_secret.encode()).decode())
    rule = rule_make(client, "http://127.0.0.1:9/services/SECRET")

    settings.AE_SECRET_KEKS = [second, first]  # KEK2 in front: everything still reads
    for subscription, secret in subscriptions:
        subscription.refresh_from_db()
        assert subscription_secret(subscription=subscription) == secret

    out = rotate("--batch-size", "2")  # several batches
    assert "rewrapping stored secrets under key 'k2'" in out
    assert (
        "messaging.Subscription.secret_encrypted: 2 rewrapped, 1 re-encrypted from the legacy format, "
        "0 already current, 0 changed meanwhile, 0 unreadable"
    ) in out
    assert "calculations.ThresholdRule.webhook_url_encrypted: 1 rewrapped" in out
    assert out.rstrip().endswith("4 secrets rotated, 0 unreadable")
    tokens = [*Subscription.objects.values_list("secret_encrypted", flat=True), *[rule_token(rule)]]
    assert all(token.startswith("v2:k2:") for token in tokens)

    again = rotate()  # idempotent
    assert "0 rewrapped, 0 re-encrypted from the legacy format, 3 already current" in again
    assert again.rstrip().endswith("0 secrets rotated, 0 unreadable")

    settings.AE_SECRET_KEKS = [second]  # KEK1 and the legacy keys removed
    settings.AE_ENCRYPTION_KEYS = []
    for subscription, secret in subscriptions:
        subscription.refresh_from_db()
        assert subscription_secret(subscription=subscription) == secret
    rule.refresh_from_db()
    assert secret_decrypt(rule.webhook_url_encrypted, purpose=WEBHOOK_URL_PURPOSE).endswith("/SECRET")


def rule_token(rule: ThresholdRule) -> str:
    rule.refresh_from_db()
    return rule.webhook_url_encrypted


def test_a_secret_no_key_reads_fails_the_command_and_is_left_alone(settings):
    settings.AE_SECRET_KEKS = [kek("k1")]
    client = ClientFactory(code="acme")
    subscription, _secret = subscribe(client, "http://127.0.0.1:9/hook")
    settings.AE_SECRET_KEKS = [kek("k2")]  # k1 lost before the rotation
    stored = Subscription.objects.get(pk=subscription.pk).secret_encrypted
    with pytest.raises(CommandError, match=rf"1 stored secrets could not be decrypted .*pk {subscription.pk}\)"):
        rotate()
    assert Subscription.objects.get(pk=subscription.pk).secret_encrypted == stored
    with pytest.raises(SecretDecryptionError):
        secret_decrypt(stored, purpose=SECRET_PURPOSE)


def test_a_secret_copied_into_another_field_is_reported_not_carried_on(settings):
    settings.AE_SECRET_KEKS = [kek("k1")]
    client = ClientFactory(code="acme")
    subscription, _secret = subscribe(client, "http://127.0.0.1:9/hook")
    rule = rule_make(client, "http://127.0.0.1:9/services/SECRET")
    ThresholdRule.objects.filter(pk=rule.pk).update(webhook_url_encrypted=subscription.secret_encrypted)
    settings.AE_SECRET_KEKS = [kek("k2"), *settings.AE_SECRET_KEKS]
    with pytest.raises(CommandError, match=r"calculations\.ThresholdRule\.webhook_url_encrypted pk \d+"):
        rotate()
