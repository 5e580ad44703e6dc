"""A publisher to browsers (the Channels layer) gives up within
REDIS_SOCKET_TIMEOUT_SECONDS when Redis is paused, not after the layer's
own 30 s socket timeout (kept long for the consumers' blocking reads), and
what it raises is a Redis timeout: a 503 to retry where a request hit it."""

import time

import pytest
import redis

from apps.core.errors import redis_unavailable
from apps.core.realtime import realtime_publish

MARGIN_SECONDS = 2.0  # the event loop and the connection around the timeout


def test_publishing_gives_up_within_the_redis_timeout_when_redis_is_paused(settings, redis_server):
    layer = settings.CHANNEL_LAYERS["default"]
    host = {**layer["CONFIG"]["hosts"][0], "address": redis_server.server.url}
    settings.CHANNEL_LAYERS = {"default": {**layer, "CONFIG": {**layer["CONFIG"], "hosts": [host]}}}
    realtime_publish(client_id=1, channel="metric.revenue", event={"value": 1})

    redis_server.pause()
    started = time.monotonic()
    with pytest.raises(redis.TimeoutError) as raised:
        realtime_publish(client_id=1, channel="metric.revenue", event={"value": 2})
    elapsed = time.monotonic() - started

    assert elapsed < settings.REDIS_SOCKET_TIMEOUT_SECONDS + MARGIN_SECONDS
    assert redis_unavailable(raised.value).status_code == 503
