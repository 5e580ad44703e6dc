"""The archival worker in process: the real bus (a GroupWorker of the
`archival` group on the test Redis), the real hypertable, the local
lakehouse in tmp_path. Transactional tests: job status is committed on
connections of its own."""

from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from django.db import connection
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from psycopg import sql

from apps.archival.models import ArchivalJob
from apps.archival.services import archive_path
from apps.archival.tests.arch_fixtures import LOCAL_BACKEND, OLD_DAYS, arch_confirmations, arch_event
from apps.messaging.models import DeadLetter
from apps.messaging.services import publish_message
from apps.warehouse.types import ARCHIVAL_EVENTS_TOPIC, ArchivalConfirmation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def spans():
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def metric(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def archive(make_worker, event, correlation_id: str = "corr-arch-1"):
    publish_message(ARCHIVAL_EVENTS_TOPIC, event, correlation_id=correlation_id, tenant=None)
    worker = make_worker("archival")
    worker.drain(timeout=60)
    return worker


def test_old_chunks_become_verified_parquet_files_and_confirmations(make_worker, arch_table, arch_lake, spans):
    event = arch_event(arch_table)
    assert len(event.chunks) == 3, "the recent chunk is not in the event"
    archived_before = metric("ae_archival_chunks_total", outcome="archived")
    rows_before = metric("ae_archival_rows_total")
    spans.clear()

    archive(make_worker, event)

    jobs = list(ArchivalJob.objects.filter(event_id=event.event_id).order_by("range_start"))
    assert [j.status for j in jobs] == [ArchivalJob.Status.COMPLETED] * 3
    for job, chunk, expected in zip(jobs, event.chunks, OLD_DAYS.values(), strict=True):
        path = archive_path(table_name=arch_table, chunk_name=chunk.chunk_name, range_start=chunk.range_start)
        assert job.files == [path]
        start = chunk.range_start
        assert f"/year={start.year}/month={start.month}/day={start.day}/" in path  # no zero padding: integers
        table = pq.read_table(arch_lake / path)
        assert table.num_rows == job.row_count == expected
        assert table.schema.field("observed_at").type == pa.timestamp("us", tz="UTC")
        assert table.schema.field("premium").type == pa.decimal128(38, 10)
        assert table.schema.field("effective_on").type == pa.date32()
        assert table.column("premium")[3].as_py() == Decimal("3.03")
        assert job.bytes == (arch_lake / path).stat().st_size
        assert job.confirmed_at is not None and job.attempts == 1
    assert pq.ParquetFile(arch_lake / jobs[0].files[0]).metadata.row_group(0).column(0).compression == "ZSTD"

    # Hive partitions: a dataset over the table folder sees every row and the partition keys.
    dataset = ds.dataset(arch_lake / arch_table, format="parquet", partitioning="hive")
    assert dataset.count_rows() == sum(OLD_DAYS.values())
    assert set(dataset.to_table(columns=["day"]).column("day").to_pylist()) == {1, 2, 3}

    confirmations = arch_confirmations()
    assert len(confirmations) == 3
    payloads = [ArchivalConfirmation.model_validate(c.payload) for c in confirmations]
    assert {p.chunk_name for p in payloads} == {c.chunk_name for c in event.chunks}
    assert all(p.event_id == event.event_id for p in payloads)
    assert {p.chunk_name: p.verified_row_count for p in payloads} == {j.chunk_name: j.row_count for j in jobs}
    assert all(c.correlation_id == "corr-arch-1" for c in confirmations)

    assert metric("ae_archival_chunks_total", outcome="archived") - archived_before == 3
    assert metric("ae_archival_rows_total") - rows_before == sum(OLD_DAYS.values())
    names = [s.name for s in spans.get_finished_spans()]
    for name in ("archival.extract", "archival.write", "archival.verify", "archival.confirm", "archival.event"):
        assert names.count(name) == (1 if name == "archival.event" else 3), name
    assert {s.attributes.get("correlation_id") for s in spans.get_finished_spans()} == {"corr-arch-1"}


def test_a_second_event_for_archived_chunks_reconfirms_without_rewriting(make_worker, arch_table, arch_lake):
    first = arch_event(arch_table)
    archive(make_worker, first)
    files = sorted(arch_lake.rglob("*.parquet"))
    mtimes = [f.stat().st_mtime_ns for f in files]

    second = arch_event(arch_table)
    archive(make_worker, second, correlation_id="corr-arch-2")

    assert sorted(arch_lake.rglob("*.parquet")) == files
    assert [f.stat().st_mtime_ns for f in files] == mtimes, "an archived chunk was written again"
    jobs = ArchivalJob.objects.filter(event_id=second.event_id)
    assert [j.status for j in jobs] == [ArchivalJob.Status.COMPLETED] * 3
    assert all(j.attempts == 0 for j in jobs)
    again = [c for c in arch_confirmations() if c.payload["event_id"] == str(second.event_id)]
    assert len(again) == 3 and {c.correlation_id for c in again} == {"corr-arch-2"}

    # The same event delivered again (a duplicate publish) is applied once by the group.
    archive(make_worker, second)
    assert len(arch_confirmations()) == 6


def test_an_unwritable_lakehouse_retries_then_fails_the_job_and_confirms_nothing(
    make_worker,
    arch_table,
    settings,
    tmp_path,
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the lakehouse root's parent should be")
    settings.LAKEHOUSE_TARGETS = {"default": {"BACKEND": LOCAL_BACKEND, "ROOT": str(blocker / "lake")}}
    settings.MESSAGING_MAX_ATTEMPTS = 3
    failures_before = metric("ae_archival_failures_total")
    event = arch_event(arch_table)

    publish_message(ARCHIVAL_EVENTS_TOPIC, event)
    make_worker("archival", max_attempts=3).drain(timeout=60)

    job = ArchivalJob.objects.get(event_id=event.event_id, chunk_name=event.chunks[0].chunk_name)
    assert job.status == ArchivalJob.Status.FAILED
    assert job.attempts == 3
    assert "LakehouseError" in job.error and "Could not write" in job.error
    assert job.files == [] and job.confirmed_at is None
    # The first chunk failed every time: the later ones were never reached.
    assert ArchivalJob.objects.filter(event_id=event.event_id).count() == 1
    assert arch_confirmations() == []
    assert metric("ae_archival_failures_total") - failures_before == 3
    assert DeadLetter.objects.filter(topic=ARCHIVAL_EVENTS_TOPIC, group="archival").count() == 1


def test_the_key_checksum_does_not_depend_on_batching_and_sees_nulls():
    from apps.archival.services.parquet import KeyChecksum

    times = pa.array([1_000_000 * i for i in range(10)], type=pa.timestamp("us", tz="UTC"))
    codes = pa.array(["a", None, "", "ü", "b", "c", None, "d", "e", "f"])
    table = pa.table({"t": times, "k": codes})
    whole = KeyChecksum(["t", "k"])
    whole.update(table)
    split = KeyChecksum(["t", "k"])
    for start in (0, 3, 7):
        split.update(table.slice(start, {0: 3, 3: 4, 7: 3}[start]))
    assert split.hexdigest() == whole.hexdigest() and split.rows == 10

    changed = KeyChecksum(["t", "k"])
    changed.update(table.set_column(1, "k", pa.array(["a", "", None, "ü", "b", "c", None, "d", "e", "f"])))
    assert changed.hexdigest() != whole.hexdigest(), "a null and an empty string hash alike"


def test_decimals_decimal128_cannot_hold_are_archived_as_their_exact_text(make_worker, arch_lake):
    from apps.archival.tests.arch_fixtures import arch_table_create, arch_table_drop

    name = "arch_t_bigdec"
    arch_table_create(name, {datetime(2020, 1, 1, tzinfo=UTC): 2})
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                sql.SQL(
                    "UPDATE {} SET premium = CASE WHEN claims = 0 "
                    "THEN 123456789012345678901234567890.5 ELSE 0.123456789012345 END"
                ).format(sql.Identifier("analytics_data", name))
            )
        archive(make_worker, arch_event(name))
        job = ArchivalJob.objects.get(table_name=name)
        table = pq.read_table(arch_lake / job.files[0])
        assert table.schema.field("premium").type == pa.string()
        assert sorted(table.column("premium").to_pylist()) == ["0.123456789012345", "123456789012345678901234567890.5"]
    finally:
        arch_table_drop(name)


def test_a_stopped_adls_lakehouse_fails_the_job_and_confirms_nothing(
    make_worker,
    arch_table,
    settings,
):
    """The ADLS backend through the real SDK, its stand-in stopped: the
    archival event is retried, the job ends FAILED with the error, nothing is
    confirmed, so the warehouse drops nothing."""
    from apps.core.tests.adls_standin import AdlsStandIn

    standin = AdlsStandIn().start()
    account_url, account_key = standin.account_url, standin.account_key
    standin.stop()
    settings.LAKEHOUSE_TARGETS = {
        "default": {
            "BACKEND": "apps.core.lakehouse.adls.AdlsLakehouse",
            "ACCOUNT_URL": account_url,
            "FILE_SYSTEM": "lake",
            "ACCOUNT_KEY": account_key,
            "RETRY_TOTAL": 0,
            "TIMEOUT_SECONDS": 2,
        }
    }
    settings.MESSAGING_MAX_ATTEMPTS = 2
    event = arch_event(arch_table)

    publish_message(ARCHIVAL_EVENTS_TOPIC, event)
    make_worker("archival", max_attempts=2).drain(timeout=60)

    job = ArchivalJob.objects.get(event_id=event.event_id, chunk_name=event.chunks[0].chunk_name)
    assert job.status == ArchivalJob.Status.FAILED
    assert job.attempts == 2
    assert "LakehouseError" in job.error
    assert arch_confirmations() == []
