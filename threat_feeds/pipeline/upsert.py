"""Bulk upsert of validated objects, their indicators and per-run provenance.

One batch is a handful of set-based statements whatever its size: the batch is loaded into a
temporary staging table (COPY on PostgreSQL, executemany on SQLite) and merged from there.
Every object a run changes leaves its previous version behind and every object it touches
leaves a provenance row, which is what lets cancel_job undo exactly this run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection as default_connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from threat_feeds.choices import ObjectAction
from threat_feeds.models import (
    Indicator,
    IndicatorProvenance,
    ObjectProvenance,
    StixObject,
    StixObjectVersion,
)
from threat_feeds.pipeline.validate import ValidObject

OBJ = StixObject._meta.db_table
VER = StixObjectVersion._meta.db_table
PROV = ObjectProvenance._meta.db_table
IND = Indicator._meta.db_table
IPROV = IndicatorProvenance._meta.db_table

_STAGE_COLUMNS = "stix_id, type, spec_version, created, modified, data, action, object_id"
_LINK_COLUMNS = "stix_id, kind, value, path"
_STAGE_DDL = {
    "postgresql": (
        (
            "CREATE TEMP TABLE IF NOT EXISTS crisp_stage_objects (stix_id text, type text, spec_version text, "
            "created timestamptz, modified timestamptz, data jsonb, action text, object_id bigint) "
            "ON COMMIT DELETE ROWS"
        ),
        (
            "CREATE TEMP TABLE IF NOT EXISTS crisp_stage_links (stix_id text, kind text, value text, path text) "
            "ON COMMIT DELETE ROWS"
        ),
    ),
    "sqlite": (
        (
            "CREATE TEMP TABLE IF NOT EXISTS crisp_stage_objects (stix_id text, type text, spec_version text, "
            "created text, modified text, data text, action text, object_id integer)"
        ),
        "CREATE TEMP TABLE IF NOT EXISTS crisp_stage_links (stix_id text, kind text, value text, path text)",
    ),
}

_INSERT_VERSIONS = f"""
INSERT INTO {VER} (stix_object_id, modified, data, superseded_by_run_id, superseded_at)
SELECT o.id, o.modified, o.data, %s, %s FROM {OBJ} o JOIN crisp_stage_objects s ON s.object_id = o.id
WHERE s.action = 'updated'
"""
_UPDATE_OBJECTS = f"""
UPDATE {OBJ} SET type = s.type, spec_version = s.spec_version, created = s.created,
    modified = s.modified, data = s.data, updated_at = %s
FROM crisp_stage_objects s WHERE s.object_id = {OBJ}.id AND s.action = 'updated'
"""
_INSERT_OBJECTS = f"""
INSERT INTO {OBJ} (stix_id, type, spec_version, created, modified, data, first_seen_at, updated_at)
SELECT stix_id, type, spec_version, created, modified, data, %s, %s FROM crisp_stage_objects
WHERE action = 'created'
ON CONFLICT (stix_id) DO NOTHING
"""
# A run that first saw an object unchanged and later updated it keeps the earliest previous version.
_INSERT_PROVENANCE = f"""
INSERT INTO {PROV} (run_id, feed_id, stix_object_id, action, previous_version_id, seen_at)
SELECT %s, %s, o.id, s.action,
    CASE WHEN s.action = 'updated' THEN
        (SELECT MAX(v.id) FROM {VER} v WHERE v.stix_object_id = o.id AND v.superseded_by_run_id = %s)
    END,
    %s
FROM crisp_stage_objects s JOIN {OBJ} o ON o.stix_id = s.stix_id WHERE true
ON CONFLICT (run_id, stix_object_id) DO UPDATE SET
    action = CASE WHEN {PROV}.action = 'unchanged' THEN excluded.action ELSE {PROV}.action END,
    previous_version_id = COALESCE({PROV}.previous_version_id, excluded.previous_version_id)
"""
_INSERT_INDICATORS = f"""
INSERT INTO {IND} (kind, value, first_seen_at, enrichment)
SELECT DISTINCT kind, value, %s, {{empty_json}} FROM crisp_stage_links WHERE true
ON CONFLICT (kind, value) DO NOTHING
"""
_INSERT_INDICATOR_LINKS = f"""
INSERT INTO {IPROV} (indicator_id, run_id, feed_id, stix_object_id, path, seen_at)
SELECT DISTINCT i.id, %s, %s, o.id, l.path, %s
FROM crisp_stage_links l
JOIN {IND} i ON i.kind = l.kind AND i.value = l.value
JOIN {OBJ} o ON o.stix_id = l.stix_id
WHERE true
ON CONFLICT (run_id, stix_object_id, indicator_id, path) DO NOTHING
"""


@dataclass(slots=True)
class BatchCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    indicators: int = 0

    def add(self, other: BatchCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.indicators += other.indicators


def _aware(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    parsed = parse_datetime(str(value))
    return parsed if parsed is None or parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _newest_per_id(objects: Iterable[ValidObject]) -> tuple[list[ValidObject], int]:
    """Keep one object per id (the newest `modified`); also return how many were dropped."""
    newest: dict[str, ValidObject] = {}
    dropped = 0
    floor = datetime.min.replace(tzinfo=UTC)
    for obj in objects:
        seen = newest.get(obj.stix_id)
        if seen is None:
            newest[obj.stix_id] = obj
            continue
        dropped += 1
        if (obj.modified or floor) > (seen.modified or floor):
            newest[obj.stix_id] = obj
    return list(newest.values()), dropped


class StoreWriter:
    """Writes batches for one run. Call `write` inside a transaction (one per batch)."""

    def __init__(self, *, run_id: int, feed_id: int, connection: Any = None) -> None:
        self.run_id = run_id
        self.feed_id = feed_id
        self.connection = connection or default_connection
        self.vendor = self.connection.vendor
        if self.vendor not in _STAGE_DDL:
            raise RuntimeError(f"unsupported database backend {self.vendor!r}")

    def _adapt(self, value: datetime | None) -> Any:
        # psycopg adapts datetimes itself; SQLite stores Django's text form.
        if self.vendor == "postgresql" or value is None:
            return value
        return self.connection.ops.adapt_datetimefield_value(value)

    def _existing(self, cursor: Any, ids: Sequence[str]) -> dict[str, tuple[int, datetime | None]]:
        if self.vendor == "postgresql":
            # Lock rows in id order so concurrent runs touching the same objects cannot deadlock.
            cursor.execute(
                f"SELECT id, stix_id, modified FROM {OBJ} WHERE stix_id = ANY(%s) ORDER BY id FOR UPDATE",
                [list(ids)],
            )
        else:
            marks = ",".join(["%s"] * len(ids))
            cursor.execute(f"SELECT id, stix_id, modified FROM {OBJ} WHERE stix_id IN ({marks})", list(ids))
        return {stix_id: (pk, _aware(modified)) for pk, stix_id, modified in cursor.fetchall()}

    def _same_content(self, cursor: Any, pairs: list[tuple[int, ValidObject]]) -> set[int]:
        """Ids of timestamp-less objects (SCOs) whose stored content equals the incoming one."""
        if not pairs:
            return set()
        field = StixObject._meta.get_field("data")
        marks = ",".join(["%s"] * len(pairs))
        cursor.execute(f"SELECT id, data FROM {OBJ} WHERE id IN ({marks})", [pk for pk, _ in pairs])
        stored = {
            pk: field.from_db_value(data, None, self.connection) if isinstance(data, str) else data
            for pk, data in cursor.fetchall()
        }
        return {pk for pk, obj in pairs if stored.get(pk) == obj.data}

    def _load(self, cursor: Any, table: str, columns: str, rows: list[tuple[Any, ...]], keys: str) -> None:
        # Emptied explicitly too: inside an outer transaction ON COMMIT DELETE ROWS never fires.
        cursor.execute(f"DELETE FROM {table}")
        if self.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            # Temp tables get no autovacuum statistics; without them the planner hash-joins the
            # whole store (a cost growing with the store) instead of probing its index per row.
            cursor.execute(f"ANALYZE {table} ({keys})")
        else:
            marks = ",".join(["%s"] * (columns.count(",") + 1))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)

    def write(self, objects: Sequence[ValidObject]) -> BatchCounts:
        counts = BatchCounts()
        batch, counts.unchanged = _newest_per_id(objects)
        if not batch:
            return counts
        now = self._adapt(timezone.now())
        with self.connection.cursor() as cursor:
            if self.vendor == "postgresql":
                # Safe to lose on a crash: the batch and the cursor that records it commit together,
                # so an unflushed batch is simply fetched again by the next run.
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
            for ddl in _STAGE_DDL[self.vendor]:
                cursor.execute(ddl)
            existing = self._existing(cursor, [o.stix_id for o in batch])
            undated = [
                (existing[o.stix_id][0], o) for o in batch if o.stix_id in existing and o.modified is None
            ]
            same = self._same_content(
                cursor, [(pk, o) for pk, o in undated if existing[o.stix_id][1] is None]
            )

            rows: list[tuple[Any, ...]] = []
            links: list[tuple[str, str, str, str]] = []
            for obj in batch:
                found = existing.get(obj.stix_id)
                if found is None:
                    action, pk = ObjectAction.CREATED, None
                else:
                    pk, stored_modified = found
                    newer = (
                        obj.modified is not None
                        and (stored_modified is None or obj.modified > stored_modified)
                    ) or (obj.modified is None and stored_modified is None and pk not in same)
                    action = ObjectAction.UPDATED if newer else ObjectAction.UNCHANGED
                setattr(counts, action.value, getattr(counts, action.value) + 1)
                rows.append(
                    (
                        obj.stix_id,
                        obj.type,
                        obj.spec_version,
                        self._adapt(obj.created),
                        self._adapt(obj.modified),
                        obj.json,
                        action.value,
                        pk,
                    )
                )
                links.extend((obj.stix_id, kind, value, path) for kind, value, path in obj.indicators)

            self._load(cursor, "crisp_stage_objects", _STAGE_COLUMNS, rows, "stix_id, object_id")
            if counts.updated:
                cursor.execute(_INSERT_VERSIONS, [self.run_id, now])
                cursor.execute(_UPDATE_OBJECTS, [now])
            if counts.created:
                cursor.execute(_INSERT_OBJECTS, [now, now])
            cursor.execute(_INSERT_PROVENANCE, [self.run_id, self.feed_id, self.run_id, now])
            if links:
                self._load(cursor, "crisp_stage_links", _LINK_COLUMNS, links, "stix_id, kind, value")
                empty_json = "'{}'::jsonb" if self.vendor == "postgresql" else "'{}'"
                cursor.execute(_INSERT_INDICATORS.format(empty_json=empty_json), [now])
                cursor.execute(_INSERT_INDICATOR_LINKS, [self.run_id, self.feed_id, now])
                counts.indicators = len(links)
        return counts
