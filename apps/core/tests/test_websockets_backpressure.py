"""Backpressure on /ws/ with the production server: daphne in a subprocess,
real TCP sockets, the real Redis channel layer. A client that stops reading
is dropped; the others keep receiving every event, in order."""

from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from apps.core.realtime import listeners_active, realtime_publish_many_async
from apps.core.tests.factories import MembershipFactory
from apps.core.tests.servers import daphne_serving
from apps.core.tests.waiting import wait_until
from apps.core.tests.ws_client import Closed, RawWebSocket

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])
ROOT = Path(__file__).resolve().parents[3]
CHANNEL = "metric.reading_total"


@pytest.fixture(scope="module")
def daphne(django_db_setup, django_db_blocker, tmp_path_factory):
    """daphne serving the project on a free port, on the test database and Redis;
    32 frames may queue for a socket (a frame may wait 10 s for the network)."""
    log_path = tmp_path_factory.mktemp("daphne") / "daphne.log"
    # Generous: under a loaded CI machine a reading client must never look slow; the
    # one that stops reading overflows its 32-frame queue long before.
    with daphne_serving(log_path, WS_SEND_TIMEOUT_SECONDS="10", WS_SEND_QUEUE_SIZE="32") as server:
        yield server


@pytest.fixture
def member():
    """A member of a client with one metric, `reading_total` (its channel may be heard)."""
    membership = MembershipFactory(is_default=True, role="admin")
    api = APIClient()
    api.force_authenticate(membership.user)
    entity = {
        "code": "readings", "name": "Readings", "kind": "time_series", "time_attribute": "at",
        "attributes": [{"code": "at", "data_type": "timestamp", "nullable": False},
                       {"code": "value", "data_type": "decimal"}],
    }  # fmt: skip
    assert api.post("/api/v1/ontology/entities/", entity, format="json").status_code == 201
    metric = {"code": "reading_total", "name": "Total", "formula": "SUM(value)", "entity": "readings"}
    assert api.post("/api/v1/ontology/metrics/", metric, format="json").status_code == 201
    return membership


def _listener_count(client_id: int) -> int:
    return sum(item.count for item in listeners_active(prefix=CHANNEL, client_id=client_id))


def test_a_client_that_does_not_read_is_dropped_and_the_others_get_everything(daphne, member):
    path = f"/ws/?token={AccessToken.for_user(member.user)}"
    fast = RawWebSocket("127.0.0.1", daphne["port"], path)
    slow = RawWebSocket("127.0.0.1", daphne["port"], path, receive_buffer=4096)
    try:
        for ws in (fast, slow):
            assert ws.recv_json()["type"] == "welcome"
            ws.send_json({"action": "subscribe", "channel": CHANNEL})
            ws.recv_until(lambda m: m.get("type") == "subscribed")
        wait_until(
            lambda: _listener_count(member.client_id) == 2, what="both listeners tracked", timeout=10, interval=0.05
        )
        # From here on `slow` reads nothing. 16 KB events, published in batches the
        # fast client keeps up with (the channel layer holds 100 per socket).
        padding = "x" * 16_000
        total, batch = 400, 20
        received = []
        for start in range(0, total, batch):
            events = [(CHANNEL, {"n": n, "padding": padding}) for n in range(start, start + batch)]
            async_to_sync(realtime_publish_many_async)(client_id=member.client_id, events=events)
            while len(received) < start + batch:
                message = fast.recv_until(
                    lambda m: "event" in m, timeout=60
                )  # a deadline, not a speed check: the machine may be busy
                received.append(message["event"]["n"])
        assert received == list(range(total))

        # The slow socket was dropped and its subscription untracked; the fast one still listens.
        wait_until(
            lambda: _listener_count(member.client_id) == 1, what="the slow one untracked", timeout=10, interval=0.05
        )
        assert "websocket client dropped: too slow" in daphne["log"].read_text()
        with pytest.raises((Closed, ConnectionError)) as ended:
            for _ in range(total):
                slow.recv_json(timeout=5)
        if isinstance(ended.value, Closed) and ended.value.code is not None:
            assert ended.value.code == 4008

        # And the fast one keeps receiving.
        async_to_sync(realtime_publish_many_async)(client_id=member.client_id, events=[(CHANNEL, {"n": "after"})])
        assert fast.recv_until(lambda m: "event" in m)["event"] == {"n": "after"}
        fast.send_json({"action": "ping"})
        assert fast.recv_until(lambda m: m.get("type") == "pong")["ts"] > 0
    finally:
        fast.close()
        slow.close()
