"""The store seen as TAXII 2.1 resources, after medallion's `Backend` interface, per user.

Medallion's backends answer `get_objects(api_root, collection_id, filter_args, allowed_filters,
limit)` with a whole page built in memory and keep `next` as server-side session state; here every
page is one keyset query on (date_added, id) and `next` is an opaque, stateless position, so
paging through any number of objects costs the server the same memory per page. "date_added" of
an object version is when CRISP first stored that version (`StixObjectVersion.first_seen_at`).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils.dateparse import parse_datetime

from threat_feeds import selectors
from threat_feeds.models import ObjectProvenance, StixObjectVersion

API_ROOT = "crisp"
TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPES = ["application/stix+json;version=2.1", "application/stix+json;version=2.0"]
MAX_PAGE_SIZE = 1000
EVERYTHING = uuid.UUID("6f0e8a8e-3c47-4b5e-9a37-0c2a3c0d1a11")  # the collection of every object
_FEED_NAMESPACE = uuid.UUID("b0c1f1e4-52a8-4b64-8f0c-6a0b1d7e2c35")


class TaxiiError(Exception):
    def __init__(self, status: int, title: str, description: str = "") -> None:
        super().__init__(title)
        self.status, self.title, self.description = status, title, description


def feed_collection_id(feed_id: int) -> str:
    return str(uuid.uuid5(_FEED_NAMESPACE, f"feed:{feed_id}"))


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_timestamp(text: str, name: str) -> datetime:
    moment = parse_datetime(text.strip())
    if moment is None or moment.tzinfo is None:
        raise TaxiiError(400, f"invalid {name}", f"{name} must be an RFC 3339 UTC timestamp, got {text!r}")
    return moment


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    feed_id: int | None  # None: every object in the store

    def resource(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "can_read": True,
            "can_write": False,
            "media_types": STIX_MEDIA_TYPES,
        }


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    more: bool
    next: str | None
    first_added: datetime | None
    last_added: datetime | None

    def headers(self) -> dict[str, str]:
        if self.first_added is None or self.last_added is None:
            return {}
        return {
            "X-TAXII-Date-Added-First": timestamp(self.first_added),
            "X-TAXII-Date-Added-Last": timestamp(self.last_added),
        }


def _encode_next(added: datetime, pk: int) -> str:
    raw = orjson.dumps([added.isoformat(), pk])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_next(token: str) -> tuple[datetime, int]:
    try:
        added, pk = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        moment = parse_datetime(added)
        if moment is None or not isinstance(pk, int):
            raise ValueError(token)
        return moment, pk
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise TaxiiError(400, "invalid next", "the `next` token is not one this server issued") from exc


def parse_limit(value: str | None) -> int:
    if value is None or value == "":
        return MAX_PAGE_SIZE
    try:
        limit = int(value)
    except ValueError as exc:
        raise TaxiiError(400, "invalid limit", "limit must be a positive integer") from exc
    if limit <= 0:
        raise TaxiiError(400, "invalid limit", "limit must be a positive integer")
    return min(limit, MAX_PAGE_SIZE)


class CrispBackend:
    """Discovery, API root, collections and object queries for one user (the API's visibility)."""

    def __init__(self, user: AbstractBaseUser | AnonymousUser) -> None:
        self.user = user

    # -- discovery, API root, collections -------------------------------------------------------
    def server_discovery(self, api_root_url: str) -> dict[str, Any]:
        return {
            "title": "CRISP TAXII 2.1 server",
            "description": "CRISP's deduplicated STIX store: a collection per feed and one of everything.",
            "default": api_root_url,
            "api_roots": [api_root_url],
        }

    def get_api_root_information(self) -> dict[str, Any]:
        return {
            "title": "CRISP",
            "description": "Every STIX object version CRISP stored, with the feeds that delivered it.",
            "versions": [TAXII_MEDIA_TYPE],
            "max_content_length": 0,  # read-only: no object is accepted
        }

    def get_collections(self) -> list[Collection]:
        collections = [Collection(str(EVERYTHING), "Everything", "Every object in CRISP's store.", None)]
        for feed_id, name, source_type in (
            selectors.feeds_visible_to(self.user).order_by("pk").values_list("pk", "name", "source_type")
        ):
            description = f"Objects delivered by CRISP feed #{feed_id} ({source_type})."
            collections.append(Collection(feed_collection_id(feed_id), name, description, feed_id))
        return collections

    def get_collection(self, collection_id: str) -> Collection:
        for collection in self.get_collections():
            if collection.id == collection_id:
                return collection
        raise TaxiiError(404, "collection not found", f"no collection {collection_id!r} you may read")

    # -- objects --------------------------------------------------------------------------------
    def _in_collection(self, collection: Collection) -> QuerySet[StixObjectVersion]:
        versions = StixObjectVersion.objects.filter(
            stix_object__in=selectors.stix_objects_visible_to(self.user)
        )
        if collection.feed_id is not None:
            versions = versions.filter(
                Exists(
                    ObjectProvenance.objects.filter(
                        stix_object=OuterRef("stix_object"),
                        version=OuterRef("pk"),
                        feed_id=collection.feed_id,
                    )
                )
            )
        return versions

    def _extreme(self, collection: Collection, *, last: bool, suffix: str) -> tuple[Q, dict[str, Any]]:
        """Versions with no later (last) / earlier (first) version of their object in the collection.

        Dated versions are ordered by `modified`; undated ones (SCOs: a version per content) by
        when they were stored.
        """
        if last and collection.feed_id is None:
            return Q(version_key=F("stix_object__version_key")), {}  # the store's current version
        others = StixObjectVersion.objects.filter(stix_object=OuterRef("stix_object"))
        if collection.feed_id is not None:
            others = others.filter(links__feed_id=collection.feed_id)
        beyond = "gt" if last else "lt"
        dated = others.filter(**{f"modified__{beyond}": OuterRef("modified")})
        undated = others.filter(modified__isnull=True, **{f"pk__{beyond}": OuterRef("pk")})
        condition = Q(modified__isnull=False, **{f"_dated_{suffix}": False}) | Q(
            modified__isnull=True, **{f"_undated_{suffix}": False}
        )
        return condition, {f"_dated_{suffix}": Exists(dated), f"_undated_{suffix}": Exists(undated)}

    def _matching(
        self, collection: Collection, filters: dict[str, str], allowed: tuple[str, ...]
    ) -> QuerySet[StixObjectVersion]:
        versions = self._in_collection(collection)
        if filters.get("added_after"):
            after = _parse_timestamp(filters["added_after"], "added_after")
            versions = versions.filter(first_seen_at__gt=after)
        if "id" in allowed and filters.get("match[id]"):
            versions = versions.filter(stix_object__stix_id__in=filters["match[id]"].split(","))
        if "type" in allowed and filters.get("match[type]"):
            versions = versions.filter(type__in=filters["match[type]"].split(","))
        if "spec_version" in allowed and filters.get("match[spec_version]"):
            wanted = filters["match[spec_version]"].split(",")
            versions = versions.filter(spec_version__in=["" if v == "2.0" else v for v in wanted])
        if "version" in allowed:
            versions = self._match_version(versions, collection, filters.get("match[version]") or "last")
        return versions

    def _match_version(
        self, versions: QuerySet[StixObjectVersion], collection: Collection, match: str
    ) -> QuerySet[StixObjectVersion]:
        wanted = [value.strip() for value in match.split(",") if value.strip()]
        if "all" in wanted:
            return versions
        condition = Q(pk__in=[])
        annotations: dict[str, Any] = {}
        for value in wanted:
            if value in ("last", "first"):
                extreme, extra = self._extreme(collection, last=value == "last", suffix=value)
                condition |= extreme
                annotations.update(extra)
            else:
                condition |= Q(modified=_parse_timestamp(value, "match[version]"))
        return versions.annotate(**annotations).filter(condition)

    def _page(
        self, versions: QuerySet[StixObjectVersion], filters: dict[str, str], limit: int, *fields: str
    ) -> Page:
        """One page in (date_added, id) order: rows are (date_added, *fields)."""
        if filters.get("next"):
            added, pk = _decode_next(filters["next"])
            versions = versions.filter(Q(first_seen_at__gt=added) | Q(first_seen_at=added, pk__gt=pk))
        query = versions.order_by("first_seen_at", "pk").values_list("first_seen_at", "pk", *fields)
        rows = list(query[: limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
        if not rows:
            return Page([], False, None, None, None)
        token = _encode_next(rows[-1][0], rows[-1][1]) if more else None
        return Page([(row[0], *row[2:]) for row in rows], more, token, rows[0][0], rows[-1][0])

    def _known(self, collection: Collection, object_id: str) -> None:
        if not self._in_collection(collection).filter(stix_object__stix_id=object_id).exists():
            raise TaxiiError(404, "object not found", f"no object {object_id!r} in this collection")

    def get_objects(
        self, collection_id: str, filters: dict[str, str], allowed: tuple[str, ...], limit: int
    ) -> tuple[dict[str, Any], dict[str, str]]:
        collection = self.get_collection(collection_id)
        page = self._page(self._matching(collection, filters, allowed), filters, limit, "data")
        return _envelope("objects", [data for _, data in page.rows], page), page.headers()

    def get_object(
        self,
        collection_id: str,
        object_id: str,
        filters: dict[str, str],
        allowed: tuple[str, ...],
        limit: int,
    ) -> tuple[dict[str, Any], dict[str, str]]:
        collection = self.get_collection(collection_id)
        versions = self._matching(collection, filters, allowed).filter(stix_object__stix_id=object_id)
        page = self._page(versions, filters, limit, "data")
        if not page.rows:
            self._known(collection, object_id)
        return _envelope("objects", [data for _, data in page.rows], page), page.headers()

    def get_object_manifest(
        self, collection_id: str, filters: dict[str, str], allowed: tuple[str, ...], limit: int
    ) -> tuple[dict[str, Any], dict[str, str]]:
        collection = self.get_collection(collection_id)
        fields = ("stix_object__stix_id", "modified", "created", "spec_version")
        page = self._page(self._matching(collection, filters, allowed), filters, limit, *fields)
        entries = [
            {
                "id": stix_id,
                "date_added": timestamp(added),
                "version": timestamp(modified or created or added),
                "media_type": f"application/stix+json;version={spec_version or '2.0'}",
            }
            for added, stix_id, modified, created, spec_version in page.rows
        ]
        return _envelope("objects", entries, page), page.headers()

    def get_object_versions(
        self,
        collection_id: str,
        object_id: str,
        filters: dict[str, str],
        allowed: tuple[str, ...],
        limit: int,
    ) -> tuple[dict[str, Any], dict[str, str]]:
        collection = self.get_collection(collection_id)
        versions = self._matching(collection, filters, allowed).filter(stix_object__stix_id=object_id)
        page = self._page(versions, filters, limit, "modified", "created")
        if not page.rows:
            self._known(collection, object_id)
        names = [timestamp(modified or created or added) for added, modified, created in page.rows]
        return _envelope("versions", names, page), page.headers()


def _envelope(key: str, items: list[Any], page: Page) -> dict[str, Any]:
    if not items:
        return {"more": False}
    body: dict[str, Any] = {"more": page.more}
    if page.next:
        body["next"] = page.next
    body[key] = items
    return body
