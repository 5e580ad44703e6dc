"""Background work of the live feeds: the stream aggregator's write-behind
flush (docs/live.md, "Stream aggregator"), run by beat every
AE_STREAM_FLUSH_SECONDS."""

from celery import shared_task

from apps.streams.aggregator.services import aggregator_flush_all


@shared_task(name="streams.aggregator_flush", ignore_result=False)
def aggregator_flush_task() -> dict:
    """Flush every client with something to flush. No retry policy: the next
    beat tick, seconds away, does the same work (it is idempotent), and a
    run that failed left nothing half-done (one transaction per client)."""
    results = aggregator_flush_all()
    return {
        "clients": len(results),
        "seconds": sum(result.seconds for result in results),
        "watermarks": {
            str(result.client_id): result.watermark.isoformat() for result in results if result.watermark is not None
        },
    }
