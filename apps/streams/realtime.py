"""Pushes of the live feeds to browsers: the stream aggregator's updated
seconds on the tenant's `telemetry.<sensor>` channels (docs/live.md, "Stream
aggregator"); who may listen is `telemetry_channel_authorize`, registered
with apps.core.realtime at start (apps.py)."""

import logging

from redis import RedisError

from apps.core.errors import AppError
from apps.core.realtime import ChannelRequest, channel_validate, realtime_publish
from apps.streams.aggregator.live import LiveBucket, live_push_claim, second_moment

logger = logging.getLogger(__name__)

CHANNEL_FAMILY = "telemetry"


def telemetry_channel(sensor: str) -> str | None:
    """`telemetry.<sensor>`, or None for a sensor whose name is not a channel
    word (lower-case letters, digits, underscores): such a sensor is not pushed."""
    try:
        return channel_validate(f"{CHANNEL_FAMILY}.{sensor}")
    except AppError:
        return None


def telemetry_channel_authorize(request: ChannelRequest) -> None:
    """`telemetry.<sensor>`: any member of the client may listen (as any
    member may read the current view over the API); groups are per tenant,
    so no other client's readings reach the socket. Other shapes are refused."""
    if len(request.channel.split(".")) != 2:
        raise AppError(
            "Telemetry channels are 'telemetry.<sensor>' (a sensor named in lower-case letters, digits and '_').",
            code="unknown_channel",
            details={"channel": request.channel},
        )


def bucket_event(*, sensor: str, bucket: LiveBucket) -> dict:
    return {
        "sensor": sensor,
        "device_id": bucket.device_id,
        "bucket": second_moment(bucket.second).isoformat(),
        "grain": "second",
        "count": bucket.count,
        "sum": bucket.sum,
        "min": bucket.min,
        "max": bucket.max,
        "avg": bucket.sum / bucket.count if bucket.count else None,
        "source": "live",
    }


def telemetry_bucket_push(*, client_id: int, sensor: str, bucket: LiveBucket) -> bool:
    """Push a series' updated second to the tenant's `telemetry.<sensor>`
    channel, at most once per AE_STREAM_PUSH_INTERVAL_MS per series. True
    when pushed."""
    channel = telemetry_channel(sensor)
    if channel is None:
        return False
    try:
        if not live_push_claim(client_id=client_id, sensor=sensor, device_id=bucket.device_id):
            return False
        realtime_publish(client_id=client_id, channel=channel, event=bucket_event(sensor=sensor, bucket=bucket))
    except RedisError as exc:
        logger.warning("telemetry push to %s failed: %s", channel, exc, extra={"client_id": client_id})
        return False
    return True
