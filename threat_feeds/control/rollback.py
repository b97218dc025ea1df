"""Undo every write of one run (cancel_job): set-based, exact, and safe to repeat.

Created objects go unless another run also provides them; updated objects get the version the
run replaced (unless a later run has changed them since); indicators an enrichment run changed get
their previous enrichment back (same rule); the run's provenance goes.
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


@dataclass(slots=True)
class RollbackResult:
    removed: int
    restored: int  # objects given their previous version back, and indicators their previous enrichment
    indicators_removed: int


def run_rollback(run_id: int) -> RollbackResult:
    """Remove what run `run_id` wrote to the store. Idempotent: a second call finds nothing to do."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with transaction.atomic(), connection.cursor() as cur:
        for name in ("objects", "indicators"):
            cur.execute(_TEMP[connection.vendor].format(name=name))
            cur.execute(f"DELETE FROM crisp_rb_{name}")
        cur.execute(
            f"""INSERT INTO crisp_rb_objects (id)
            SELECT p.stix_object_id FROM {PROV} p
            WHERE p.run_id = %s AND p.action = 'created'
              AND NOT EXISTS (SELECT 1 FROM {PROV} o WHERE o.stix_object_id = p.stix_object_id AND o.run_id <> %s)""",
            [run_id, run_id],
        )
        cur.execute(
            f"INSERT INTO crisp_rb_indicators (id) SELECT DISTINCT indicator_id FROM {IPROV} WHERE run_id = %s",
            [run_id],
        )
        # Restore replaced versions, unless another run superseded this run's version since.
        cur.execute(
            f"""UPDATE {OBJ} SET data = v.data, modified = v.modified, updated_at = %s
            FROM {PROV} p JOIN {VER} v ON v.id = p.previous_version_id
            WHERE p.run_id = %s AND p.action = 'updated' AND {OBJ}.id = p.stix_object_id
              AND NOT EXISTS (
                SELECT 1 FROM {VER} later WHERE later.stix_object_id = p.stix_object_id
                  AND later.id > v.id AND later.superseded_by_run_id <> %s)""",
            [now, run_id, run_id],
        )
        restored = cur.rowcount
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
        indicators_removed = cur.rowcount
        cur.execute(f"DELETE FROM {PROV} WHERE run_id = %s", [run_id])
        cur.execute(f"DELETE FROM {VER} WHERE superseded_by_run_id = %s", [run_id])
        cur.execute(f"DELETE FROM {VER} WHERE stix_object_id IN (SELECT id FROM crisp_rb_objects)")
        cur.execute(f"DELETE FROM {IPROV} WHERE stix_object_id IN (SELECT id FROM crisp_rb_objects)")
        cur.execute(f"DELETE FROM {OBJ} WHERE id IN (SELECT id FROM crisp_rb_objects)")
        removed = cur.rowcount
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
