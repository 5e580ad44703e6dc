"""A publisher to browsers (the Channels layer) gives up within
REDIS_SOCKET_TIMEOUT_SECONDS when Redis is paused, not after the layer's
own 30 s socket timeout (kept long for the consumers' blocking reads), and
what it raises is a Redis timeout: a 503 to retry where a request hit it."""

import pytest
import redis

from apps.core.errors import redis_unavailable
from apps.core.realtime import realtime_publish


def test_publishing_gives_up_within_the_redis_timeout_when_redis_is_paused(settings, redis_server):
    layer = settings.CHANNEL_LAYERS["default"]
    host = {**layer["CONFIG"]["hosts"][0], "address": redis_server.server.url}
    settings.CHANNEL_LAYERS = {"default": {**layer, "CONFIG": {**layer["CONFIG"], "hosts": [host]}}}
    realtime_publish(client_id=1, channel="metric.revenue", event={"value": 1})

    redis_server.pause()
    with pytest.raises(redis.TimeoutError) as raised:
        realtime_publish(client_id=1, channel="metric.revenue", event={"value": 2})

    # Which timeout fired, by what it raised rather than by a stopwatch: the
    # publisher's own (an asyncio timeout it turns into this message), not the
    # layer's socket timeout (a redis.TimeoutError of the connection's own).
    timeout = settings.REDIS_SOCKET_TIMEOUT_SECONDS
    assert host["socket_timeout"] > 5 * timeout  # the layer's own wait would be the slow one
    assert str(raised.value) == f"the channel layer took no event within {timeout:g} s"
    assert isinstance(raised.value.__cause__, TimeoutError)
    assert redis_unavailable(raised.value).status_code == 503
