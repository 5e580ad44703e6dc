"""The live half of the aggregator: per-second buckets in Redis, core
structures only (RedisTimeSeries is not on our stack).

Keys, all under the client's hash tag `{<client_id>}` so a Redis Cluster
keeps one client's keys in one slot (the scripts touch several at once);
sensor and device names are percent-encoded, so `:` and `|` in them cannot
make two series share a key:

    ae:agg:{7}:b:<sensor>:<device>|<second>   hash  count, sum, min, max, and r:<recorded_at µs> -> value
    ae:agg:{7}:i:<sensor>                     zset  "<device>|<second>" scored by the second (unix)
    ae:agg:{7}:sensors                        set   the sensors with an index
    ae:agg:{7}:e:<event_id>                   string, an event already applied
    ae:agg:{7}:p:<sensor>:<device>            string, the push throttle (SET NX PX)

Every key expires AE_STREAM_REDIS_TTL_SECONDS after its last write: the flush
deletes buckets once the table answers for them; the TTL only bounds what a
stopped flush leaves behind.

Each reading is kept in its bucket under its recorded_at, so applying the
same reading twice changes nothing and a correction (a new value for the
same key, as the raw table's upsert does) replaces the old value instead of
adding to it.
"""

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "ae:agg"
SOCKET_TIMEOUT_SECONDS = 2.0  # the handler's thread waits at most this long on a sick Redis
DROP_BATCH = 1000  # index members per script call: one call never blocks Redis for long

# KEYS: bucket, index, sensors, event. ARGV: member, second, field, value, ttl, sensor, check_event.
# Returns {applied (1/0), count, sum, min, max} (strings: Lua numbers would be truncated to integers).
APPLY_LUA = """
local ttl = tonumber(ARGV[5])
if ARGV[7] == '1' and not redis.call('SET', KEYS[4], '1', 'NX', 'EX', ttl) then
  return {0}
end
local value = tonumber(ARGV[4])
local old = redis.call('HGET', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
local count, total, lo, hi
if not old then
  count = redis.call('HINCRBY', KEYS[1], 'count', 1)
  total, lo, hi = value, value, value
  if count > 1 then
    local agg = redis.call('HMGET', KEYS[1], 'sum', 'min', 'max')
    total = tonumber(agg[1]) + value
    lo = math.min(tonumber(agg[2]), value)
    hi = math.max(tonumber(agg[3]), value)
  end
elseif tonumber(old) ~= value then
  -- a correction: recompute from the readings kept in the bucket
  count, total = 0, 0
  local fields = redis.call('HGETALL', KEYS[1])
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 'r:' then
      local v = tonumber(fields[i + 1])
      count, total = count + 1, total + v
      if lo == nil or v < lo then lo = v end
      if hi == nil or v > hi then hi = v end
    end
  end
  redis.call('HSET', KEYS[1], 'count', count)
end
if total ~= nil then
  redis.call('HSET', KEYS[1], 'sum', string.format('%.17g', total),
             'min', string.format('%.17g', lo), 'max', string.format('%.17g', hi))
end
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('SADD', KEYS[3], ARGV[6])
redis.call('EXPIRE', KEYS[3], ttl)
local agg = redis.call('HMGET', KEYS[1], 'count', 'sum', 'min', 'max')
return {1, agg[1], agg[2], agg[3], agg[4]}
"""

# KEYS: sensors. ARGV: key prefix ("ae:agg:{7}:"), min score, max score (ZRANGEBYSCORE syntax), limit.
# Deletes the buckets of every sensor scored in [min, max], at most `limit` of them; returns how many.
# The bucket keys are built here from the index members: they carry the client's hash tag, so they
# live in the slot of KEYS[1].
DROP_LUA = """
local limit = tonumber(ARGV[4])
local dropped = 0
for _, sensor in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if dropped >= limit then break end
  local index = ARGV[1] .. 'i:' .. sensor
  local members = redis.call('ZRANGEBYSCORE', index, ARGV[2], ARGV[3], 'LIMIT', 0, limit - dropped)
  for _, member in ipairs(members) do
    redis.call('DEL', ARGV[1] .. 'b:' .. sensor .. ':' .. member)
    redis.call('ZREM', index, member)
  end
  dropped = dropped + #members
  if redis.call('ZCARD', index) == 0 then
    redis.call('SREM', KEYS[1], sensor)
  end
end
return dropped
"""


@dataclass(frozen=True)
class LiveBucket:
    """One second of one device's sensor, as Redis holds it."""

    device_id: str
    second: int  # unix seconds
    count: int
    sum: float
    min: float
    max: float


@dataclass(frozen=True)
class Applied:
    applied: bool  # False: this event was applied before
    bucket: LiveBucket | None = None


# --- connection and keys ----------------------------------------------------------------

_clients: dict[str, redis.Redis] = {}
_scripts: dict[tuple[str, str], object] = {}
_lock = threading.Lock()


def live_redis() -> redis.Redis:
    """The aggregator's Redis client (REDIS_URL; one pool per process), with
    short timeouts: the reading is safe in PostgreSQL whatever happens here."""
    url = settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        with _lock:
            client = _clients.get(url)
            if client is None:
                client = _clients[url] = redis.Redis.from_url(
                    url, socket_timeout=SOCKET_TIMEOUT_SECONDS, socket_connect_timeout=SOCKET_TIMEOUT_SECONDS
                )
    return client


def _script(name: str, source: str):
    client = live_redis()
    key = (settings.REDIS_URL, name)
    script = _scripts.get(key)
    if script is None:
        script = _scripts[key] = client.register_script(source)
    return script


def _name(text: str) -> str:
    return quote(text, safe="")


def client_prefix(client_id: int) -> str:
    return f"{KEY_PREFIX}:{{{int(client_id)}}}:"


def sensors_key(client_id: int) -> str:
    return client_prefix(client_id) + "sensors"


def index_key(client_id: int, sensor: str) -> str:
    return client_prefix(client_id) + "i:" + _name(sensor)


def member(device_id: str, second: int) -> str:
    return f"{_name(device_id)}|{second}"


def bucket_key(client_id: int, sensor: str, device_id: str, second: int) -> str:
    return client_prefix(client_id) + "b:" + _name(sensor) + ":" + member(device_id, second)


def event_key(client_id: int, event_id: uuid.UUID) -> str:
    return client_prefix(client_id) + f"e:{event_id}"


def push_key(client_id: int, sensor: str, device_id: str) -> str:
    return client_prefix(client_id) + "p:" + _name(sensor) + ":" + _name(device_id)


def unix_second(moment: datetime) -> int:
    """The second a moment falls in (floor, also before 1970)."""
    return _microseconds(moment) // 1_000_000


def second_moment(second: int) -> datetime:
    return datetime.fromtimestamp(second, tz=UTC)


def _microseconds(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _bucket(device_id: str, second: int, reply) -> LiveBucket:
    count, total, low, high = reply
    return LiveBucket(device_id, second, int(count), float(total), float(low), float(high))


# --- writes -------------------------------------------------------------------------------


def live_reading_apply(
    *, client_id: int, sensor: str, device_id: str, recorded_at: datetime, value: float,
    event_id: uuid.UUID | None = None,
) -> Applied:  # fmt: skip
    """Add one reading to its second, atomically (one Lua script). With an
    `event_id`, an event seen before (within the TTL) is not applied again;
    without one (the rebuild reseeding), the reading's own key makes a
    repeat harmless."""
    second = unix_second(recorded_at)
    ttl = max(1, int(settings.AE_STREAM_REDIS_TTL_SECONDS))
    reply = _script("apply", APPLY_LUA)(
        keys=[
            bucket_key(client_id, sensor, device_id, second),
            index_key(client_id, sensor),
            sensors_key(client_id),
            event_key(client_id, event_id) if event_id else client_prefix(client_id) + "e:-",
        ],
        args=[
            member(device_id, second), second, f"r:{_microseconds(recorded_at)}", repr(float(value)), ttl,
            _name(sensor), "1" if event_id else "0",
        ],
    )  # fmt: skip
    if not int(reply[0]):
        return Applied(applied=False)
    return Applied(applied=True, bucket=_bucket(device_id, second, reply[1:]))


def live_buckets_drop(*, client_id: int, min_second: int | None = None, max_second: int | None = None) -> int:
    """Delete the client's buckets with seconds in [min_second, max_second)
    (open ends: unbounded), in batches; returns how many."""
    low = "-inf" if min_second is None else str(min_second)
    high = "+inf" if max_second is None else f"({max_second}"
    script = _script("drop", DROP_LUA)
    dropped = 0
    while True:
        batch = int(script(keys=[sensors_key(client_id)], args=[client_prefix(client_id), low, high, DROP_BATCH]))
        dropped += batch
        if batch < DROP_BATCH:
            return dropped


def live_push_claim(*, client_id: int, sensor: str, device_id: str) -> bool:
    """True for the first caller per series per AE_STREAM_PUSH_INTERVAL_MS
    (shared by every process: SET NX PX)."""
    interval = max(1, int(settings.AE_STREAM_PUSH_INTERVAL_MS))
    return bool(live_redis().set(push_key(client_id, sensor, device_id), b"1", nx=True, px=interval))


# --- reads ----------------------------------------------------------------------------------


def live_buckets(
    *, client_id: int, sensor: str, min_second: int, max_second: int, device_id: str | None = None
) -> list[LiveBucket]:
    """The sensor's buckets with seconds in [min_second, max_second), of one
    device or all, from the index (no KEYS/SCAN); one pipeline."""
    members = [
        raw.decode() for raw in live_redis().zrangebyscore(index_key(client_id, sensor), min_second, f"({max_second}")
    ]
    if device_id is not None:
        wanted = _name(device_id) + "|"
        members = [m for m in members if m.startswith(wanted)]
    if not members:
        return []
    prefix = client_prefix(client_id) + "b:" + _name(sensor) + ":"
    pipe = live_redis().pipeline(transaction=False)
    for item in members:
        pipe.hmget(prefix + item, "count", "sum", "min", "max")
    buckets = []
    for item, reply in zip(members, pipe.execute(), strict=True):
        if reply[0] is None:
            continue  # expired since the index was read
        device, _, second = item.rpartition("|")
        buckets.append(_bucket(unquote(device), int(second), reply))
    return buckets
