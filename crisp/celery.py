"""The Celery application; tasks live in threat_feeds/tasks.py, worker signal wiring in threat_feeds/worker_hooks.py."""

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

# What Celery's own tools (revoke, terminate, warm shutdown, a dead pool process) do to a run.
from threat_feeds.worker_hooks import RevokeWatch  # connects the signal handlers

app.steps["worker"].add(RevokeWatch)
