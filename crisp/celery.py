"""The Celery application; tasks live in threat_feeds/tasks.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crisp.settings")

app = Celery("crisp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The reaper finalises runs whose worker died (SPEC §11); beat syncs this into django-celery-beat.
app.conf.beat_schedule = {
    "reap-stale-runs": {"task": "threat_feeds.reap_stale_runs_task", "schedule": 5.0},
}
