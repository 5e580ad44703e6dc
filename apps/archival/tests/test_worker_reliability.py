"""The archival worker as a real `manage.py run_consumers --group archival`
subprocess on the test database and the test Redis, killed with SIGKILL
after it wrote and verified a chunk's Parquet file but before it confirmed
(a pause injected by apps/archival/tests/pause_before_confirm.py), then
restarted: every chunk ends with one file, one COMPLETED job and one
confirmation."""

import signal

import pyarrow.parquet as pq
import pytest
from django.conf import settings

from apps.archival.models import ArchivalJob
from apps.archival.tests.arch_fixtures import OLD_DAYS, arch_confirmations, arch_event
from apps.archival.tests.pause_before_confirm import PAUSE_ENV, PAUSED_LOG
from apps.core.tests.waiting import wait_until
from apps.messaging.bus import bus_connection, bus_url, publish_message, stream_key
from apps.messaging.tests.bus_fixtures import ConsumerProcess
from apps.warehouse.types import ARCHIVAL_EVENTS_TOPIC

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def consumer(bus_prefix, arch_lake, tmp_path):
    process = ConsumerProcess(
        tmp_path,
        redis_url=bus_url(),
        prefix=bus_prefix,
        groups=["archival"],
        LAKEHOUSE_ROOT=str(arch_lake),
        ARCHIVAL_TEST_PAUSE_BEFORE_CONFIRM_SECONDS="60",
    )
    # The pause is injected by a test module the worker loads, not by production code.
    process.env["MESSAGING_EXTRA_HANDLER_MODULES"] += ",apps.archival.tests.pause_before_confirm"
    yield process
    process.close()


def test_a_worker_killed_between_write_and_confirmation_archives_each_chunk_once(consumer, arch_table, arch_lake):
    assert settings.LAKEHOUSE_TARGETS["default"]["ROOT"] == str(arch_lake)
    event = arch_event(arch_table)
    publish_message(ARCHIVAL_EVENTS_TOPIC, event, correlation_id="corr-kill")
    first_chunk = event.chunks[0].chunk_name

    def paused() -> bool:
        # The worker logs the pause once the file is written and verified: then it sleeps 60 s.
        if PAUSED_LOG not in consumer.log_path.read_text(errors="replace"):
            return False
        job = ArchivalJob.objects.filter(event_id=event.event_id, chunk_name=first_chunk).first()
        return job is not None and job.status == ArchivalJob.Status.PROCESSING and any(arch_lake.rglob("*.parquet"))

    first = consumer.start()
    wait_until(paused, timeout=60, what="the first chunk written, not yet confirmed", logs=consumer.logs)
    first.signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert len(list(arch_lake.rglob("*.parquet"))) == 1
    assert arch_confirmations() == []

    consumer.env[PAUSE_ENV] = "0"
    second = consumer.start()
    wait_until(
        lambda: (
            ArchivalJob.objects.filter(event_id=event.event_id, status=ArchivalJob.Status.COMPLETED).count() == 3
            and len(arch_confirmations()) == 3
        ),
        timeout=60,
        what="every chunk archived and confirmed",
        logs=consumer.logs,
    )
    wait_until(
        lambda: bus_connection().xpending(stream_key(ARCHIVAL_EVENTS_TOPIC), "archival")["pending"] == 0,
        timeout=15,
        what="the event acknowledged",
        logs=consumer.logs,
    )
    # Nothing more arrives: the worker finishes what it holds and exits.
    second.signal(signal.SIGTERM)
    assert second.wait(timeout=20) == 0, consumer.logs()

    files = sorted(arch_lake.rglob("*.parquet"))
    assert len(files) == 3, files
    assert not [p for p in arch_lake.rglob("*") if p.is_file() and p.suffix != ".parquet"]
    assert sum(pq.read_metadata(f).num_rows for f in files) == sum(OLD_DAYS.values())
    jobs = ArchivalJob.objects.filter(event_id=event.event_id)
    assert jobs.count() == 3
    assert jobs.get(chunk_name=first_chunk).attempts == 2  # the killed attempt counted
    confirmations = arch_confirmations()
    assert sorted(c.payload["chunk_name"] for c in confirmations) == sorted(c.chunk_name for c in event.chunks)
    assert {c.correlation_id for c in confirmations} == {"corr-kill"}
