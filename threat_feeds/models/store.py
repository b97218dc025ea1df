"""The deduplicated intelligence store and the provenance that makes exact rollback possible."""

from __future__ import annotations

from django.db import models

from threat_feeds.choices import ObjectAction


class StixObject(models.Model):
    """The current version of one STIX object, kept whole as received."""

    stix_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    spec_version = models.CharField(max_length=10, blank=True)  # "" = STIX 2.0 (no spec_version)
    created = models.DateTimeField(null=True, blank=True)
    modified = models.DateTimeField(null=True, blank=True)
    data = models.JSONField()
    first_seen_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.stix_id


class StixObjectVersion(models.Model):
    """A version that a run replaced; cancel_job of that run puts it back."""

    # Written and deleted in bulk by upsert and rollback: no DB constraints (see _BULK below);
    # their deferred checks were 60 % of a 100k-object rollback (bench.cancel).
    stix_object = models.ForeignKey(
        StixObject, on_delete=models.CASCADE, related_name="versions", db_constraint=False
    )
    modified = models.DateTimeField(null=True, blank=True)
    data = models.JSONField()
    superseded_by_run = models.ForeignKey(
        "threat_feeds.FeedRun", null=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )
    superseded_at = models.DateTimeField()

    class Meta:
        ordering = ["-superseded_at", "-id"]


# Provenance rows are written in bulk, one per object per run. Their foreign keys carry no database
# constraint (each would cost a deferred trigger check per row at every commit, the largest single
# cost of a batch); the upsert writes them from rows it has just joined, rollback deletes them
# before their targets, and the ORM's on_delete still cascades.
_BULK = {"db_constraint": False}


class ObjectProvenance(models.Model):
    """Which run provided which object, and what it did to it."""

    run = models.ForeignKey(
        "threat_feeds.FeedRun", on_delete=models.CASCADE, related_name="object_links", **_BULK
    )
    feed = models.ForeignKey("threat_feeds.ThreatFeed", on_delete=models.CASCADE, related_name="+", **_BULK)
    stix_object = models.ForeignKey(
        StixObject, on_delete=models.CASCADE, related_name="provenance", db_index=False, **_BULK
    )
    action = models.CharField(max_length=10, choices=ObjectAction.choices)
    previous_version = models.ForeignKey(
        StixObjectVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        **_BULK,
    )
    seen_at = models.DateTimeField()

    class Meta:
        # Every index costs on each bulk insert: this one serves the upsert's conflict target and
        # rollback's "does another run provide it?"; run_id and feed_id have their FK indexes.
        constraints = [models.UniqueConstraint(fields=["stix_object", "run"], name="one_link_per_run_object")]


class Indicator(models.Model):
    """An observable value (kind + value) deduplicated across feeds."""

    kind = models.CharField(max_length=60)
    value = models.CharField(max_length=2048)
    first_seen_at = models.DateTimeField()
    # VirusTotal (or other) enrichment: verdict stats, reputation, tags, first/last seen.
    enrichment = models.JSONField(default=dict, blank=True)
    enriched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["kind", "value"], name="unique_indicator_kind_value")]
        indexes = [models.Index(fields=["value"])]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class IndicatorProvenance(models.Model):
    """An indicator value extracted from one STIX object's pattern, by one run."""

    indicator = models.ForeignKey(
        Indicator, on_delete=models.CASCADE, related_name="provenance", db_index=False, **_BULK
    )
    run = models.ForeignKey(
        "threat_feeds.FeedRun", on_delete=models.CASCADE, related_name="indicator_links", **_BULK
    )
    feed = models.ForeignKey("threat_feeds.ThreatFeed", on_delete=models.CASCADE, related_name="+", **_BULK)
    stix_object = models.ForeignKey(
        StixObject, on_delete=models.CASCADE, related_name="indicator_links", **_BULK
    )
    path = models.CharField(max_length=300)  # the pattern's object path, e.g. file:hashes.'SHA-256'
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["indicator", "run", "stix_object", "path"], name="one_indicator_link_per_run"
            )
        ]


class IndicatorEnrichment(models.Model):
    """One enrichment run's write to one indicator, with what it replaced: cancel_job puts that back."""

    run = models.ForeignKey("threat_feeds.FeedRun", on_delete=models.CASCADE, related_name="enrichments")
    # No database constraint: a TAXII rollback deletes indicators with raw SQL (after these rows).
    indicator = models.ForeignKey(
        Indicator, on_delete=models.CASCADE, related_name="enrichment_links", db_constraint=False
    )
    source = models.CharField(max_length=40)  # the key written in Indicator.enrichment, e.g. "virustotal"
    previous_enrichment = models.JSONField(default=dict, blank=True)
    previous_enriched_at = models.DateTimeField(null=True, blank=True)
    enriched_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "indicator"], name="one_enrichment_per_run")]
        indexes = [models.Index(fields=["indicator", "-id"])]
