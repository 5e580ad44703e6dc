"""The Celery application: `celery -A celery_app worker|beat`."""

import os

from celery import Celery

from celery_app.schedule import BEAT_SCHEDULE

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "analytics_engine.settings.base")

app = Celery("analytics_engine")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.beat_schedule = BEAT_SCHEDULE
app.autodiscover_tasks()

__all__ = ["app"]
