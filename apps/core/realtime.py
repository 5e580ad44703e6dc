"""Realtime fan-out to browsers over Channels (ephemeral; durable events go on
the event bus). Channel names are dotted lower-case words (`metric.retention_rate`,
`logs.ingestion`); groups are per tenant so one client never hears another."""

import re
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from apps.core.errors import AppError

CHANNEL_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+){0,4}$")
MAX_CHANNEL_LENGTH = 80


def channel_validate(channel: Any) -> str:
    if not isinstance(channel, str) or len(channel) > MAX_CHANNEL_LENGTH or not CHANNEL_PATTERN.match(channel):
        raise AppError(
            "A channel is dotted lower-case words, e.g. 'metric.retention_rate' (at most 80 characters).",
            code="invalid_channel",
            details={"channel": channel if isinstance(channel, str) else repr(channel)},
        )
    return channel


def realtime_group(*, client_id: int, channel: str) -> str:
    return f"t{client_id}.{channel}"


async def realtime_publish_async(*, client_id: int, channel: str, event: dict) -> None:
    layer = get_channel_layer()
    await layer.group_send(
        realtime_group(client_id=client_id, channel=channel_validate(channel)),
        {"type": "realtime.event", "channel": channel, "event": event},
    )


def realtime_publish(*, client_id: int, channel: str, event: dict) -> None:
    """Push an event to every browser of this client subscribed to `channel`."""
    async_to_sync(realtime_publish_async)(client_id=client_id, channel=channel, event=event)
