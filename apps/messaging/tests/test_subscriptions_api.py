"""The webhook subscription API and admin: tenant scoping, roles, the secret
shown once, input errors that name the problem."""

import pytest

from apps.core.crypto import secret_decrypt
from apps.core.tests.factories import MembershipFactory
from apps.messaging.models import Subscription, WebhookDelivery
from apps.messaging.types import Envelope
from apps.messaging.webhook_delivery import SECRET_PURPOSE
from apps.messaging.webhooks import webhook_deliveries_create

pytestmark = pytest.mark.django_db
URL = "/api/v1/messaging/subscriptions/"
HOOK = "https://93.184.215.14/hooks/ae"  # a public address: no DNS, nothing is sent in these tests


@pytest.fixture(autouse=True)
def _strict_destinations(settings):
    settings.MESSAGING_WEBHOOK_ALLOW_PRIVATE = False


@pytest.fixture
def admin_member(db):
    return MembershipFactory(role="admin", is_default=True)


@pytest.fixture
def admin_api(api_client, admin_member):
    api_client.force_authenticate(admin_member.user)
    return api_client


def _member_api(role, client):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(MembershipFactory(role=role, client=client, is_default=True).user)
    return api


def _create(api, **overrides):
    response = api.post(URL, {"topic_pattern": "metric.*", "webhook_url": HOOK, **overrides}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_subscribe_returns_the_secret_once(admin_api, admin_member):
    body = _create(admin_api, description="KPI feed")
    assert body["secret"].startswith("whsec_")
    assert body["topic_pattern"] == "metric.*" and body["webhook_url"] == HOOK
    assert body["active"] is True and body["description"] == "KPI feed"
    assert body["created_by"] == admin_member.user.username

    stored = Subscription.objects.get(pk=body["id"])
    assert stored.client_id == admin_member.client_id
    assert body["secret"] not in stored.secret_encrypted
    assert secret_decrypt(stored.secret_encrypted, purpose=SECRET_PURPOSE) == body["secret"]

    detail = admin_api.get(f"{URL}{body['id']}")  # no trailing slash
    assert detail.status_code == 200 and "secret" not in detail.json()
    listing = admin_api.get(URL).json()
    assert listing["count"] == 1 and "secret" not in listing["results"][0]
    patched = admin_api.patch(f"{URL}{body['id']}/", {"secret": "a new secret of mine"}, format="json")
    assert patched.status_code == 200 and "secret" not in patched.json()
    assert "a new secret of mine" not in patched.content.decode()
    stored.refresh_from_db()
    assert secret_decrypt(stored.secret_encrypted, purpose=SECRET_PURPOSE) == "a new secret of mine"


def test_a_given_secret_is_kept(admin_api):
    body = _create(admin_api, secret="sixteen-chars-plus")
    assert body["secret"] == "sixteen-chars-plus"
    short = admin_api.post(URL, {"topic_pattern": "a.*", "webhook_url": HOOK, "secret": "short"}, format="json")
    assert short.status_code == 400 and short.json()["error"]["code"] == "invalid_secret"


def test_members_read_and_only_admins_write(admin_api, admin_member):
    body = _create(admin_api)
    item = f"{URL}{body['id']}/"
    for role in ("analyst", "viewer"):
        member = _member_api(role, admin_member.client)
        assert member.get(URL).json()["count"] == 1
        assert member.get(item).status_code == 200
        assert member.get(item + "deliveries/").status_code == 200
        denied = member.post(URL, {"topic_pattern": "metric.*", "webhook_url": HOOK + "2"}, format="json")
        assert denied.status_code == 403
        assert "administrators" in denied.json()["error"]["message"]
        assert member.patch(item, {"active": False}, format="json").status_code == 403
        assert member.delete(item).status_code == 403
    assert Subscription.objects.get(pk=body["id"]).active


def test_anonymous_is_401(api_client):
    assert api_client.get(URL).status_code == 401


def test_another_clients_subscription_is_not_found(admin_api):
    theirs = _create(_member_api("admin", MembershipFactory().client))
    item = f"{URL}{theirs['id']}/"
    assert admin_api.get(URL).json()["count"] == 0
    for response in (
        admin_api.get(item),
        admin_api.patch(item, {"active": False}, format="json"),
        admin_api.delete(item),
        admin_api.get(item + "deliveries/"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert Subscription.objects.get(pk=theirs["id"]).active
    assert admin_api.get(f"{URL}not-a-uuid/").status_code == 404


@pytest.mark.parametrize(
    ("payload", "field", "says"),
    [
        ({"webhook_url": "https://user:pw@93.184.215.14/h"}, "webhook_url", "must not contain credentials"),
        ({"webhook_url": "ftp://93.184.215.14/h"}, "webhook_url", "http:// or https://"),
        ({"webhook_url": "http://localhost:8000/h"}, "webhook_url", "localhost resolves to"),
        ({"webhook_url": "http://10.0.0.5/h"}, "webhook_url", "private address"),
        ({"webhook_url": "http://169.254.169.254/"}, "webhook_url", "link-local address"),
        ({"topic_pattern": "metric calculated"}, "topic_pattern", "'metric calculated'"),
        ({"topic_pattern": "commands.*"}, "topic_pattern", "Commands"),
    ],
)
def test_bad_urls_and_patterns_are_400_naming_the_problem(admin_api, payload, field, says):
    response = admin_api.post(URL, {"topic_pattern": "metric.*", "webhook_url": HOOK, **payload}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert says in error["message"] and field in error["details"]
    assert not Subscription.objects.exists()


def test_missing_fields_are_400(admin_api):
    response = admin_api.post(URL, {"webhook_url": HOOK}, format="json")
    assert response.status_code == 400 and "topic_pattern" in response.json()["error"]["details"]
    assert admin_api.post(URL, ["not", "an", "object"], format="json").status_code == 400


def test_the_same_pattern_to_the_same_url_twice_is_a_conflict(admin_api):
    _create(admin_api)
    again = admin_api.post(URL, {"topic_pattern": "metric.*", "webhook_url": HOOK}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "duplicate_subscription"


def test_pause_change_and_unsubscribe(admin_api):
    body = _create(admin_api)
    item = f"{URL}{body['id']}/"
    paused = admin_api.patch(item, {"active": False, "topic_pattern": "metric.calculated"}, format="json")
    assert paused.status_code == 200
    assert paused.json()["active"] is False and paused.json()["topic_pattern"] == "metric.calculated"
    bad = admin_api.patch(item, {"webhook_url": "http://127.0.0.1/"}, format="json")
    assert bad.status_code == 400 and "loopback" in bad.json()["error"]["message"]
    assert Subscription.objects.get(pk=body["id"]).webhook_url == HOOK
    assert admin_api.put(item, {"topic_pattern": "x.*"}, format="json").status_code == 405

    assert admin_api.delete(item).status_code == 204
    assert admin_api.get(item).status_code == 404
    assert not Subscription.objects.exists()


def test_deliveries_of_a_subscription(admin_api, admin_member, django_capture_on_commit_callbacks):
    body = _create(admin_api)
    code = admin_member.client.code
    with django_capture_on_commit_callbacks(execute=False):  # recorded, not sent
        for value in range(3):
            envelope = Envelope(type="metric.calculated", topic="metric.calculated", tenant=code, payload={"v": value})
            webhook_deliveries_create(envelope=envelope)
    WebhookDelivery.objects.filter(pk=WebhookDelivery.objects.order_by("pk").first().pk).update(
        status="failed", attempts=12, last_status_code=503, last_error="HTTP 503"
    )

    listing = admin_api.get(f"{URL}{body['id']}/deliveries/").json()
    assert listing["count"] == 3
    assert {d["status"] for d in listing["results"]} == {"pending", "failed"}
    failed = admin_api.get(f"{URL}{body['id']}/deliveries?status=failed").json()
    assert failed["count"] == 1
    (row,) = failed["results"]
    assert (row["attempts"], row["last_status_code"], row["last_error"]) == (12, 503, "HTTP 503")
    assert row["topic"] == "metric.calculated" and "envelope" not in row
    unknown = admin_api.get(f"{URL}{body['id']}/deliveries/?status=lost")
    assert unknown.status_code == 400 and "pending, delivered, failed" in unknown.json()["error"]["message"]


# --- Admin ----------------------------------------------------------------------------------


def test_admin_creates_a_subscription_through_the_service_and_shows_the_secret_once(admin_client):
    client = MembershipFactory().client
    form = {"client": client.pk, "topic_pattern": "metric.*", "webhook_url": HOOK, "active": "on", "description": ""}
    response = admin_client.post("/admin/messaging/subscription/add/", form, follow=True)
    assert response.status_code == 200
    subscription = Subscription.objects.get()
    secret = secret_decrypt(subscription.secret_encrypted, purpose=SECRET_PURPOSE)
    assert secret.startswith("whsec_")
    assert secret in response.content.decode()  # the one time it is shown

    change = f"/admin/messaging/subscription/{subscription.pk}/change/"
    page = admin_client.get(change).content.decode()
    assert secret not in page and subscription.secret_encrypted not in page
    assert "0 pending, 0 delivered, 0 failed" in page

    edited = admin_client.post(change, {**form, "topic_pattern": "metric.calculated", "active": ""})
    assert edited.status_code == 302, edited.content.decode()[:2000]
    subscription.refresh_from_db()
    assert (subscription.topic_pattern, subscription.active) == ("metric.calculated", False)
    assert secret_decrypt(subscription.secret_encrypted, purpose=SECRET_PURPOSE) == secret  # left empty: kept


def test_admin_form_shows_the_url_rule(admin_client):
    client = MembershipFactory().client
    form = {"client": client.pk, "topic_pattern": "metric.*", "webhook_url": "http://10.1.1.1/h", "active": "on"}
    response = admin_client.post("/admin/messaging/subscription/add/", form)
    assert response.status_code == 200
    assert "private address" in response.content.decode()
    assert not Subscription.objects.exists()


def test_admin_lists_deliveries_read_only(admin_client, admin_member, django_capture_on_commit_callbacks):
    from apps.messaging.webhooks import subscription_create

    subscription_create(client_id=admin_member.client_id, topic_pattern="metric.*", webhook_url=HOOK)
    with django_capture_on_commit_callbacks(execute=False):
        (delivery_id,) = webhook_deliveries_create(
            envelope=Envelope(
                type="metric.calculated", topic="metric.calculated", tenant=admin_member.client.code, payload={}
            )
        )
    subscription = Subscription.objects.get()
    listing = admin_client.get(f"/admin/messaging/webhookdelivery/?subscription={subscription.pk}")
    assert listing.status_code == 200 and "metric.calculated" in listing.content.decode()
    assert "1 pending" in admin_client.get(f"/admin/messaging/subscription/{subscription.pk}/change/").content.decode()
    assert admin_client.get("/admin/messaging/webhookdelivery/add/").status_code == 403
    detail = admin_client.get(f"/admin/messaging/webhookdelivery/{delivery_id}/change/")
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
