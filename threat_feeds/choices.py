"""Enumerations shared by models, services and the API."""

from __future__ import annotations

from django.db import models


class SourceType(models.TextChoices):
    TAXII21 = "taxii21", "TAXII 2.1 collection"
    STIX_BUNDLE = "stix_bundle", "STIX bundle"
    OTX = "otx", "AlienVault OTX"
    VIRUSTOTAL = "virustotal", "VirusTotal enrichment"


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    STOPPING = "stopping"
    CANCELLING = "cancelling"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    UNDONE = "undone"  # a finished run whose effects were removed afterwards (run_undo)

    @classmethod
    def active(cls) -> tuple[str, ...]:
        return (cls.QUEUED, cls.RUNNING, cls.STOPPING, cls.CANCELLING)

    @classmethod
    def terminal(cls) -> tuple[str, ...]:
        return (cls.COMPLETED, cls.FAILED, cls.STOPPED, cls.CANCELLED, cls.INTERRUPTED, cls.UNDONE)

    @classmethod
    def undoable(cls) -> tuple[str, ...]:
        """Finished runs whose writes are still in the store (cancelled and undone ones were rolled back)."""
        return (cls.COMPLETED, cls.FAILED, cls.STOPPED, cls.INTERRUPTED)


class RunStage(models.TextChoices):
    CONNECTING = "connecting"
    FETCHING = "fetching"
    STORING = "storing"
    ENRICHING = "enriching"
    WAITING = "waiting"  # Retry-After, backoff or quota wait: still cancellable
    ROLLING_BACK = "rolling_back"
    FINALIZING = "finalizing"


class Trigger(models.TextChoices):
    API = "api"
    DASHBOARD = "dashboard"
    SCHEDULE = "schedule"
    CLI = "cli"
    RESUME = "resume"  # started by the reaper to resume a run whose worker died
    CELERY = "celery"  # an operator's revoke/terminate through Celery's CLI or Flower


class CancelMode(models.TextChoices):
    STOP_NOW = "stop_now"
    CANCEL_JOB = "cancel_job"


# Not a cancel: a worker shutting down hands its run back to the queue (running -> queued).
HAND_BACK = "hand_back"


class ObjectAction(models.TextChoices):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
