"""KPI threshold rules (apps/calculations/thresholds/): the API that keeps
them, and Lifecycle 1's alert: a worse period (retention below 85%) fires a
Slack-style webhook to a local receiver, once per breach (cooldown), through
the real bus consumers and the threshold alert task."""

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.calculations.models import ThresholdAlert, ThresholdRule
from apps.calculations.tests.live_fixtures import active_on, lob_of, worse_rows
from apps.calculations.tests.scenarios import retention_define, retention_rows, rows_load
from apps.calculations.thresholds.delivery import WEBHOOK_URL_PURPOSE, threshold_alert_attempt
from apps.calculations.thresholds.evaluation import thresholds_evaluate
from apps.calculations.thresholds.services import threshold_rule_create
from apps.core.crypto import secret_decrypt
from apps.core.tests.assertions import assert_error
from apps.core.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])
RULES = "/api/v1/calculations/threshold-rules/"


@pytest.fixture
def admin():
    return MembershipFactory(role="admin", is_default=True)


@pytest.fixture
def api(admin):
    client = APIClient()
    client.force_authenticate(admin.user)
    retention_define(client)
    return client


def rule_body(**overrides) -> dict:
    return {
        "name": "Retention below 85%",
        "metric": "retention_rate",
        "operator": "<",
        "threshold": 0.85,
        "webhook_url": "http://127.0.0.1:9/services/T0/B0/SECRET",
        **overrides,
    }


# --- the API -----------------------------------------------------------------------------


def test_rules_are_created_read_changed_and_deleted_and_the_url_never_shown(api, admin):
    response = api.post(RULES, rule_body(dims={"lob": "Health"}, cooldown_seconds=600), format="json")
    assert response.status_code == 201, response.content
    rule = response.json()
    assert rule["metric"] == "retention_rate" and rule["dims"] == {"lob": "Health"}
    assert rule["webhook_host"] == "127.0.0.1" and rule["cooldown_seconds"] == 600
    assert "SECRET" not in json.dumps(rule) and "webhook_url" not in rule
    stored = ThresholdRule.objects.get(pk=rule["id"])
    assert "SECRET" not in stored.webhook_url_encrypted
    assert secret_decrypt(stored.webhook_url_encrypted, purpose=WEBHOOK_URL_PURPOSE).endswith("/SECRET")

    listed = api.get(RULES, {"metric": "retention_rate"}).json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == rule["id"]
    assert api.get(RULES, {"metric": "end_count"}).json()["count"] == 0

    changed = api.patch(f"{RULES}{rule['id']}/", {"threshold": 0.8, "enabled": False}, format="json")
    assert changed.status_code == 200, changed.content
    assert (changed.json()["threshold"], changed.json()["enabled"]) == (0.8, False)
    assert api.get(f"{RULES}{rule['id']}").json()["threshold"] == 0.8  # without the slash too

    assert api.delete(f"{RULES}{rule['id']}/").status_code == 204
    assert_error(api.get(f"{RULES}{rule['id']}/"), 404, "not_found")


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"metric": "churn"}, "metric", "unknown_metric"),
        ({"operator": "=="}, "operator", "invalid"),
        ({"threshold": "high"}, "threshold", "invalid"),
        ({"webhook_url": "ftp://hooks.example.com/x"}, "webhook_url", "invalid_webhook_url"),
        ({"webhook_url": "https://user:pw@hooks.example.com/x"}, "webhook_url", "invalid_webhook_url"),
        ({"dims": {"region": "EU"}}, "dims", "invalid"),
        ({"dims": {"lob": ["Health"]}}, "dims", "invalid"),
        ({"message": "{metric} fell to {valeu}"}, "message", "invalid_message_template"),
        ({"message": "a stray { brace"}, "message", "invalid_message_template"),
        ({"cooldown_seconds": -1}, "cooldown_seconds", "invalid"),
        ({"colour": "red"}, "colour", "invalid"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, overrides, field, code):
    body = assert_error(api.post(RULES, rule_body(**overrides), format="json"), 400)
    assert body["code"] == code, body
    assert field in body["details"], body
    assert not ThresholdRule.objects.exists()


def test_private_destinations_follow_the_webhook_rule(api, settings):
    settings.MESSAGING_WEBHOOK_ALLOW_PRIVATE = False
    body = assert_error(api.post(RULES, rule_body(webhook_url="http://127.0.0.1:8080/hook"), format="json"), 400)
    assert body["code"] == "invalid_webhook_url" and "loopback" in body["message"]
    body = assert_error(api.post(RULES, rule_body(webhook_url="http://localhost/hook"), format="json"), 400)
    assert body["code"] == "invalid_webhook_url"


def test_members_read_admins_write_other_clients_do_not_see(api, admin):
    rule = api.post(RULES, rule_body(), format="json").json()
    viewer = MembershipFactory(client=admin.client, role="viewer")
    as_viewer = APIClient()
    as_viewer.force_authenticate(viewer.user)
    assert as_viewer.get(f"{RULES}{rule['id']}/").status_code == 200
    assert as_viewer.post(RULES, rule_body(), format="json").status_code == 403
    assert as_viewer.patch(f"{RULES}{rule['id']}/", {"threshold": 1}, format="json").status_code == 403

    stranger = APIClient()
    stranger.force_authenticate(MembershipFactory(role="admin", is_default=True).user)
    assert stranger.get(f"{RULES}{rule['id']}/").status_code == 404
    assert stranger.get(RULES).json()["count"] == 0
    assert APIClient().get(RULES).status_code == 401


# --- evaluation and sending ------------------------------------------------------------


def test_lifecycle_1_a_worse_period_fires_one_slack_alert_per_breach(
    api,
    admin,
    slack,
    make_worker,
    eager_celery,
):
    rule = api.post(
        RULES,
        rule_body(webhook_url=slack.url, message="{rule}: {metric} {value_percent} on {bucket} (below {threshold})"),
        format="json",
    ).json()
    live, thresholds = make_worker("calculations.live"), make_worker("calculations.thresholds")

    def load(rows) -> None:
        rows_load(api, "policy_snapshot", rows)
        assert live.drain() == 1  # recalculation (eager task): history + metric.calculated events
        thresholds.drain()  # each point against the rules; alerts sent after commit (eager task)

    # A good period: 90% retention, nothing fires.
    good = retention_rows()
    load(good)
    assert slack.messages == [] and slack.answers == []

    # A worse one: 80% of yesterday's policies still active -> retention 0.8 < 0.85.
    worse = worse_rows(previous_active=active_on(good, "2026-03-31"), day="2026-04-01", kept=0.8, lob_of=lob_of)
    load(worse)
    (message,) = slack.wait_for(1)
    assert message.path == "/services/T000/B000/XXXXSECRET" and message.content_type == "application/json"
    assert message.body == {
        "text": "Retention below 85%: retention_rate 80.0% on 2026-04-01T00:00:00+00:00 (below 0.85)"
    }
    (alert,) = api.get(f"{RULES}{rule['id']}/alerts/").json()["results"]
    assert (alert["status"], alert["attempts"], alert["last_status_code"]) == ("sent", 1, 200)
    assert alert["value"] == pytest.approx(0.8) and alert["dims"] == {}
    assert api.get(f"{RULES}{rule['id']}/").json()["last_fired_at"] is not None

    # Still breached the next day, within the cooldown (1 h by default): no second alert.
    still = worse_rows(previous_active=active_on(worse, "2026-04-01"), day="2026-04-02", kept=0.8, lob_of=lob_of)
    load(still)
    assert len(slack.messages) == 1
    assert ThresholdAlert.objects.filter(rule_id=rule["id"]).count() == 1

    # Once the cooldown has passed, a new breach fires again.
    ThresholdRule.objects.filter(pk=rule["id"]).update(last_fired_at=timezone.now() - timedelta(hours=2))
    again = worse_rows(previous_active=active_on(still, "2026-04-02"), day="2026-04-03", kept=0.8, lob_of=lob_of)
    load(again)
    assert len(slack.wait_for(2)) == 2 and "2026-04-03" in slack.messages[1].body["text"]


def test_a_rule_on_a_breakdown_fires_on_that_breakdown_only(admin, api, slack, eager_celery):
    threshold_rule_create(
        client_id=admin.client_id, name="Motor", metric="retention_rate", operator="<=", threshold=0.5,
        webhook_url=slack.url, dims={"lob": "Motor"},
    )  # fmt: skip

    def point(value, dims) -> list:
        return thresholds_evaluate(
            client_id=admin.client_id, event_id=uuid.uuid4(), metric="retention_rate", value=value,
            dims=dims, bucket=timezone.now(), unit="ratio",
        )  # fmt: skip

    assert point(0.1, {}) == []  # the whole: not this rule's
    assert point(0.1, {"lob": "Health"}) == []
    assert point(0.6, {"lob": "Motor"}) == []  # not breached
    assert point(None, {"lob": "Motor"}) == []  # no value: never a breach
    (fired,) = point(0.5, {"lob": "Motor"})  # <= 0.5
    alert = ThresholdAlert.objects.get(pk=fired)
    assert "(lob=Motor)" in alert.text and "retention_rate is 0.5 (<= 0.5)" in alert.text


def test_sending_retries_failures_that_may_heal_and_gives_up_on_the_others(admin, api, slack, settings):
    settings.AE_THRESHOLD_ALERT_MAX_ATTEMPTS = 3
    rule = threshold_rule_create(
        client_id=admin.client_id, name="R", metric="retention_rate", operator="<", threshold=1, webhook_url=slack.url
    )

    def alert() -> ThresholdAlert:
        return ThresholdAlert.objects.create(
            rule=rule, event_id=uuid.uuid4(), metric_code="retention_rate", value=0.5, text="low"
        )

    # 503, then 429, then delivered.
    slack.fail_with = [503, 429]
    first = alert()
    outcomes = [threshold_alert_attempt(alert_id=first.pk) for _ in range(3)]
    assert [o.status for o in outcomes] == ["retry", "retry", "sent"]
    assert all(o.retry_in > 0 for o in outcomes[:2])
    first.refresh_from_db()
    assert (first.status, first.attempts, first.sent_at is not None) == ("sent", 3, True)
    assert [m.body for m in slack.messages] == [{"text": "low"}]
    assert threshold_alert_attempt(alert_id=first.pk).status == "skipped"  # sent already: never twice

    # Always 500: given up after the attempts allowed.
    slack.fail_with = [500, 500, 500]
    second = alert()
    assert [threshold_alert_attempt(alert_id=second.pk).status for _ in range(3)] == ["retry", "retry", "failed"]
    second.refresh_from_db()
    assert second.status == "failed" and "after 3 attempts" in second.last_error and second.last_status_code == 500

    # Slack's "no_service" (404): the URL is wrong, retrying will not help.
    slack.fail_with = [404]
    third = alert()
    assert threshold_alert_attempt(alert_id=third.pk).status == "failed"
    third.refresh_from_db()
    assert (third.attempts, third.last_status_code) == (1, 404)


def test_alerts_go_through_messagings_outbound_delivery_unsigned(admin, api, slack, settings):
    """The routine webhook deliveries use: Retry-After is honoured, and the
    private-address rule is checked again at every attempt."""
    rule = threshold_rule_create(
        client_id=admin.client_id, name="R", metric="retention_rate", operator="<", threshold=1, webhook_url=slack.url
    )
    first = ThresholdAlert.objects.create(rule=rule, event_id=uuid.uuid4(), metric_code="retention_rate", value=0.5,
                                          text="low")  # fmt: skip
    slack.fail_with, slack.retry_after = [429], 120
    outcome = threshold_alert_attempt(alert_id=first.pk)
    assert (outcome.status, outcome.status_code) == ("retry", 429) and outcome.retry_in >= 120
    assert threshold_alert_attempt(alert_id=first.pk).status == "sent"
    (headers, _) = slack.headers
    assert headers["User-Agent"] == "AnalyticsEngine-Alerts/1.0"
    assert not any(name.lower().startswith("x-ae-") for name in headers)  # unsigned: the URL is the secret

    settings.MESSAGING_WEBHOOK_ALLOW_PRIVATE = False  # 127.0.0.1 is refused now
    second = ThresholdAlert.objects.create(rule=rule, event_id=uuid.uuid4(), metric_code="retention_rate", value=0.5,
                                           text="low")  # fmt: skip
    assert threshold_alert_attempt(alert_id=second.pk).status == "failed"
    second.refresh_from_db()
    assert second.status == "failed" and "private networks are refused" in second.last_error
    assert len(slack.answers) == 2  # never sent


def test_disabled_rules_do_not_fire(admin, api):
    threshold_rule_create(
        client_id=admin.client_id, name="Off", metric="retention_rate", operator="<", threshold=1,
        webhook_url="http://127.0.0.1:9/x", enabled=False,
    )  # fmt: skip
    fired = thresholds_evaluate(
        client_id=admin.client_id, event_id=uuid.uuid4(), metric="retention_rate", value=0.1, dims={},
        bucket=None,
    )  # fmt: skip
    assert fired == []


def test_the_admin_saves_rules_through_the_services(admin, api, client):
    from django.contrib.auth import get_user_model

    staff = get_user_model().objects.create_superuser("root", "root@example.com", "pass-word-123")
    client.force_login(staff)
    add = "/admin/calculations/thresholdrule/add/"
    assert client.get(add).status_code == 200
    form = {
        "client": admin.client_id, "name": "From the admin", "metric_code": "retention_rate", "dims": "{}",
        "operator": "<", "threshold": "0.85", "message": "", "enabled": "on", "cooldown": "01:00:00",
        "webhook_url": "ftp://nope",
        "alerts-TOTAL_FORMS": "0", "alerts-INITIAL_FORMS": "0",
        "alerts-MIN_NUM_FORMS": "0", "alerts-MAX_NUM_FORMS": "0",
    }  # fmt: skip
    refused = client.post(add, form)
    assert refused.status_code == 200 and "http:// or https://" in refused.content.decode()
    refused = client.post(add, {**form, "webhook_url": "http://127.0.0.1:9/x", "metric_code": "churn"})
    assert refused.status_code == 200 and "no metric" in refused.content.decode()
    assert client.post(add, {**form, "webhook_url": "http://127.0.0.1:9/services/SECRET"}).status_code == 302
    rule = ThresholdRule.objects.get(name="From the admin")
    assert rule.webhook_host == "127.0.0.1"
    assert secret_decrypt(rule.webhook_url_encrypted, purpose=WEBHOOK_URL_PURPOSE).endswith("/SECRET")

    change = f"/admin/calculations/thresholdrule/{rule.pk}/change/"
    page = client.get(change)
    assert page.status_code == 200 and "SECRET" not in page.content.decode()
    # An empty URL keeps the current one.
    assert client.post(change, {**form, "threshold": "0.8", "webhook_url": ""}).status_code == 302
    rule.refresh_from_db()
    assert rule.threshold == 0.8
    assert secret_decrypt(rule.webhook_url_encrypted, purpose=WEBHOOK_URL_PURPOSE).endswith("/SECRET")
