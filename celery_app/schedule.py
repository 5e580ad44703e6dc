"""The one beat schedule module.

Features add their periodic tasks here (retention scan, rollup refresh,
directory sync, ...), each with `options={"expires": ...}` so a backlog never
piles up. django-celery-beat's DatabaseScheduler syncs these entries into its
tables, where the admin can see, pause and add schedules at run time.
"""

from celery.schedules import crontab

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
}
