"""The event bus API and admin pages."""

import uuid

import pytest
from pydantic import BaseModel

from apps.core.models import Client
from apps.core.tests.assertions import assert_error
from apps.core.tests.factories import ClientFactory, MembershipFactory
from apps.messaging.bus import bus_connection, envelope_decode, stream_key
from apps.messaging.models import DeadLetter, ProcessedEvent
from apps.messaging.schemas import register_schema, unregister_schema
from apps.messaging.services import handler
from apps.messaging.tests.bus_fixtures import free_port
from apps.messaging.types import Envelope

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("bus_prefix", "isolated_handlers")]

EVENTS = "/api/v1/messaging/events/"
DEAD_LETTERS = "/api/v1/messaging/dead-letters/"


@pytest.fixture
def admin_member(db):
    return MembershipFactory(role="admin", is_default=True, client=ClientFactory(code="acme"))


@pytest.fixture
def admin_api(api_client, admin_member):
    api_client.force_authenticate(admin_member.user)
    return api_client


@pytest.fixture
def analyst_api(api_client, admin_member):
    analyst = MembershipFactory(role="analyst", is_default=True, client=admin_member.client)
    api_client.force_authenticate(analyst.user)
    return api_client


def stream(topic: str) -> list[Envelope]:
    return [envelope_decode(fields) for _, fields in bus_connection().xrange(stream_key(topic))]


def test_a_client_admin_publishes_an_event_for_the_client(admin_api, admin_member):
    response = admin_api.post(
        EVENTS,
        {"topic": "orders.created", "type": "OrderCreated", "payload": {"order": 1}, "metadata": {"channel": "web"}},
        format="json",
        HTTP_X_CORRELATION_ID="corr-42",
    )
    assert response.status_code == 202, response.content
    body = response.json()
    [envelope] = stream("orders.created")
    assert body == {"event_id": str(envelope.event_id), "topic": "orders.created", "type": "OrderCreated",
                    "correlation_id": "corr-42"}  # fmt: skip
    assert envelope.tenant == "acme"  # the caller's client, never the body's say
    assert envelope.payload == {"order": 1}
    assert envelope.version == 1
    assert envelope.correlation_id == "corr-42"
    assert envelope.metadata == {"channel": "web", "source": "api", "published_by": admin_member.user.username}


def test_the_trailing_slash_is_optional(admin_api):
    response = admin_api.post(EVENTS.rstrip("/"), {"topic": "a.b", "type": "a.b", "payload": {}}, format="json")
    assert response.status_code == 202
    response = admin_api.post("/api/v1/messaging/commands/recalculate", {"payload": {}}, format="json")
    assert response.status_code == 202


def test_publishing_needs_a_client_admin(analyst_api, api_client):
    body = {"topic": "orders.created", "type": "x", "payload": {}}
    assert_error(analyst_api.post(EVENTS, body, format="json"), 403, "permission_denied")
    api_client.force_authenticate(None)
    assert api_client.post(EVENTS, body, format="json").status_code == 401
    assert stream("orders.created") == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"topic": "Orders Created", "type": "x", "payload": {}}, "invalid_topic"),
        ({"topic": "commands.recalculate", "type": "x", "payload": {}}, "reserved_topic"),
        ({"topic": "archival.events", "type": "x", "payload": {}}, "reserved_topic"),
        ({"topic": "orders.created", "type": "x"}, "invalid"),
        ({"topic": "orders.created", "type": "x", "payload": [1, 2]}, "invalid"),
        ({"topic": "orders.created", "payload": {}}, "invalid"),
        ({"topic": "orders.created", "type": "x", "payload": {}, "version": 0}, "invalid"),
    ],
)
def test_bad_events_are_refused_with_a_reason(admin_api, body, code):
    error = assert_error(admin_api.post(EVENTS, body, format="json"), 400, code)
    assert error["message"]


def test_payloads_are_validated_by_their_registered_schema(admin_api):
    class Shipment(BaseModel):
        parcels: int

    register_schema("shipment.sent", 2, Shipment)
    try:
        bad = {"topic": "shipment.sent", "type": "shipment.sent", "version": 2, "payload": {"parcels": "many"}}
        error = assert_error(admin_api.post(EVENTS, bad, format="json"), 400, "invalid_payload")
        assert error["details"]["errors"][0]["loc"] == "parcels"
        good = {**bad, "payload": {"parcels": "3"}}
        assert admin_api.post(EVENTS, good, format="json").status_code == 202
        assert stream("shipment.sent")[0].payload == {"parcels": 3}
    finally:
        unregister_schema("shipment.sent", 2)


def test_an_unreachable_bus_answers_503(admin_api, settings):
    settings.MESSAGING_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.MESSAGING_PUBLISH_RETRY_SECONDS = 0.3
    response = admin_api.post(EVENTS, {"topic": "orders.created", "type": "x", "payload": {}}, format="json")
    assert_error(response, 503, "bus_unavailable")


def test_a_client_admin_publishes_a_command(admin_api):
    response = admin_api.post("/api/v1/messaging/commands/recalculate/", {"payload": {"metric": "m"}}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["topic"] == "commands.recalculate"
    [envelope] = stream("commands.recalculate")
    assert (envelope.type, envelope.tenant, envelope.payload) == ("recalculate", "acme", {"metric": "m"})
    bad = admin_api.post("/api/v1/messaging/commands/Re-Calc/", {"payload": {}}, format="json")
    assert_error(bad, 400, "invalid_topic")


def dead_letter(client, **fields) -> DeadLetter:
    envelope = Envelope(topic="orders.created", type="orders.created", payload={"code": "replayed"},
                        tenant=client.code if client else None)  # fmt: skip
    values = {
        "kind": "handler", "topic": envelope.topic, "group": "billing", "event_id": envelope.event_id,
        "envelope": envelope.model_dump(mode="json"), "error": "ValueError: boom", "attempts": 3, "client": client,
        **fields,
    }  # fmt: skip
    return DeadLetter.objects.create(**values)


def test_dead_letters_are_listed_for_the_callers_client_only(analyst_api, admin_member):
    mine = [dead_letter(admin_member.client) for _ in range(3)]
    dead_letter(admin_member.client, status="discarded")
    dead_letter(ClientFactory())
    dead_letter(None)

    body = analyst_api.get(DEAD_LETTERS, {"page_size": 2}).json()  # any member reads
    assert body["count"] == 4
    assert len(body["results"]) == 2
    assert body["next"] and body["previous"] is None
    parked = analyst_api.get(DEAD_LETTERS, {"status": "parked"}).json()
    assert {r["id"] for r in parked["results"]} == {d.pk for d in mine}
    first = parked["results"][0]
    assert first["envelope"]["payload"] == {"code": "replayed"}
    assert first["error"] == "ValueError: boom"
    assert_error(analyst_api.get(DEAD_LETTERS, {"status": "lost"}), 400, "invalid_filter")


def test_another_clients_dead_letter_is_not_found(admin_api):
    theirs = dead_letter(ClientFactory())
    for method, suffix in (("get", ""), ("post", "replay/"), ("post", "discard/")):
        response = getattr(admin_api, method)(f"{DEAD_LETTERS}{theirs.pk}/{suffix}")
        assert_error(response, 404, "not_found")
    assert_error(admin_api.get(f"{DEAD_LETTERS}abc/"), 404, "not_found")
    theirs.refresh_from_db()
    assert theirs.status == "parked"


def test_replay_and_discard_through_the_api(admin_api, analyst_api, admin_member):
    applied = []

    @handler("orders.created", group="billing")
    def bill(envelope: Envelope) -> None:
        applied.append(envelope.event_id)
        Client.objects.create(code=envelope.payload["code"], name="Replayed")

    parked, other = dead_letter(admin_member.client), dead_letter(admin_member.client)
    assert_error(analyst_api.post(f"{DEAD_LETTERS}{parked.pk}/replay/"), 403, "permission_denied")

    admin_api.force_authenticate(admin_member.user)
    response = admin_api.post(f"{DEAD_LETTERS}{parked.pk}/replay")
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["replay_count"]) == ("replayed", 1)
    assert applied == [parked.event_id]
    assert Client.objects.filter(code="replayed").count() == 1
    assert ProcessedEvent.objects.filter(event_id=parked.event_id, group="billing").exists()
    assert_error(admin_api.post(f"{DEAD_LETTERS}{parked.pk}/replay/"), 409, "not_parked")

    response = admin_api.post(f"{DEAD_LETTERS}{other.pk}/discard/")
    assert response.json()["status"] == "discarded"
    assert_error(admin_api.post(f"{DEAD_LETTERS}{other.pk}/replay/"), 409, "not_parked")
    assert applied == [parked.event_id]


def test_a_replay_that_fails_again_answers_409_and_stays_parked(admin_api, admin_member):
    handler("orders.created", group="billing")(lambda envelope: 1 / 0)
    parked = dead_letter(admin_member.client)
    error = assert_error(admin_api.post(f"{DEAD_LETTERS}{parked.pk}/replay/"), 409, "replay_failed")
    assert "ZeroDivisionError" in error["message"]
    parked.refresh_from_db()
    assert (parked.status, parked.attempts) == ("parked", 4)


def test_admin_replays_and_discards_dead_letters(admin_client):
    applied = []
    handler("orders.created", group="billing")(lambda envelope: applied.append(envelope.event_id))
    client = ClientFactory()
    first, second, gone = dead_letter(client), dead_letter(client), dead_letter(client, group="retired")
    listing = admin_client.get("/admin/messaging/deadletter/")
    assert listing.status_code == 200
    assert "ValueError: boom" in listing.content.decode()

    response = admin_client.post(
        "/admin/messaging/deadletter/",
        {"action": "replay", "_selected_action": [first.pk, gone.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert "1 dead letter(s) replayed" in page
    assert "No handler of the group" in page  # the one that could not be replayed says why
    assert applied == [first.event_id]
    admin_client.post("/admin/messaging/deadletter/", {"action": "discard", "_selected_action": [second.pk]})
    second.refresh_from_db()
    assert second.status == "discarded"
    detail = admin_client.get(f"/admin/messaging/deadletter/{first.pk}/change/")
    assert detail.status_code == 200 and "replayed" in detail.content.decode()
    found = admin_client.get("/admin/messaging/deadletter/", {"q": str(second.event_id)})
    assert f"/admin/messaging/deadletter/{second.pk}/change/" in found.content.decode()


def test_admin_shows_processed_events_read_only(admin_client):
    event = ProcessedEvent.objects.create(event_id=uuid.uuid4(), group="billing", topic="orders.created")
    listing = admin_client.get("/admin/messaging/processedevent/", {"q": str(event.event_id)})
    assert listing.status_code == 200
    assert str(event.event_id) in listing.content.decode()
    assert admin_client.get("/admin/messaging/processedevent/add/").status_code == 403
    assert admin_client.post(f"/admin/messaging/processedevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ProcessedEvent.objects.filter(pk=event.pk).exists()
