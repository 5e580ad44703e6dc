"""The "current" view of a sensor: its seconds over the last N seconds, from
the table below the client's watermark W and from Redis at and above it,
merged by bucket (sums of counts and sums, min of mins, max of maxes).

Redis is read before the table and W (those two in one statement, one
snapshot): a flush that commits a new W in between has not deleted the Redis
buckets we read yet (it deletes after its commit), and the table we then
read already holds every second below that new W. Read the other way round,
a flush could move W and delete the seconds between the old and new W from
Redis after we read the old W: they would be missing from both halves.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.utils import timezone

from apps.core.errors import AppError
from apps.streams.aggregator.live import live_buckets, second_moment, unix_second

GRAINS = {"second": 1, "minute": 60}
MAX_WINDOW_SECONDS = 86_400
MAX_BUCKETS = 3_600  # an answer's size: an hour at second grain, a day at minute grain
MAX_NAME_LENGTH = 100

HISTORY_SQL = """
WITH w AS (SELECT (SELECT watermark FROM streams_aggregator_state WHERE client_id = %(client_id)s) AS watermark)
SELECT w.watermark, h.bucket, h.count, h.sum, h.min, h.max
FROM w
LEFT JOIN LATERAL (
    SELECT time_bucket(%(grain)s::interval, s.bucket) AS bucket, sum(s.count)::bigint AS count,
           sum(s.sum) AS sum, min(s.min) AS min, max(s.max) AS max
    FROM streams_telemetry_second s
    WHERE s.client_id = %(client_id)s AND s.sensor = %(sensor)s
      AND (%(device_id)s::varchar IS NULL OR s.device_id = %(device_id)s)
      AND s.bucket >= %(start)s AND s.bucket < LEAST(COALESCE(w.watermark, '-infinity'), %(end)s)
    GROUP BY 1
) h ON true
ORDER BY h.bucket
"""


@dataclass(frozen=True)
class CurrentBucket:
    bucket: datetime
    count: int
    sum: float
    min: float
    max: float
    source: str  # history (the table), live (Redis) or mixed (a minute across the watermark)

    @property
    def avg(self) -> float | None:
        return self.sum / self.count if self.count else None


@dataclass(frozen=True)
class CurrentView:
    sensor: str
    device_id: str | None
    grain: str
    start: datetime  # inclusive
    end: datetime  # exclusive: the end of the current second
    watermark: datetime | None  # seconds before it come from the table; None: never flushed
    buckets: tuple[CurrentBucket, ...]
    count: int
    sum: float
    min: float | None
    max: float | None

    @property
    def avg(self) -> float | None:
        return self.sum / self.count if self.count else None


def current_parameters_check(*, sensor: str, device_id: str | None, seconds: int, grain: str) -> None:
    """Raise AppError naming the first bad parameter."""
    if not isinstance(sensor, str) or not 1 <= len(sensor.strip()) <= MAX_NAME_LENGTH:
        raise AppError(
            "sensor is required: the sensor's name (1-100 characters).", code="invalid_parameter",
            details={"sensor": sensor},
        )  # fmt: skip
    if device_id is not None and not 1 <= len(device_id.strip()) <= MAX_NAME_LENGTH:
        raise AppError(
            "device_id must be 1-100 characters (omit it for every device).", code="invalid_parameter",
            details={"device_id": device_id},
        )  # fmt: skip
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= MAX_WINDOW_SECONDS:
        raise AppError(
            f"seconds must be a whole number from 1 to {MAX_WINDOW_SECONDS}.", code="invalid_parameter",
            details={"seconds": seconds},
        )  # fmt: skip
    if grain not in GRAINS:
        raise AppError(f"grain must be one of {', '.join(GRAINS)}.", code="invalid_parameter", details={"grain": grain})
    if seconds > MAX_BUCKETS * GRAINS[grain]:
        raise AppError(
            f"seconds={seconds} at grain {grain} makes more than {MAX_BUCKETS} buckets; "
            f"ask for at most {MAX_BUCKETS * GRAINS[grain]} seconds or a coarser grain.",
            code="invalid_parameter",
            details={"seconds": seconds, "grain": grain},
        )


def telemetry_current(
    *, client_id: int, sensor: str, device_id: str | None = None, seconds: int = 300, grain: str = "second",
    now: datetime | None = None,
) -> CurrentView:  # fmt: skip
    """The sensor's buckets (all devices merged, or one device) over the
    `seconds` up to and including the current second, at `grain`; at minute
    grain the first minute holds only the seconds inside the window."""
    current_parameters_check(sensor=sensor, device_id=device_id, seconds=seconds, grain=grain)
    sensor = sensor.strip()
    device_id = device_id.strip() if device_id is not None else None
    width = GRAINS[grain]
    end_second = unix_second(now or timezone.now()) + 1
    start_second = end_second - seconds

    live = live_buckets(
        client_id=client_id, sensor=sensor, device_id=device_id, min_second=start_second, max_second=end_second
    )
    with connection.cursor() as cursor:
        cursor.execute(
            HISTORY_SQL,
            {
                "client_id": client_id,
                "sensor": sensor,
                "device_id": device_id,
                "grain": f"{width} seconds",
                "start": second_moment(start_second),
                "end": second_moment(end_second),
            },
        )
        rows = cursor.fetchall()
    watermark = rows[0][0]
    watermark_second = unix_second(watermark) if watermark else None

    merged: dict[int, list] = {}
    sources: defaultdict[int, set[str]] = defaultdict(set)

    def add(key: int, count: int, total: float, low: float, high: float, source: str) -> None:
        entry = merged.get(key)
        if entry is None:
            merged[key] = [count, total, low, high]
        else:
            entry[0] += count
            entry[1] += total
            entry[2] = min(entry[2], low)
            entry[3] = max(entry[3], high)
        sources[key].add(source)

    for _, bucket, count, total, low, high in rows:
        if bucket is not None:
            add(unix_second(bucket), int(count), float(total), float(low), float(high), "history")
    for item in live:
        if watermark_second is None or item.second >= watermark_second:
            add(item.second - item.second % width, item.count, item.sum, item.min, item.max, "live")

    buckets = tuple(
        CurrentBucket(
            bucket=second_moment(key),
            count=count,
            sum=total,
            min=low,
            max=high,
            source=sources[key].pop() if len(sources[key]) == 1 else "mixed",
        )
        for key, (count, total, low, high) in sorted(merged.items())
    )
    return CurrentView(
        sensor=sensor,
        device_id=device_id,
        grain=grain,
        start=second_moment(start_second),
        end=second_moment(end_second),
        watermark=watermark,
        buckets=buckets,
        count=sum(b.count for b in buckets),
        sum=sum(b.sum for b in buckets),
        min=min((b.min for b in buckets), default=None),
        max=max((b.max for b in buckets), default=None),
    )
