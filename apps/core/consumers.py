"""`/ws/`: subscribe to realtime channels, receive their events, get heartbeats.

Protocol (API.md): send `{"action": "subscribe", "channel": "metric.<code>"}`,
receive `{"channel", "event"}` for each event; `unsubscribe` likewise. The server
sends `{"type": "heartbeat", "ts"}` every WS_HEARTBEAT_SECONDS. On disconnect,
including a dead peer detected by the server's WebSocket pings, every group
membership is dropped so nothing keeps sending to a closed socket.
"""

import asyncio
import time
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from apps.core.errors import AppError
from apps.core.realtime import channel_validate, realtime_group
from apps.core.selectors import client_resolve

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
MAX_SUBSCRIPTIONS = 100


class RealtimeConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.subscriptions: dict[str, str] = {}
        self.heartbeat_task: asyncio.Task | None = None
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
        await self.accept()
        await self.send_json({"type": "welcome", "client": access.code, "heartbeat": settings.WS_HEARTBEAT_SECONDS})
        self.heartbeat_task = asyncio.create_task(self._heartbeat())

    async def disconnect(self, code: int) -> None:
        if self.heartbeat_task:
            self.heartbeat_task.cancel()
        for group in self.subscriptions.values():
            await self.channel_layer.group_discard(group, self.channel_name)
        self.subscriptions.clear()

    async def receive_json(self, content, **kwargs) -> None:
        action = content.get("action") if isinstance(content, dict) else None
        handler = {
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "ping": self._ping,
        }.get(action)
        if handler is None:
            await self._error("unknown_action", "Actions are 'subscribe', 'unsubscribe' and 'ping'.", action=action)
            return
        try:
            await handler(content)
        except AppError as exc:
            await self._error(exc.code, exc.message, **exc.details)

    async def decode_json(self, text_data):
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return None

    async def _subscribe(self, content: dict) -> None:
        channel = channel_validate(content.get("channel"))
        if channel not in self.subscriptions:
            if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
                raise AppError(f"At most {MAX_SUBSCRIPTIONS} subscriptions per connection.", code="too_many")
            group = realtime_group(client_id=self.client_id, channel=channel)
            await self.channel_layer.group_add(group, self.channel_name)
            self.subscriptions[channel] = group
        await self.send_json({"type": "subscribed", "channel": channel})

    async def _unsubscribe(self, content: dict) -> None:
        channel = channel_validate(content.get("channel"))
        group = self.subscriptions.pop(channel, None)
        if group:
            await self.channel_layer.group_discard(group, self.channel_name)
        await self.send_json({"type": "unsubscribed", "channel": channel})

    async def _ping(self, content: dict) -> None:
        await self.send_json({"type": "pong", "ts": time.time()})

    async def _error(self, code: str, message: str, **details) -> None:
        await self.send_json({"type": "error", "error": {"code": code, "message": message, "details": details}})

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(settings.WS_HEARTBEAT_SECONDS)
            await self.send_json({"type": "heartbeat", "ts": time.time()})

    async def realtime_event(self, message: dict) -> None:
        await self.send_json({"channel": message["channel"], "event": message["event"]})
