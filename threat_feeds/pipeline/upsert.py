"""Ingest of validated objects into the version store: append versions and links, move forward.

One batch is a handful of set-based statements whatever its size: the batch is loaded into a
temporary staging table (COPY on PostgreSQL, executemany on SQLite) and merged from there (on
PostgreSQL in one round trip, see `_PG_MERGE`):

1. lock the run row and refuse the batch if the run is no longer active (a late batch of a run
   that was finalised meanwhile must not write after its rollback);
2. insert the objects not in the store yet and lock the others (one INSERT ... ON CONFLICT DO
   UPDATE ... WHERE false, rows in `stix_id` order);
3. mark each staged row: `created` (new object), `updated` (its version is newer than the current
   one), `older` (a version the current one outranks) or `unchanged` (it is the current version);
4. insert the versions not stored yet (immutable; ON CONFLICT DO NOTHING) and one provenance link
   per (object, version, run);
5. copy the staged version into the object rows marked `updated` (the pointer only moves forward);
6. insert the indicators of the batch, locking existing ones in (kind, value) order, and their links.

Lock order, shared with rollback and finalisation (docs/ARCHITECTURE.md): run row -> object rows
(by stix_id) -> indicator rows (by kind, value) -> feed row.

Which version is current is one rule, here and in rollback (control/rollback.py `RECOMPUTE`): of the
versions some run still links, the greatest by (has `modified`, `modified`, newest link id). For
dated objects that is the newest `modified`; undated ones have no order of their own, so the version
delivered last wins, as it did before versions were kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection as default_connection
from django.utils import timezone

from threat_feeds.choices import CancelMode, RunStatus
from threat_feeds.control.checkpoint import RunInterrupted
from threat_feeds.models import (
    FeedRun,
    Indicator,
    IndicatorProvenance,
    ObjectProvenance,
    StixObject,
    StixObjectVersion,
)
from threat_feeds.pipeline.validate import ValidObject
from threat_feeds.pipeline.versions import version_key

OBJ = StixObject._meta.db_table
VER = StixObjectVersion._meta.db_table
PROV = ObjectProvenance._meta.db_table
IND = Indicator._meta.db_table
IPROV = IndicatorProvenance._meta.db_table
RUN = FeedRun._meta.db_table

STAGE = "crisp_stage_versions"
STAGE_LINKS = "crisp_stage_indicators"
_STAGE_COLUMNS = "stix_id, type, spec_version, created, modified, data, version_key"
_LINK_COLUMNS = "stix_id, kind, value, path"
_STAGE_DDL = {
    "postgresql": (
        (
            f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} (stix_id text, type text, spec_version text, "
            "created timestamptz, modified timestamptz, data jsonb, version_key text, "
            "action text NOT NULL DEFAULT 'unchanged') ON COMMIT DELETE ROWS"
        ),
        (
            f"CREATE TEMP TABLE IF NOT EXISTS {STAGE_LINKS} (stix_id text, kind text, value text, path text) "
            "ON COMMIT DELETE ROWS"
        ),
        "CREATE TEMP TABLE IF NOT EXISTS crisp_stage_new (id bigint PRIMARY KEY) ON COMMIT DELETE ROWS",
    ),
    "sqlite": (
        (
            f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} (stix_id text, type text, spec_version text, "
            "created text, modified text, data text, version_key text, action text NOT NULL DEFAULT 'unchanged')"
        ),
        f"CREATE TEMP TABLE IF NOT EXISTS {STAGE_LINKS} (stix_id text, kind text, value text, path text)",
    ),
}

# Inserts what is new and locks what exists, in one pass ordered by stix_id (WHERE false: the
# existing row is locked, not rewritten). RETURNING gives the inserted rows only.
_UPSERT_OBJECTS = f"""
INSERT INTO {OBJ} (stix_id, type, spec_version, created, modified, data, version_key, first_seen_at, updated_at)
SELECT stix_id, type, spec_version, created, modified, data, version_key, %s, %s FROM {STAGE}
WHERE true ORDER BY stix_id
ON CONFLICT (stix_id) DO UPDATE SET updated_at = {OBJ}.updated_at WHERE false
RETURNING stix_id
"""
# PostgreSQL: the same, and for each new object its version and link in the same statement (no
# join back from the staging table); the new ids go to a small table the link insert skips.
_UPSERT_OBJECTS_PG = f"""
WITH new AS (
    INSERT INTO {OBJ} (stix_id, type, spec_version, created, modified, data, version_key, first_seen_at, updated_at)
    SELECT stix_id, type, spec_version, created, modified, data, version_key, %(now)s, %(now)s FROM {STAGE}
    ORDER BY stix_id
    ON CONFLICT (stix_id) DO UPDATE SET updated_at = {OBJ}.updated_at WHERE false
    RETURNING id, type, spec_version, created, modified, data, version_key
), version AS (
    INSERT INTO {VER} (stix_object_id, version_key, type, spec_version, created, modified, data, first_seen_at)
    SELECT id, version_key, type, spec_version, created, modified, data, %(now)s FROM new
    RETURNING id, stix_object_id
), link AS (
    INSERT INTO {PROV} (run_id, feed_id, stix_object_id, version_id, action, seen_at)
    SELECT %(run)s, %(feed)s, stix_object_id, id, 'created', %(now)s FROM version
)
INSERT INTO crisp_stage_new (id) SELECT id FROM new
"""
# The forward rule, the same order as rollback's RECOMPUTE: a dated version outranks an undated
# one, a later `modified` an earlier one, and between undated versions the new link (the newest) wins.
_MARK_EXISTING = f"""
UPDATE {STAGE} SET action = CASE
    WHEN {STAGE}.modified IS NOT NULL AND (o.modified IS NULL OR {STAGE}.modified > o.modified) THEN 'updated'
    WHEN {STAGE}.modified IS NULL AND o.modified IS NULL THEN 'updated'
    ELSE 'older' END
FROM {OBJ} o WHERE o.stix_id = {STAGE}.stix_id AND o.version_key <> {STAGE}.version_key
  AND {STAGE}.action = 'unchanged'
"""
_INSERT_VERSIONS = f"""
INSERT INTO {VER} (stix_object_id, version_key, type, spec_version, created, modified, data, first_seen_at)
SELECT o.id, s.version_key, s.type, s.spec_version, s.created, s.modified, s.data, %s
FROM {STAGE} s JOIN {OBJ} o ON o.stix_id = s.stix_id
WHERE s.action <> 'unchanged'
ON CONFLICT (stix_object_id, version_key) DO NOTHING
"""
# An undated version this run delivered before, re-delivered after another: its link must become
# the newest again (the rank of undated versions is their newest link).
_RENEW_UNDATED_LINKS = f"""
DELETE FROM {PROV} WHERE run_id = %s AND id IN (
    SELECT p.id FROM {STAGE} s
    JOIN {OBJ} o ON o.stix_id = s.stix_id
    JOIN {VER} v ON v.stix_object_id = o.id AND v.version_key = s.version_key
    JOIN {PROV} p ON p.stix_object_id = o.id AND p.version_id = v.id AND p.run_id = %s
    WHERE s.action = 'updated' AND s.modified IS NULL)
"""
_INSERT_LINKS = f"""
INSERT INTO {PROV} (run_id, feed_id, stix_object_id, version_id, action, seen_at)
SELECT %s, %s, o.id, v.id, CASE WHEN s.action = 'older' THEN 'unchanged' ELSE s.action END, %s
FROM {STAGE} s
JOIN {OBJ} o ON o.stix_id = s.stix_id
JOIN {VER} v ON v.stix_object_id = o.id AND v.version_key = s.version_key
WHERE true
ON CONFLICT (stix_object_id, version_id, run_id) DO NOTHING
"""
_INSERT_LINKS_PG = _INSERT_LINKS.replace(
    "WHERE true", "WHERE NOT EXISTS (SELECT 1 FROM crisp_stage_new n WHERE n.id = o.id)"
)
_MOVE_FORWARD = f"""
UPDATE {OBJ} SET type = s.type, spec_version = s.spec_version, created = s.created, modified = s.modified,
    data = s.data, version_key = s.version_key, updated_at = %s
FROM {STAGE} s WHERE s.stix_id = {OBJ}.stix_id AND s.action = 'updated'
"""
# Inserts new indicators and locks existing ones in (kind, value) order, so rollback cannot delete
# an indicator between this statement and the link that keeps it.
_UPSERT_INDICATORS = f"""
INSERT INTO {IND} (kind, value, first_seen_at, enrichment)
SELECT DISTINCT kind, value, %s, {{empty_json}} FROM {STAGE_LINKS} WHERE true ORDER BY kind, value
ON CONFLICT (kind, value) DO UPDATE SET first_seen_at = {IND}.first_seen_at WHERE false
"""
_INSERT_INDICATOR_LINKS = f"""
INSERT INTO {IPROV} (indicator_id, run_id, feed_id, stix_object_id, path, seen_at)
SELECT DISTINCT i.id, %s, %s, o.id, l.path, %s
FROM {STAGE_LINKS} l
JOIN {IND} i ON i.kind = l.kind AND i.value = l.value
JOIN {OBJ} o ON o.stix_id = l.stix_id
WHERE true
ON CONFLICT (run_id, stix_object_id, indicator_id, path) DO NOTHING
"""


# PostgreSQL sends the whole merge in one round trip (psycopg's client-side cursor runs several
# statements per query): on a busy worker each round trip also waits for the GIL, so a dozen small
# statements cost more than the work they do. Steps that apply only to some batches are gated by
# an uncorrelated subquery, which PostgreSQL evaluates once and skips the join when it is false.
# Every join of the merge is "at most 1,000 staged rows probe an index of the store": hash and
# merge joins are turned off for it, which is what the staging tables' ANALYZE was for (without
# statistics the planner hash-joined whole store tables, a cost growing with the store).
_PG_PROLOGUE = (
    "SET LOCAL synchronous_commit TO OFF",
    *_STAGE_DDL["postgresql"],
    f"DELETE FROM {STAGE}",
    f"DELETE FROM {STAGE_LINKS}",
    "DELETE FROM crisp_stage_new",
    # First lock of the order (run -> objects -> indicators -> feed); refuses a finished run. KEY
    # SHARE fences finalisation (FOR UPDATE) out until the batch ends, yet lets a cancel record
    # itself on the run (FOR NO KEY UPDATE) without waiting for the batch.
    f"SELECT status FROM {RUN} WHERE id = %(run)s FOR KEY SHARE",
)
_SOME_EXISTING = f"(SELECT count(*) FROM crisp_stage_new) < (SELECT count(*) FROM {STAGE})"
_SOME_MARKED = f"EXISTS (SELECT 1 FROM {STAGE} WHERE action IN ('updated', 'older'))"
_PG_MERGE = (
    "SET LOCAL enable_hashjoin TO off",
    "SET LOCAL enable_mergejoin TO off",
    _UPSERT_OBJECTS_PG,
    _MARK_EXISTING + f" AND {_SOME_EXISTING}",
    _INSERT_VERSIONS.replace("%s", "%(now)s").replace(
        "s.action <> 'unchanged'", f"s.action IN ('updated', 'older') AND {_SOME_MARKED}"
    ),
    _RENEW_UNDATED_LINKS.replace("%s", "%(run)s").replace("WHERE run_id", f"WHERE {_SOME_MARKED} AND run_id"),
    _INSERT_LINKS_PG.replace("%s, %s, o.id", "%(run)s, %(feed)s, o.id")
    .replace("%s\nFROM", "%(now)s\nFROM")
    .replace("WHERE NOT EXISTS", f"WHERE {_SOME_EXISTING} AND NOT EXISTS"),
    _MOVE_FORWARD.replace("%s", "%(now)s"),
)
_PG_MERGE_INDICATORS = (
    _UPSERT_INDICATORS.format(empty_json="'{}'::jsonb").replace("%s", "%(now)s"),
    _INSERT_INDICATOR_LINKS.replace("%s, %s, o.id", "%(run)s, %(feed)s, o.id").replace(
        "l.path, %s", "l.path, %(now)s"
    ),
)
_PG_COUNTS = (
    "RESET enable_hashjoin",
    "RESET enable_mergejoin",
    f"SELECT (SELECT count(*) FROM crisp_stage_new), (SELECT count(*) FROM {STAGE} WHERE action = 'updated')",
)


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


def _newest_per_id(objects: Iterable[ValidObject]) -> list[ValidObject]:
    """Keep one object per id (the newest `modified`, the last one among equals)."""
    newest: dict[str, ValidObject] = {}
    floor = datetime.min.replace(tzinfo=UTC)
    for obj in objects:
        seen = newest.get(obj.stix_id)
        if seen is None:
            newest[obj.stix_id] = obj
            continue
        if (obj.modified or floor) >= (seen.modified or floor):
            newest[obj.stix_id] = obj
    return list(newest.values())


@dataclass(slots=True)
class PreparedBatch:
    """A batch turned into what the database loads (COPY text on PostgreSQL, rows on SQLite).

    Built by `StoreWriter.prepare`, which needs no database: the runner prepares the next batch in
    the fetching thread while the store thread writes the previous one.
    """

    received: int  # objects handed in, duplicates included
    size: int  # distinct objects
    objects: Any
    links: Any
    link_count: int
    ids: tuple[str, ...] = ()  # the distinct stix_ids


class StoreWriter:
    """Writes batches for one run. Call `write` inside a transaction (one per batch)."""

    def __init__(self, *, run_id: int, feed_id: int, connection: Any = None) -> None:
        self.run_id = run_id
        self.feed_id = feed_id
        self.connection = connection or default_connection
        self.vendor = self.connection.vendor
        if self.vendor not in _STAGE_DDL:
            raise RuntimeError(f"unsupported database backend {self.vendor!r}")
        # psycopg's client-side cursor (Django's default) runs several statements per query.
        options = self.connection.settings_dict.get("OPTIONS") or {}
        self.one_query = self.vendor == "postgresql" and options.get("server_side_binding") is not True

    def _adapt(self, value: datetime | None) -> Any:
        # SQLite stores Django's text form.
        if value is None:
            return value
        return self.connection.ops.adapt_datetimefield_value(value)

    def prepare(self, objects: Sequence[ValidObject]) -> PreparedBatch:
        batch = _newest_per_id(objects)
        links = [(obj.stix_id, kind, value, path) for obj in batch for kind, value, path in obj.indicators]
        if self.vendor == "postgresql":
            return PreparedBatch(
                received=len(objects),
                size=len(batch),
                objects="".join(map(_copy_line, batch)),
                links="".join(map(_copy_link, links)),
                link_count=len(links),
                ids=tuple(obj.stix_id for obj in batch),
            )
        rows = [
            (
                obj.stix_id,
                obj.type,
                obj.spec_version,
                self._adapt(obj.created),
                self._adapt(obj.modified),
                obj.json,
                version_key(obj.modified, obj.data),
            )
            for obj in batch
        ]
        return PreparedBatch(
            len(objects), len(batch), rows, links, len(links), tuple(obj.stix_id for obj in batch)
        )

    def write(self, objects: Sequence[ValidObject] | PreparedBatch) -> BatchCounts:
        prepared = objects if isinstance(objects, PreparedBatch) else self.prepare(objects)
        counts = BatchCounts(unchanged=prepared.received - prepared.size)
        if not prepared.size:
            return counts
        with self.connection.cursor() as cursor:
            if self.vendor == "postgresql":
                created, updated = self._merge_pg(cursor, prepared)
            else:
                created, updated = self._merge_sqlite(cursor, prepared)
        counts.created, counts.updated = created, updated
        counts.unchanged += prepared.size - created - updated
        counts.indicators = prepared.link_count
        return counts

    def _execute(self, cursor: Any, statements: Sequence[str], params: dict[str, Any]) -> Any:
        """Run `statements` in one round trip when the cursor allows it; return the last one's first row."""
        if self.one_query:
            cursor.execute(";\n".join(statements), params)
            while cursor.nextset():
                pass
        else:
            for statement in statements:
                cursor.execute(statement, params if "%(" in statement else None)
        return cursor.fetchone()

    def _merge_pg(self, cursor: Any, prepared: PreparedBatch) -> tuple[int, int]:
        """Four round trips whatever the batch: prologue (with the run's lock), COPY objects, COPY
        indicator links, the merge."""
        params = {"now": timezone.now(), "run": self.run_id, "feed": self.feed_id}
        row = self._execute(cursor, _PG_PROLOGUE, params)
        if row is None or row[0] not in RunStatus.active():
            raise RunInterrupted(CancelMode.CANCEL_JOB, "run_no_longer_active")
        with cursor.cursor.copy(f"COPY {STAGE} ({_STAGE_COLUMNS}) FROM STDIN") as copy:
            copy.write(prepared.objects)
        statements = _PG_MERGE
        if prepared.link_count:
            with cursor.cursor.copy(f"COPY {STAGE_LINKS} ({_LINK_COLUMNS}) FROM STDIN") as copy:
                copy.write(prepared.links)
            statements += _PG_MERGE_INDICATORS
        created, updated = self._execute(cursor, (*statements, *_PG_COUNTS), params)
        return created, updated

    def _merge_sqlite(self, cursor: Any, prepared: PreparedBatch) -> tuple[int, int]:
        """Statement by statement: SQLite runs in-process, so round trips cost nothing."""
        now = self._adapt(timezone.now())
        for ddl in _STAGE_DDL["sqlite"]:
            cursor.execute(ddl)
        cursor.execute(f"SELECT status FROM {RUN} WHERE id = %s", [self.run_id])
        row = cursor.fetchone()
        if row is None or row[0] not in RunStatus.active():
            raise RunInterrupted(CancelMode.CANCEL_JOB, "run_no_longer_active")
        self._load_sqlite(cursor, STAGE, _STAGE_COLUMNS, prepared.objects)
        cursor.execute(_UPSERT_OBJECTS, [now, now])
        new_ids = [row[0] for row in cursor.fetchall()]
        created = len(new_ids)
        for start in range(0, created, 500):
            chunk = new_ids[start : start + 500]
            marks = ",".join(["%s"] * len(chunk))
            cursor.execute(f"UPDATE {STAGE} SET action = 'created' WHERE stix_id IN ({marks})", chunk)
        cursor.execute(_MARK_EXISTING)
        marked = max(cursor.rowcount, 0)  # existing objects delivered at another version
        if marked or created:
            cursor.execute(_INSERT_VERSIONS, [now])
        if marked:
            cursor.execute(_RENEW_UNDATED_LINKS, [self.run_id, self.run_id])
        cursor.execute(_INSERT_LINKS, [self.run_id, self.feed_id, now])
        updated = 0
        if marked:
            cursor.execute(_MOVE_FORWARD, [now])
            updated = max(cursor.rowcount, 0)
        if prepared.link_count:
            self._load_sqlite(cursor, STAGE_LINKS, _LINK_COLUMNS, prepared.links)
            cursor.execute(_UPSERT_INDICATORS.format(empty_json="'{}'"), [now])
            cursor.execute(_INSERT_INDICATOR_LINKS, [self.run_id, self.feed_id, now])
        return created, updated

    @staticmethod
    def _load_sqlite(cursor: Any, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
        cursor.execute(f"DELETE FROM {table}")
        marks = ",".join(["%s"] * (columns.count(",") + 1))
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


def _copy_line(obj: ValidObject) -> str:
    """One row of COPY text. Ids, types, spec versions and version keys are validated plain ASCII
    and orjson writes no raw control characters, so only the JSON's backslashes need escaping."""
    created = obj.created.isoformat() if obj.created is not None else "\\N"
    key = version_key(obj.modified, obj.data)
    if obj.modified is None:
        modified = "\\N"
    elif obj.modified.year >= 1000:
        modified = key  # `modified` in UTC, ISO 8601: formatted once
    else:
        modified = obj.modified.isoformat()
    data = obj.json.replace("\\", "\\\\")
    return f"{obj.stix_id}\t{obj.type}\t{obj.spec_version}\t{created}\t{modified}\t{data}\t{key}\n"


def _copy_field(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy_link(link: tuple[str, str, str, str]) -> str:
    stix_id, kind, value, path = link
    return f"{stix_id}\t{_copy_field(kind)}\t{_copy_field(value)}\t{_copy_field(path)}\n"
