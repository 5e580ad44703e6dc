"""`/ws/`: subscribe to realtime channels, receive their events, get heartbeats
(API.md, docs/api.md "WebSocket", docs/live.md).

Protocol: send `{"action": "subscribe", "channel": "metric.<code>"}`, receive
`{"channel", "event"}` for each event; `unsubscribe` likewise; `ping` answers
`pong`. The server sends `{"type": "heartbeat", "ts"}` every WS_HEARTBEAT_SECONDS.
Mistakes (bad JSON, a binary frame, an unknown action, a channel the user may
not see) answer an error frame and keep the socket open.

Every frame to the client goes through one bounded queue per connection,
drained by one writer task, so replies and events keep their order. A client
that does not read is dropped (close code 4008), never allowed to hold memory
or other sockets up: its queue fills (WS_SEND_QUEUE_SIZE), or one frame waits
longer than WS_SEND_TIMEOUT_SECONDS for the socket. Under daphne, whose ASGI
`send` never blocks (Twisted buffers without limit), the socket's state comes
from Twisted's own flow control: the consumer registers as the transport's
push producer and is told when its write buffer is full and when it drained.

On disconnect, and on a drop, every group membership and tracked
subscription (apps.core.realtime) is removed.
"""

import asyncio
import contextlib
import functools
import json
import logging
import time
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from redis import RedisError

from apps.core.errors import AppError
from apps.core.realtime import (
    ChannelRequest,
    channel_authorize,
    channel_validate,
    listeners_track,
    listeners_untrack,
    realtime_group,
    tracking_ttl,
)
from apps.core.selectors import client_resolve
from apps.core.ws_revocation import RevocableSocket

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_SLOW = 4008
MAX_SUBSCRIPTIONS = 100
MAX_MESSAGE_CHARS = 64 * 1024


class _AlwaysWritable:
    """Servers whose `send` waits for the socket (uvicorn, the test
    communicator): the send timeout alone bounds a slow client."""

    async def wait_writable(self) -> None:
        return None

    def release(self) -> None:
        return None


class _TwistedFlow:
    """Twisted's flow control on daphne's TCP transport: the transport calls its
    producer's pauseProducing when its write buffer is over its size and
    resumeProducing once it drained (on the event loop's thread: daphne runs
    Twisted on asyncio). The connection's HTTP channel is that producer
    already (it stops reading from a client that does not read); we tap its
    calls and pass them on, or register ourselves where there is none."""

    def __init__(self, transport) -> None:
        self.transport = transport
        self._writable = asyncio.Event()
        self._writable.set()
        self._inner = transport.producer
        if self._inner is None:
            transport.registerProducer(self, True)
        else:
            transport.producer = self

    def pauseProducing(self) -> None:  # noqa: N802 - Twisted's IPushProducer
        self._writable.clear()
        if self._inner is not None:
            self._inner.pauseProducing()

    def resumeProducing(self) -> None:  # noqa: N802
        self._writable.set()
        if self._inner is not None:
            self._inner.resumeProducing()

    def stopProducing(self) -> None:  # noqa: N802 - the connection is gone; let the writer stop
        self._writable.set()
        if self._inner is not None:
            self._inner.stopProducing()

    async def wait_writable(self) -> None:
        await self._writable.wait()

    def release(self) -> None:
        if getattr(self.transport, "producer", None) is not self:
            return
        if self._inner is not None:
            self.transport.producer = self._inner
            return
        # The transport may be closing and forget its producer on its own: nothing to release then.
        with contextlib.suppress(Exception):
            self.transport.unregisterProducer()


def _twisted_transport(send):
    """The Twisted TCP transport behind an ASGI `send` when daphne serves it:
    daphne's send is `partial(server.handle_reply, protocol)`, possibly wrapped
    by Channels' session middleware (`wrapper.send`, keeping `real_send`);
    a protocol wrapper's transport is followed down to the one that has the
    producer slot."""
    for _ in range(8):
        if isinstance(send, functools.partial):
            for arg in send.args:
                transport = getattr(arg, "transport", None)
                for _ in range(4):
                    if transport is None or hasattr(transport, "producer"):
                        break
                    transport = getattr(transport, "transport", None)
                if transport is not None and hasattr(transport, "registerProducer"):
                    return transport
            send = send.func
            continue
        owner = getattr(send, "__self__", None)
        if owner is None or not hasattr(owner, "real_send"):
            return None
        send = owner.real_send
    return None


def _flow_control(send):
    transport = _twisted_transport(send)
    if transport is None:
        return _AlwaysWritable()
    return _TwistedFlow(transport)


class RealtimeConsumer(RevocableSocket, AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.subscriptions: dict[str, str] = {}
        self.heartbeat_task: asyncio.Task | None = None
        self.writer_task: asyncio.Task | None = None
        self.outbox: asyncio.Queue = asyncio.Queue(maxsize=max(1, settings.WS_SEND_QUEUE_SIZE))
        self.flow = _AlwaysWritable()
        self.dropped = False
        self.client_id = None
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        requested = parse_qs(self.scope.get("query_string", b"").decode()).get("client", [None])[0]
        try:
            access = await database_sync_to_async(client_resolve)(user=user, code=requested)
        except AppError:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.client_id = access.client_id
        self.user_id = user.pk
        self.role = access.role
        self.permissions = access.permissions
        await self.accept()
        self.flow = _flow_control(self.base_send)
        self.writer_task = asyncio.create_task(self._writer())
        await self.revocation_start(access)
        await self._emit({"type": "welcome", "client": access.code, "heartbeat": settings.WS_HEARTBEAT_SECONDS})
        self.heartbeat_task = asyncio.create_task(self._heartbeat())

    async def disconnect(self, code: int) -> None:
        await self._cleanup()

    # -- incoming ---------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        if self.dropped:
            return
        if text_data is None:
            await self._error("invalid_message", "Send JSON text frames; binary frames are not understood.")
            return
        if len(text_data) > MAX_MESSAGE_CHARS:
            await self._error("message_too_large", f"A message may be at most {MAX_MESSAGE_CHARS} characters.")
            return
        try:
            content = json.loads(text_data)
        except ValueError as exc:
            await self._error("invalid_json", f"The message is not JSON: {exc}.")
            return
        except RecursionError:  # arrays or objects nested deeper than the parser goes (`[[[[...`)
            await self._error("invalid_json", "The message is not usable JSON: it is nested too deeply.")
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs) -> None:
        if not isinstance(content, dict):
            await self._error("invalid_message", 'A message is a JSON object such as {"action": "ping"}.')
            return
        action = content.get("action")
        handler = {
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "ping": self._ping,
        }.get(action if isinstance(action, str) else None)
        if handler is None:
            await self._error(
                "unknown_action",
                "Actions are 'subscribe', 'unsubscribe' and 'ping'.",
                action=action if isinstance(action, str | int | float | bool | None) else f"<{type(action).__name__}>",
            )
            return
        try:
            await handler(content)
        except AppError as exc:
            await self._error(exc.code, exc.message, **exc.details)
        except Exception:
            # One bad message (or a backing service hiccup) answers an error; the socket lives on.
            logger.exception("websocket action %r failed", action)
            await self._error("internal_error", "The server could not handle this message; try again.")

    async def _subscribe(self, content: dict) -> None:
        channel = channel_validate(content.get("channel"))
        if channel not in self.subscriptions:
            if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
                raise AppError(f"At most {MAX_SUBSCRIPTIONS} subscriptions per connection.", code="too_many")
            request = ChannelRequest(
                client_id=self.client_id,
                user_id=self.user_id,
                role=self.role,
                channel=channel,
                permissions=self.permissions,
            )
            await database_sync_to_async(channel_authorize)(request)
            group = realtime_group(client_id=self.client_id, channel=channel)
            await self.channel_layer.group_add(group, self.channel_name)
            self.subscriptions[channel] = group
            await self._track([channel])
        await self._emit({"type": "subscribed", "channel": channel})

    async def _unsubscribe(self, content: dict) -> None:
        channel = channel_validate(content.get("channel"))
        await self._unsubscribe_quietly(channel)
        await self._emit({"type": "unsubscribed", "channel": channel})

    async def _unsubscribe_quietly(self, channel: str) -> None:
        group = self.subscriptions.pop(channel, None)
        if group:
            await self.channel_layer.group_discard(group, self.channel_name)
            await self._untrack([channel])

    async def _ping(self, content: dict) -> None:
        await self._emit({"type": "pong", "ts": time.time()})

    async def _error(self, code: str, message: str, **details) -> None:
        await self._emit({"type": "error", "error": {"code": code, "message": message, "details": details}})

    # -- outgoing -----------------------------------------------------------------------

    async def realtime_event(self, message: dict) -> None:
        if self.credential_expired():
            # Not one event past the credential's end, however late the timer.
            await self._recheck(reauthorize=False)
            if self.dropped or self.credential_expired():
                return
        await self._emit({"channel": message["channel"], "event": message["event"]})

    async def _emit(self, frame: dict) -> None:
        """Queue a frame for the writer; a full queue means the client is not
        keeping up: drop it."""
        if self.dropped:
            return
        try:
            self.outbox.put_nowait(frame)
        except asyncio.QueueFull:
            await self._drop(f"{self.outbox.maxsize} frames waiting")

    async def _writer(self) -> None:
        timeout = settings.WS_SEND_TIMEOUT_SECONDS
        while True:
            frame = await self.outbox.get()
            try:
                await asyncio.wait_for(self.flow.wait_writable(), timeout)
                await asyncio.wait_for(self.send_json(frame), timeout)
            except TimeoutError:
                await self._drop(f"the socket took no data for {timeout:g} s")
                return

    async def _heartbeat(self) -> None:
        refresh_every = tracking_ttl() / 3
        refreshed = time.monotonic()
        while True:
            await asyncio.sleep(settings.WS_HEARTBEAT_SECONDS)
            await self._emit({"type": "heartbeat", "ts": time.time()})
            if self.subscriptions and time.monotonic() - refreshed >= refresh_every:
                refreshed = time.monotonic()
                await self._track(list(self.subscriptions))

    async def _drop(self, reason: str) -> None:
        """Backpressure: the client is too slow. Close it (code 4008) and let
        go of everything it held; later events for it are ignored."""
        if self.dropped:
            return
        self.dropped = True
        logger.warning(
            "websocket client dropped: too slow (%s)",
            reason,
            extra={"client_id": self.client_id, "channels": sorted(self.subscriptions)},
        )
        await self._cleanup()
        await self.close(code=CLOSE_TOO_SLOW)

    async def _shut(self, code: int, reason: str) -> None:
        """Revocation (apps.core.ws_revocation): close with `code` and let go of
        everything; later events for this socket are ignored."""
        if self.dropped:
            return
        self.dropped = True
        logger.info("websocket closed: %s", reason, extra={"client_id": self.client_id, "user_id": self.user_id})
        await self._cleanup()
        await self.close(code=code, reason=reason)

    async def _cleanup(self) -> None:
        await self.revocation_stop()
        current = asyncio.current_task()
        for task in (self.heartbeat_task, self.writer_task):
            if task is not None and task is not current:
                task.cancel()
        self.flow.release()
        if self.subscriptions:
            channels, groups = list(self.subscriptions), list(self.subscriptions.values())
            self.subscriptions.clear()
            for group in groups:
                await self.channel_layer.group_discard(group, self.channel_name)
            await self._untrack(channels)

    # -- subscriber tracking (best effort: a Redis hiccup must not cost the socket) --------

    async def _track(self, channels: list[str]) -> None:
        await self._tracking(listeners_track, channels)

    async def _untrack(self, channels: list[str]) -> None:
        await self._tracking(listeners_untrack, channels)

    async def _tracking(self, change, channels: list[str]) -> None:
        try:
            await asyncio.to_thread(
                change, client_id=self.client_id, channels=channels, connection=self.channel_name, user_id=self.user_id
            )
        except RedisError as exc:
            logger.warning("subscriber tracking unavailable: %s", exc)
