"""/ws/?token= accepts an access token a client's provider issued for our API,
verified exactly as the DRF API verifies it (apps.identity.oidc.bearer,
registered with core's apps.core.bearer_tokens): v1 and v2 issuers, `aud`,
`scp`/`roles`, the user keyed on (tid, oid). Over a real WebSocket: the
production server (daphne in a subprocess) reads the provider's keys from
the Azure-shaped stand-in over HTTP."""

import time
import uuid

import pytest
from asgiref.sync import async_to_sync

from apps.core.realtime import realtime_publish_async
from apps.core.tests.factories import MembershipFactory
from apps.core.tests.ws_client import Closed, RawWebSocket
from apps.identity.models import ExternalIdentity
from apps.identity.tests.idp_standin import new_key

pytestmark = pytest.mark.django_db(transaction=True)
OID = "00000000-0000-0000-0000-00000000e5e6"
# A family every daphne process knows (apps.streams): any member may listen.
LIVE_CHANNEL = "telemetry.provider_token_probe"


@pytest.fixture
def known_user(provider):
    membership = MembershipFactory(client=provider.client, is_default=True, role="analyst")
    ExternalIdentity.objects.create(
        user=membership.user, provider=provider, tenant_id=provider.tenant_id, object_id=OID
    )
    return membership.user


def _socket(server, token: str) -> RawWebSocket:
    return RawWebSocket("127.0.0.1", server["port"], f"/ws/?token={token}")


def _streams(ws: RawWebSocket, client_id: int, value: int) -> None:
    ws.send_json({"action": "subscribe", "channel": LIVE_CHANNEL})
    ws.recv_until(lambda m: m.get("type") == "subscribed")
    async_to_sync(realtime_publish_async)(client_id=client_id, channel=LIVE_CHANNEL, event={"value": value})
    assert ws.recv_until(lambda m: "event" in m)["event"] == {"value": value}


def _closed_code(ws: RawWebSocket, timeout: float = 15.0) -> int | None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            ws.recv_json(max(0.01, deadline - time.monotonic()))
        except Closed as closed:
            return closed.code


def _refused(server, token: str) -> bool:
    """The server does not keep the socket: the handshake is refused, or it closes at once with 4401."""
    try:
        ws = _socket(server, token)
    except Closed:
        return True
    try:
        return _closed_code(ws) == 4401
    finally:
        ws.close()


def test_v2_and_v1_provider_tokens_open_a_socket_that_streams(asgi_server, idp, known_user, provider):
    v1 = idp.access_token(
        oid=OID, ver="1.0", iss=f"https://sts.windows.net/{idp.tenant_id}/", aud=f"api://{idp.application_id}"
    )
    app_role = idp.access_token(oid=OID, scp=None, roles=["access_as_application"])
    for value, token in enumerate((idp.access_token(oid=OID), v1, app_role)):
        ws = _socket(asgi_server, token)
        try:
            welcome = ws.recv_until(lambda m: m.get("type") == "welcome")
            assert welcome["client"] == provider.client.code
            _streams(ws, provider.client_id, value)
        finally:
            ws.close()


def test_refused_provider_tokens_open_no_socket(asgi_server, idp, known_user):
    now = int(time.time())
    refused = {
        "forged": idp.mint(idp.claims(oid=OID, scp="access_as_user"), key=new_key()[1]),
        "expired": idp.access_token(oid=OID, exp=now - 600, iat=now - 4000, nbf=now - 4000),
        "wrong_audience": idp.access_token(oid=OID, aud=str(uuid.uuid4())),
        "wrong_issuer": idp.access_token(oid=OID, iss=f"https://evil.example/{idp.tenant_id}/v2.0"),
        "no_scope": idp.access_token(oid=OID, scp="User.Read openid"),
        "unknown_user": idp.access_token(oid=str(uuid.uuid4())),
        "unknown_tenant": idp.access_token(oid=OID, tid=str(uuid.uuid4())),
        "alg_none": idp.mint(idp.claims(oid=OID, scp="access_as_user"), algorithm="none"),
    }
    for case, token in refused.items():
        assert _refused(asgi_server, token), case


def test_a_deactivated_users_provider_socket_closes_4401(asgi_server, idp, known_user, provider):
    ws = _socket(asgi_server, idp.access_token(oid=OID))
    try:
        ws.recv_until(lambda m: m.get("type") == "welcome")
        known_user.is_active = False
        known_user.save()  # its sockets re-check: the token is verified again and names nobody now
        assert _closed_code(ws) == 4401
    finally:
        ws.close()


def test_a_provider_token_socket_closes_at_the_tokens_expiry(asgi_server, idp, known_user, provider):
    now = int(time.time())
    ws = _socket(asgi_server, idp.access_token(oid=OID, iat=now, nbf=now, exp=now + 3))
    try:
        ws.recv_until(lambda m: m.get("type") == "welcome")
        assert _closed_code(ws) == 4401
    finally:
        ws.close()
