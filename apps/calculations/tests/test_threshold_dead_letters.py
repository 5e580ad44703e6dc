"""A threshold alert that fails for good ends as messaging's dead letter
(kind threshold_alert), like a webhook delivery: listed for its client only
over the dead-letter API, without the webhook URL; replaying it sends it
again to the (local, Slack-style) receiver; discarding it gives up."""

import json
import uuid

import pytest
from rest_framework.test import APIClient

from apps.calculations.models import ThresholdAlert
from apps.calculations.tests.scenarios import retention_define
from apps.calculations.thresholds.delivery import threshold_alert_attempt
from apps.calculations.thresholds.services import threshold_rule_create
from apps.core.tests.assertions import assert_error
from apps.core.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])
DEAD_LETTERS = "/api/v1/messaging/dead-letters/"


@pytest.fixture
def admin():
    return MembershipFactory(role="admin", is_default=True)


@pytest.fixture
def api(admin):
    client = APIClient()
    client.force_authenticate(admin.user)
    retention_define(client)
    return client


@pytest.fixture
def rule(admin, api, slack):
    return threshold_rule_create(
        client_id=admin.client_id, name="Retention low", metric="retention_rate", operator="<", threshold=0.85,
        webhook_url=slack.url, dims={"lob": "Health"},
    )  # fmt: skip


def failed_alert(rule, slack, *answers: int) -> ThresholdAlert:
    """An alert of `rule` sent until it fails for good, the receiver answering `answers`."""
    alert = ThresholdAlert.objects.create(
        rule=rule, event_id=uuid.uuid4(), metric_code="retention_rate", dims={"lob": "Health"}, value=0.8,
        text="Retention low: 80.0%",
    )  # fmt: skip
    slack.fail_with = list(answers)
    outcomes = [threshold_alert_attempt(alert_id=alert.pk).status for _ in answers]
    assert outcomes[-1] == "failed"
    alert.refresh_from_db()
    return alert


def parked_alerts(api) -> list[dict]:
    response = api.get(DEAD_LETTERS, {"kind": "threshold_alert"})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_an_alert_refused_with_a_4xx_fails_and_is_parked_without_its_url(api, rule, slack):
    alert = failed_alert(rule, slack, 404)  # Slack's no_service: fails at once

    assert (alert.status, alert.attempts, alert.last_status_code) == ("failed", 1, 404)  # the alert log as before
    (dead,) = parked_alerts(api)
    assert dead["kind"] == "threshold_alert" and dead["status"] == "parked"
    assert (dead["topic"], dead["group"], dead["event_id"]) == (
        "metric.calculated", "calculations.thresholds", str(alert.event_id),
    )  # fmt: skip
    assert (dead["attempts"], dead["last_status_code"]) == (1, 404)
    assert dead["error"] == alert.last_error and dead["error"].startswith("HTTP 404")
    assert dead["subscription"] is None
    assert dead["envelope"] == {
        "alert_id": alert.pk,
        "rule_id": rule.pk,
        "rule": "Retention low",
        "metric": "retention_rate",
        "dims": {"lob": "Health"},
        "bucket": None,
        "value": 0.8,
        "text": "Retention low: 80.0%",
        "webhook_host": "127.0.0.1",
    }
    shown = json.dumps(dead) + api.get(f"{DEAD_LETTERS}{dead['id']}/").content.decode()
    assert "XXXXSECRET" not in shown and "/services/" not in shown  # the URL is the destination's secret


def test_an_alert_that_keeps_failing_is_parked_once_after_its_attempts(api, rule, slack, settings):
    settings.AE_THRESHOLD_ALERT_MAX_ATTEMPTS = 2
    alert = failed_alert(rule, slack, 503, 500)
    (dead,) = parked_alerts(api)
    assert (dead["attempts"], dead["last_status_code"], dead["envelope"]["alert_id"]) == (2, 500, alert.pk)
    assert "after 2 attempts" in dead["error"]
    assert slack.messages == []


def test_replaying_sends_the_alert_again(api, rule, slack, eager_celery):
    alert = failed_alert(rule, slack, 400)
    (dead,) = parked_alerts(api)

    response = api.post(f"{DEAD_LETTERS}{dead['id']}/replay/")  # the send task runs after commit (eager here)
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["replay_count"]) == ("replayed", 1)
    (message,) = slack.wait_for(1)
    assert message.body == {"text": "Retention low: 80.0%"}
    alert.refresh_from_db()
    assert (alert.status, alert.attempts, alert.last_status_code, alert.last_error) == ("sent", 1, 200, "")
    assert_error(api.post(f"{DEAD_LETTERS}{dead['id']}/replay/"), 409, "not_parked")
    assert [d["status"] for d in parked_alerts(api)] == ["replayed"]


def test_a_replay_that_fails_again_parks_the_alert_anew(api, rule, slack, eager_celery):
    failed_alert(rule, slack, 404)
    (first,) = parked_alerts(api)
    slack.fail_with = [410]  # channel_is_archived
    assert api.post(f"{DEAD_LETTERS}{first['id']}/replay/").status_code == 200
    again, replayed = parked_alerts(api)  # newest first
    assert (replayed["id"], replayed["status"]) == (first["id"], "replayed")
    assert (again["status"], again["last_status_code"], again["attempts"]) == ("parked", 410, 1)
    assert again["envelope"] == first["envelope"]
    assert ThresholdAlert.objects.get(pk=first["envelope"]["alert_id"]).status == "failed"


def test_discarding_gives_up_and_the_alert_stays_failed(api, rule, slack):
    alert = failed_alert(rule, slack, 404)
    (dead,) = parked_alerts(api)
    response = api.post(f"{DEAD_LETTERS}{dead['id']}/discard/")
    assert response.status_code == 200 and response.json()["status"] == "discarded"
    assert_error(api.post(f"{DEAD_LETTERS}{dead['id']}/replay/"), 409, "not_parked")
    alert.refresh_from_db()
    assert alert.status == "failed" and slack.messages == []


def test_a_client_sees_and_replays_only_its_own(api, rule, slack):
    failed_alert(rule, slack, 404)
    (dead,) = parked_alerts(api)
    other = APIClient()
    other.force_authenticate(MembershipFactory(role="admin", is_default=True).user)
    assert other.get(DEAD_LETTERS, {"kind": "threshold_alert"}).json()["count"] == 0
    for method, suffix in (("get", ""), ("post", "replay/"), ("post", "discard/")):
        assert_error(getattr(other, method)(f"{DEAD_LETTERS}{dead['id']}/{suffix}"), 404, "not_found")
    assert [d["status"] for d in parked_alerts(api)] == ["parked"]


def test_an_alert_whose_rule_was_deleted_cannot_be_replayed(api, rule, slack):
    failed_alert(rule, slack, 404)
    (dead,) = parked_alerts(api)
    rule.delete()  # with its alerts; the dead letter stays
    assert_error(api.post(f"{DEAD_LETTERS}{dead['id']}/replay/"), 409, "not_replayable")
    assert [d["status"] for d in parked_alerts(api)] == ["parked"]
    assert api.post(f"{DEAD_LETTERS}{dead['id']}/discard/").json()["status"] == "discarded"
