"""Undo every write of one run (cancel_job): set-based, exact whatever else runs, and safe to repeat.

The store is a function of the provenance links: an object's current version is the greatest of
the versions some run still links (RECOMPUTE), a version lives while a link points at it, an
indicator while a link extracted from some run's object points at it. Rolling a run back is
therefore: lock what it touched, delete its links, drop the versions, objects and indicators
nobody links any more, and recompute the current version of the objects whose current version
it had linked. Nothing depends on the order in which runs came and went, so the result is exactly
the store without that run. Indicators an enrichment run changed get their previous enrichment
back (unless a later run enriched them since).

Lock order (shared with ingest and finalisation, docs/ARCHITECTURE.md): run row (the caller,
`run_finalize`, holds it) -> object rows by stix_id -> indicator rows by (kind, value) -> feed row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from threat_feeds.models import IndicatorEnrichment
from threat_feeds.pipeline.upsert import IND, IPROV, OBJ, PROV, VER

ENR = IndicatorEnrichment._meta.db_table

_TEMP = {
    "postgresql": "CREATE TEMP TABLE IF NOT EXISTS crisp_rb_{name} (id bigint PRIMARY KEY) ON COMMIT DELETE ROWS",
    "sqlite": "CREATE TEMP TABLE IF NOT EXISTS crisp_rb_{name} (id integer PRIMARY KEY)",
}

# The current version of each object in crisp_rb_current: of the versions that some run links, the
# greatest by (has `modified`, `modified`, newest link). Ingest's forward rule is the same order.
RECOMPUTE = f"""
SELECT ranked.stix_object_id, ranked.version_id FROM (
    SELECT v.stix_object_id, v.id AS version_id, ROW_NUMBER() OVER (
        PARTITION BY v.stix_object_id
        ORDER BY (v.modified IS NULL), v.modified DESC, l.last_link DESC) AS rank
    FROM {VER} v JOIN (
        SELECT p.version_id, MAX(p.id) AS last_link FROM {PROV} p
        WHERE p.stix_object_id IN (SELECT id FROM crisp_rb_current) GROUP BY p.version_id
    ) l ON l.version_id = v.id
) ranked WHERE ranked.rank = 1
"""


@dataclass(slots=True)
class RollbackResult:
    removed: int
    restored: int  # objects given their previous version back, and indicators their previous enrichment
    indicators_removed: int


def run_rollback(run_id: int) -> RollbackResult:
    """Remove what run `run_id` wrote to the store. Idempotent: a second call finds nothing to do."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    postgres = connection.vendor == "postgresql"
    with transaction.atomic(), connection.cursor() as cur:
        for name in ("objects", "current", "indicators"):
            cur.execute(_TEMP[connection.vendor].format(name=name))
            cur.execute(f"DELETE FROM crisp_rb_{name}")
        # The run's objects, locked in the order ingest locks them (stix_id).
        lock = " ORDER BY o.stix_id FOR UPDATE" if postgres else ""
        cur.execute(
            f"""INSERT INTO crisp_rb_objects (id) SELECT o.id FROM {OBJ} o
            WHERE o.id IN (SELECT stix_object_id FROM {PROV} WHERE run_id = %s){lock}""",
            [run_id],
        )
        if postgres:  # temp tables get no autovacuum statistics; the joins below need them
            cur.execute("ANALYZE crisp_rb_objects")
        cur.execute(
            f"INSERT INTO crisp_rb_indicators (id) SELECT DISTINCT indicator_id FROM {IPROV} WHERE run_id = %s",
            [run_id],
        )
        if postgres:
            cur.execute(
                f"""SELECT i.id FROM {IND} i
                WHERE i.id IN (SELECT id FROM crisp_rb_indicators)
                   OR i.id IN (SELECT indicator_id FROM {ENR} WHERE run_id = %s)
                ORDER BY i.kind, i.value FOR UPDATE""",
                [run_id],
            )

        cur.execute(f"DELETE FROM {PROV} WHERE run_id = %s", [run_id])
        cur.execute(
            f"""DELETE FROM {VER} WHERE stix_object_id IN (SELECT id FROM crisp_rb_objects)
            AND NOT EXISTS (SELECT 1 FROM {PROV} p
                            WHERE p.stix_object_id = {VER}.stix_object_id AND p.version_id = {VER}.id)"""
        )
        cur.execute(
            f"""DELETE FROM {OBJ} WHERE id IN (SELECT id FROM crisp_rb_objects)
            AND NOT EXISTS (SELECT 1 FROM {PROV} p WHERE p.stix_object_id = {OBJ}.id)"""
        )
        removed = max(cur.rowcount, 0)
        # Only objects whose current version lost links can change: a version that is not current
        # only loses rank by losing links. Dated: the current version is gone (still linked, it is
        # still the newest). Undated (ranked by newest link): any of them may have lost its newest.
        cur.execute(
            f"""INSERT INTO crisp_rb_current (id)
            SELECT o.id FROM {OBJ} o JOIN crisp_rb_objects r ON r.id = o.id
            WHERE o.modified IS NULL OR NOT EXISTS (
                SELECT 1 FROM {VER} v WHERE v.stix_object_id = o.id AND v.version_key = o.version_key)"""
        )
        cur.execute(
            f"""UPDATE {OBJ} SET type = v.type, spec_version = v.spec_version, created = v.created,
                modified = v.modified, data = v.data, version_key = v.version_key, updated_at = %s
            FROM ({RECOMPUTE}) best JOIN {VER} v ON v.id = best.version_id
            WHERE {OBJ}.id = best.stix_object_id AND {OBJ}.version_key <> v.version_key""",
            [now],
        )
        restored = max(cur.rowcount, 0)

        restored += _restore_enrichments(cur, run_id)
        cur.execute(f"DELETE FROM {IPROV} WHERE run_id = %s", [run_id])
        cur.execute(
            f"""DELETE FROM {ENR} WHERE indicator_id IN (SELECT id FROM crisp_rb_indicators)
            AND NOT EXISTS (SELECT 1 FROM {IPROV} l WHERE l.indicator_id = {ENR}.indicator_id)"""
        )
        cur.execute(
            f"""DELETE FROM {IND} WHERE id IN (SELECT id FROM crisp_rb_indicators)
            AND NOT EXISTS (SELECT 1 FROM {IPROV} l WHERE l.indicator_id = {IND}.id)"""
        )
        indicators_removed = max(cur.rowcount, 0)
    return RollbackResult(removed=removed, restored=restored, indicators_removed=indicators_removed)


def _restore_enrichments(cur: Any, run_id: int) -> int:
    """Give indicators the enrichment they had before this run, unless a later run enriched them since."""
    cur.execute(
        f"""UPDATE {IND} SET enrichment = e.previous_enrichment, enriched_at = e.previous_enriched_at
        FROM {ENR} e
        WHERE e.run_id = %s AND {IND}.id = e.indicator_id
          AND NOT EXISTS (SELECT 1 FROM {ENR} later WHERE later.indicator_id = e.indicator_id
                          AND later.id > e.id AND later.run_id <> %s)""",
        [run_id, run_id],
    )
    restored = cur.rowcount
    cur.execute(f"DELETE FROM {ENR} WHERE run_id = %s", [run_id])
    return restored
