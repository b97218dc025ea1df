"""The deduplicated intelligence store and the provenance that makes exact rollback possible."""

from __future__ import annotations

from django.db import models

from threat_feeds.choices import ObjectAction


class StixObject(models.Model):
    """One STIX object: a copy of its current version, the newest one that a live run provides.

    The copy is what readers see; `version_key` names the version it is (see StixObjectVersion).
    Only ingest (forward) and rollback (recompute) change it, under this row's lock.
    """

    stix_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    spec_version = models.CharField(max_length=10, blank=True)  # "" = STIX 2.0 (no spec_version)
    created = models.DateTimeField(null=True, blank=True)
    modified = models.DateTimeField(null=True, blank=True)
    data = models.JSONField()
    version_key = models.CharField(max_length=80, default="")
    first_seen_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        # Declared here rather than unique=True / db_index=True, which would also add a
        # varchar_pattern_ops ("_like") index per column: nothing filters by prefix, and every index
        # costs on each ingested object.
        constraints = [models.UniqueConstraint(fields=["stix_id"], name="unique_stix_id")]
        indexes = [models.Index(fields=["type"], name="stixobject_type")]

    def __str__(self) -> str:
        return self.stix_id


# Versions and provenance rows are written in bulk. Their foreign keys carry no database
# constraint (each would cost a deferred trigger check per row at every commit, the largest single
# cost of a batch); ingest writes them from rows it has just joined under the object's row lock,
# rollback deletes them under the same lock, and the ORM's on_delete still cascades.
_BULK = {"db_constraint": False}


class StixObjectVersion(models.Model):
    """One version of one object, stored once and never changed.

    STIX names a version by (id, modified); objects without `modified` (SCOs) get a version per
    content hash. `version_key` is that name (pipeline/versions.py). A version lives as long as at
    least one run's provenance link points at it.
    """

    # No index of its own: one_version_per_key (stix_object, version_key) serves it.
    stix_object = models.ForeignKey(
        StixObject, on_delete=models.CASCADE, related_name="versions", db_index=False, **_BULK
    )
    version_key = models.CharField(max_length=80)
    type = models.CharField(max_length=100)
    spec_version = models.CharField(max_length=10, blank=True)
    created = models.DateTimeField(null=True, blank=True)
    modified = models.DateTimeField(null=True, blank=True)
    data = models.JSONField()
    first_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["stix_object", "-modified", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["stix_object", "version_key"], name="one_version_per_key")
        ]
        # TAXII pages versions by (date_added, id) with a keyset (threat_feeds/taxii/backend.py).
        indexes = [models.Index(fields=["first_seen_at", "id"], name="version_date_added")]


class ObjectProvenance(models.Model):
    """Run `run` (of `feed`) delivered `version` of `stix_object`; `action` is what that did to the
    current object (created / updated = moved it forward / unchanged)."""

    run = models.ForeignKey(
        "threat_feeds.FeedRun", on_delete=models.CASCADE, related_name="object_links", **_BULK
    )
    feed = models.ForeignKey(
        "threat_feeds.ThreatFeed", on_delete=models.CASCADE, related_name="+", db_index=False, **_BULK
    )
    stix_object = models.ForeignKey(
        StixObject, on_delete=models.CASCADE, related_name="provenance", db_index=False, **_BULK
    )
    version = models.ForeignKey(
        StixObjectVersion, on_delete=models.CASCADE, related_name="links", db_index=False, **_BULK
    )
    action = models.CharField(max_length=10, choices=ObjectAction.choices)
    seen_at = models.DateTimeField()

    class Meta:
        # Every index costs on each bulk insert: the unique one serves ingest's conflict target,
        # "which versions of this object does anyone still provide" (rollback) and an object's
        # history; run_id has its FK index. The feed index names the version too: "does this feed
        # provide this version" (a TAXII feed collection, per row) is then one probe, where a
        # feed_id-only index made SQLite scan the feed's links per version (minutes for ATT&CK).
        constraints = [
            models.UniqueConstraint(fields=["stix_object", "version", "run"], name="one_link_per_run_version")
        ]
        indexes = [models.Index(fields=["feed", "stix_object", "version"], name="link_feed_object_version")]


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
