"""The one beat schedule module.

Features add their periodic tasks here (retention scan, rollup refresh,
directory sync, ...), each with `options={"expires": ...}` so a backlog never
piles up. django-celery-beat's DatabaseScheduler syncs these entries into its
tables, where the admin can see, pause and add schedules at run time.
"""

import os
from datetime import timedelta

from celery.schedules import crontab

# Read from the environment, not django.conf.settings: this module is imported
# before Django is set up (celery_app/__init__.py). Same variable and default as
# AE_STREAM_FLUSH_SECONDS in analytics_engine/settings/base.py.
STREAM_FLUSH_SECONDS = float(os.environ.get("AE_STREAM_FLUSH_SECONDS", "5"))
# Same variable and default as AE_DIRECTORY_SYNC_INTERVAL_MINUTES in settings/base.py.
DIRECTORY_SYNC_MINUTES = int(os.environ.get("AE_DIRECTORY_SYNC_INTERVAL_MINUTES", "60"))

BEAT_SCHEDULE: dict[str, dict] = {
    # Reconcile every client's analytics_data tables with the ontology (safe
    # repairs only). Off the hour, away from the top-of-hour rush; a run not
    # started within 50 minutes is dropped, the next one is due anyway.
    "ontology-drift-check-all": {
        "task": "ontology.drift_check_all",
        "schedule": crontab(minute=17),
        "options": {"expires": 50 * 60},
    },
    # Retention: archive (or drop) chunks older than their policy allows.
    # Between the drift check and the top of the hour.
    "warehouse-retention-scan": {
        "task": "warehouse.retention_scan",
        "schedule": crontab(minute=41),
        "options": {"expires": 50 * 60},
    },
    # Rollups: enqueue the refresh of every rollup whose own cron schedule
    # (Rollup.schedule, editable in the API/admin) is due. A tick not started
    # within 55 seconds is dropped: the next one claims the same rollups.
    "calculations-rollups-refresh-due": {
        "task": "calculations.rollups_refresh_due",
        "schedule": crontab(),
        "options": {"expires": 55},
    },
    # Live KPIs: the period publisher pushes the current and just-closed
    # minute/hour/day buckets of every metric a dashboard listens to
    # (docs/live.md). A round not started within 55 seconds is dropped: the
    # next one computes the same buckets, fresher.
    "calculations-live-publish-periods": {
        "task": "calculations.live_publish_periods",
        "schedule": crontab(),
        "options": {"expires": 55},
    },
    # Webhook deliveries whose task was lost (an enqueue that failed at commit):
    # queued again once they are MESSAGING_WEBHOOK_SWEEP_GRACE_SECONDS overdue.
    "messaging-webhook-deliveries-resume": {
        "task": "messaging.webhook_deliveries_resume",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 240},
    },
    # Expired refresh tokens leave the token deny list (docs/api.md "Revocation").
    "core-tokens-flush-expired": {
        "task": "core.tokens_flush_expired",
        "schedule": crontab(minute=29, hour=3),
        "options": {"expires": 3600},
    },
    # Stream aggregator (docs/live.md): write the live per-second telemetry
    # buckets behind to TimescaleDB and move each client's watermark. Every few
    # seconds (AE_STREAM_FLUSH_SECONDS); a tick not started within that is dropped:
    # the next one flushes the same seconds.
    "streams-aggregator-flush": {
        "task": "streams.aggregator_flush",
        "schedule": timedelta(seconds=STREAM_FLUSH_SECONDS),
        "options": {"expires": STREAM_FLUSH_SECONDS},
    },
    # Directory sync (docs/directory-sync.md): a run for every enabled Azure AD
    # provider of every active client, every AE_DIRECTORY_SYNC_INTERVAL_MINUTES.
    # A sweep not started within the interval is dropped: the next one queues
    # the same runs (a provider with a run queued or running is left alone).
    "identity-directory-sync-all": {
        "task": "identity.directory_sync_all",
        "schedule": timedelta(minutes=DIRECTORY_SYNC_MINUTES),
        "options": {"expires": DIRECTORY_SYNC_MINUTES * 60},
    },
    # Ingestion runs whose worker died (left `running`, their job's lock free):
    # marked failed so the job may run again (docs/sources.md, "Faults").
    "ingestion-runs-sweep": {
        "task": "ingestion.runs_sweep",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 240},
    },
}
