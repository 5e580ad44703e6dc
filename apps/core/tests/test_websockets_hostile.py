"""Hostile frames on /ws/ through the production server (daphne, real TCP):
each gets an error frame and the socket stays open, or, past the server's
frame limit, a clean close with a code and a reason, never a reset."""

import pytest
from asgiref.sync import async_to_sync
from rest_framework_simplejwt.tokens import AccessToken

from apps.core.tests.factories import MembershipFactory
from apps.core.tests.ws_client import Closed, RawWebSocket
from apps.core.websockets import MAX_MESSAGE_CHARS, RealtimeConsumer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def socket_for(asgi_server):
    opened = []

    def connect() -> RawWebSocket:
        membership = MembershipFactory(is_default=True)
        ws = RawWebSocket("127.0.0.1", asgi_server["port"], f"/ws/?token={AccessToken.for_user(membership.user)}")
        opened.append(ws)
        assert ws.recv_json()["type"] == "welcome"
        return ws

    yield connect
    for ws in opened:
        ws.close()


def _still_open(ws: RawWebSocket) -> None:
    ws.send_json({"action": "ping"})
    assert ws.recv_until(lambda m: m.get("type") in ("pong", "error"))["type"] == "pong"


def _error_code(ws: RawWebSocket) -> str:
    return ws.recv_until(lambda m: m.get("type") == "error")["error"]["code"]


NESTED = [
    ("arrays", "[" * 30_000 + "]" * 30_000),
    ("objects", '{"a":' * 10_000 + "1" + "}" * 10_000),
    ("mixed, unclosed", '[{"a":' * 9_000),
    ("action nested", '{"action": "subscribe", "channel": ' + "[" * 20_000 + "]" * 20_000 + "}"),
    # Shallow enough to parse, deep enough to trouble what reads the values next (repr, json.dumps).
    *((f"action {d} deep", '{"action": ' + "[" * d + "]" * d + "}") for d in (500, 800, 900, 990)),
    *((f"channel {d} deep", '{"action": "subscribe", "channel": ' + "[" * d + "]" * d + "}") for d in (500, 900, 990)),
]


@pytest.mark.parametrize(("name", "text"), NESTED, ids=[name for name, _ in NESTED])
def test_deeply_nested_json_answers_an_error_and_keeps_the_socket(socket_for, name, text):
    assert len(text) <= MAX_MESSAGE_CHARS
    ws = socket_for()
    ws.send_text(text)
    assert _error_code(ws) in ("invalid_json", "invalid_channel", "invalid_message", "unknown_action")
    _still_open(ws)


@pytest.mark.parametrize("size", [MAX_MESSAGE_CHARS + 1, 512 * 1024, 1024 * 1024 - 64])
def test_a_frame_over_the_limit_answers_message_too_large_and_keeps_the_socket(socket_for, size):
    ws = socket_for()
    ws.send_text('"' + "x" * (size - 2) + '"')
    assert _error_code(ws) == "message_too_large"
    _still_open(ws)


@pytest.mark.parametrize("size", [2 * 1024 * 1024, 8 * 1024 * 1024])
def test_a_frame_over_the_servers_limit_is_closed_cleanly_with_a_reason(socket_for, size):
    """Past daphne's frame limit (1 MiB) the server closes with 1009 "message
    too big" and says why, after reading what was sent (no TCP reset)."""
    ws = socket_for()
    ws.send_text("x" * size)
    with pytest.raises(Closed) as closed:
        ws.recv_until(lambda m: False)
    assert closed.value.code == 1009, closed.value
    assert "exceeds payload limit" in str(closed.value)


def test_an_unknown_action_of_any_depth_is_named_by_its_type_not_its_repr():
    """What json.loads accepted at the edge of the recursion limit must not be
    repr()'d a few frames deeper (RecursionError would close the socket 1011)."""
    consumer = RealtimeConsumer()
    sent = []

    async def error(code, message, **details):
        sent.append((code, details))

    consumer._error = error
    action = []
    for _ in range(100_000):
        action = [action]
    async_to_sync(consumer.receive_json)({"action": action})
    assert sent == [("unknown_action", {"action": "<list>"})]
