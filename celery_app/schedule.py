"""The one beat schedule module.

Features add their periodic tasks here (retention scan, rollup refresh,
directory sync, ...), each with `options={"expires": ...}` so a backlog never
piles up. django-celery-beat's DatabaseScheduler syncs these entries into its
tables, where the admin can see, pause and add schedules at run time.
"""

BEAT_SCHEDULE: dict[str, dict] = {}
