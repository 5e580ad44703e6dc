"""Realtime fan-out to browsers over Channels (ephemeral; durable events go on
the event bus). Channel names are dotted lower-case words (`metric.retention_rate`);
groups are per tenant so one client never hears another (docs/live.md).

Three parts:

- **publishing**: `realtime_publish` / `realtime_publish_many` send to the
  tenant's Channels group of a channel;
- **channel families**: the first word of a channel names its family
  (`metric`), and the app that owns the family registers the permission a
  subscriber needs and who may subscribe (`channel_family_register`, from its
  AppConfig.ready(): core cannot import the apps above it). A channel of no
  registered family is refused;
- **subscriber tracking**: which tenant's channels have listeners, kept in
  Redis by the /ws/ consumer (subscribe, unsubscribe, disconnect) so that
  publishers in other processes (the period publisher) compute only what
  someone watches. Entries expire WS_TRACKING_TTL_SECONDS after their last
  refresh, so a server that crashed leaves no ghost listeners behind.
"""

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from apps.core.access import permission_missing_message
from apps.core.errors import AppError

logger = logging.getLogger(__name__)

CHANNEL_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+){0,4}$")
MAX_CHANNEL_LENGTH = 80
TRACKING_PREFIX = "ae:live"
_TRACKING_TIMEOUT_SECONDS = 2.0


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


# --- publishing ----------------------------------------------------------------------


async def realtime_publish_async(*, client_id: int, channel: str, event: dict) -> None:
    """Raises redis.TimeoutError when the layer does not take the event within
    REDIS_SOCKET_TIMEOUT_SECONDS: its own socket timeout is long (30 s, for
    the consumers' blocking reads), a publisher must not wait that out."""
    layer = get_channel_layer()
    group = realtime_group(client_id=client_id, channel=channel_validate(channel))
    try:
        async with asyncio.timeout(settings.REDIS_SOCKET_TIMEOUT_SECONDS):
            await layer.group_send(group, {"type": "realtime.event", "channel": channel, "event": event})
    except TimeoutError as exc:
        raise redis.TimeoutError(
            f"the channel layer took no event within {settings.REDIS_SOCKET_TIMEOUT_SECONDS:g} s"
        ) from exc


def realtime_publish(*, client_id: int, channel: str, event: dict) -> None:
    """Push an event to every browser of this client subscribed to `channel`."""
    async_to_sync(realtime_publish_async)(client_id=client_id, channel=channel, event=event)


async def realtime_publish_many_async(*, client_id: int, events: Iterable[tuple[str, dict]]) -> int:
    count = 0
    for channel, event in events:
        await realtime_publish_async(client_id=client_id, channel=channel, event=event)
        count += 1
    return count


def realtime_publish_many(*, client_id: int, events: Iterable[tuple[str, dict]]) -> int:
    """Push many (channel, event) pairs in one event loop (a worker pushing a
    recalculation's points; one loop per call, not per event)."""
    return async_to_sync(realtime_publish_many_async)(client_id=client_id, events=list(events))


# --- channel families ------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelRequest:
    """Who asks to subscribe to what."""

    client_id: int
    user_id: int
    role: str
    channel: str
    permissions: frozenset[str] = frozenset()  # the role's (apps.core.access.Permission values)

    @property
    def family(self) -> str:
        return self.channel.split(".", 1)[0]


ChannelAuthorizer = Callable[[ChannelRequest], None]


@dataclass(frozen=True)
class ChannelFamily:
    authorize: ChannelAuthorizer
    permission: str  # what a subscriber's role needs (apps.core.access.Permission)


_families: dict[str, ChannelFamily] = {}
_families_lock = threading.Lock()


def channel_family_register(family: str, authorize: ChannelAuthorizer, *, permission: str) -> None:
    """Subscriptions to `<family>.…` channels need `permission` in the client;
    then `authorize(request)` decides: it returns to allow and raises AppError
    (a named error frame) to refuse. It runs in a thread where the ORM may be used."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", family):
        raise ValueError(f"A channel family is one lower-case word, not {family!r}")
    with _families_lock:
        _families[family] = ChannelFamily(authorize=authorize, permission=permission)


def channel_families() -> list[str]:
    with _families_lock:
        return sorted(_families)


def channel_family_permission(family: str) -> str | None:
    with _families_lock:
        entry = _families.get(family)
    return entry.permission if entry else None


def channel_authorize(request: ChannelRequest) -> None:
    """Raise AppError unless the user's role has the family's permission and
    the family's owner lets this user of this client subscribe. Channels of no
    registered family are refused."""
    channel_validate(request.channel)
    with _families_lock:
        entry = _families.get(request.family)
    if entry is None:
        families = channel_families()
        raise AppError(
            f"There is no channel family {request.family!r}; subscribe to "
            + ", ".join(f"'{family}.…'" for family in families)
            + " channels.",
            code="unknown_channel",
            details={"channel": request.channel, "families": families},
        )
    if entry.permission not in request.permissions:
        raise AppError(
            permission_missing_message(entry.permission),
            code="channel_forbidden",
            details={"channel": request.channel, "permission": entry.permission},
        )
    entry.authorize(request)


# --- subscriber tracking ----------------------------------------------------------------
#
# ae:live:channels                      ZSET "<client_id>:<channel>" -> the latest expiry of its listeners
# ae:live:listeners:<client_id>:<channel> ZSET "<user_id>:<connection>" -> expiry (unix seconds)
#
# An index entry is never removed early, only when its score passes: removing one
# whose listeners just left could race with a new listener's ZADD. The period
# publisher finds such a channel with no listener and skips it.


@dataclass(frozen=True)
class ChannelListeners:
    client_id: int
    channel: str
    connections: tuple[str, ...]
    users: tuple[int, ...]  # distinct user ids, sorted

    @property
    def count(self) -> int:
        return len(self.connections)


_tracking_clients: dict[str, redis.Redis] = {}
_tracking_lock = threading.Lock()


def _tracking_redis() -> redis.Redis:
    url = settings.REDIS_URL
    with _tracking_lock:
        client = _tracking_clients.get(url)
        if client is None:
            client = _tracking_clients[url] = redis.Redis.from_url(
                url, socket_timeout=_TRACKING_TIMEOUT_SECONDS, socket_connect_timeout=_TRACKING_TIMEOUT_SECONDS
            )
        return client


def _index_key() -> str:
    return f"{TRACKING_PREFIX}:channels"


def _listeners_key(member: str) -> str:
    return f"{TRACKING_PREFIX}:listeners:{member}"


def _member(client_id: int, channel: str) -> str:
    return f"{client_id}:{channel}"


def tracking_ttl() -> int:
    return max(3, int(settings.WS_TRACKING_TTL_SECONDS))


def listeners_track(*, client_id: int, channels: Iterable[str], connection: str, user_id: int) -> None:
    """Record (or refresh) that `connection` of `user_id` listens to `channels`
    of the client, until now + WS_TRACKING_TTL_SECONDS."""
    channels = list(channels)
    if not channels:
        return
    ttl = tracking_ttl()
    expiry = time.time() + ttl
    pipe = _tracking_redis().pipeline(transaction=False)
    for channel in channels:
        member = _member(client_id, channel)
        key = _listeners_key(member)
        pipe.zadd(key, {f"{user_id}:{connection}": expiry})
        pipe.expire(key, ttl + 60)
        pipe.zadd(_index_key(), {member: expiry}, gt=True)
    pipe.execute()


def listeners_untrack(*, client_id: int, channels: Iterable[str], connection: str, user_id: int) -> None:
    """`connection` no longer listens to `channels` (unsubscribe, disconnect)."""
    channels = list(channels)
    if not channels:
        return
    pipe = _tracking_redis().pipeline(transaction=False)
    for channel in channels:
        pipe.zrem(_listeners_key(_member(client_id, channel)), f"{user_id}:{connection}")
    pipe.execute()


def listeners_active(*, prefix: str = "", client_id: int | None = None) -> list[ChannelListeners]:
    """Every tenant channel (starting with `prefix`, of `client_id` when
    given) that has a live listener now, with who listens. Expired entries
    (servers that died without cleaning up) are pruned on the way."""
    client = _tracking_redis()
    now = time.time()
    client.zremrangebyscore(_index_key(), "-inf", f"({now}")
    members = []
    for raw in client.zrangebyscore(_index_key(), now, "+inf"):
        member = raw.decode()
        owner, _, channel = member.partition(":")
        if channel.startswith(prefix) and (client_id is None or owner == str(client_id)):
            members.append((int(owner), channel, member))
    if not members:
        return []
    pipe = client.pipeline(transaction=False)
    for _, _, member in members:
        pipe.zremrangebyscore(_listeners_key(member), "-inf", f"({now}")
        pipe.zrangebyscore(_listeners_key(member), now, "+inf")
    replies = pipe.execute()
    active = []
    for (owner, channel, _), listeners in zip(members, replies[1::2], strict=True):
        if not listeners:
            continue
        pairs = [entry.decode().partition(":") for entry in listeners]
        active.append(
            ChannelListeners(
                client_id=owner,
                channel=channel,
                connections=tuple(sorted(connection for _, _, connection in pairs)),
                users=tuple(sorted({int(user) for user, _, _ in pairs})),
            )
        )
    return sorted(active, key=lambda item: (item.client_id, item.channel))
