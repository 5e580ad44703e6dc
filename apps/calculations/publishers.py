"""The event calculations publishes: `metric.calculated`, one per computed
point of a live recalculation (docs/live.md, docs/events.md). Its topic and
payload model are in types.py (other apps' bus handlers read them); the
schema is registered here, imported at start (apps.py)."""

from collections.abc import Iterable, Iterator

from apps.calculations.types import METRIC_CALCULATED, MetricCalculatedV1, MetricResult
from apps.messaging.services import publish_bulk, register_schema
from apps.messaging.types import Message

PUBLISH_CHUNK = 500

register_schema(METRIC_CALCULATED, 1, MetricCalculatedV1)


def point_payloads(result: MetricResult, *, source: str) -> Iterator[dict]:
    """The metric.calculated payload of every point of `result` that has a bucket."""
    for point in result.series:
        if point.bucket is None:
            continue
        yield MetricCalculatedV1(
            metric=result.metric,
            value=point.value,
            dims=point.dims,
            bucket=point.bucket,
            granularity=result.granularity,
            unit=result.unit,
            computed_at=result.computed_at,
            source=source,
        ).model_dump(mode="json")


def points_publish(*, client_code: str | None, points: Iterable[dict]) -> None:
    """Publish points as `metric.calculated` events of the tenant, in bulk."""
    points = list(points)
    for i in range(0, len(points), PUBLISH_CHUNK):
        publish_bulk([Message(METRIC_CALCULATED, point, tenant=client_code) for point in points[i : i + PUBLISH_CHUNK]])
