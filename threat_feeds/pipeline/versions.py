"""How a STIX object version is named: (id, modified), or a content hash when there is no `modified`."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

HASH_PREFIX = "sha256:"


def version_key(modified: datetime | None, data: Any) -> str:
    """The name of one version of an object, unique per object (StixObjectVersion.version_key).

    Dated objects: `modified` to the microsecond (what the database keeps), so two deliveries of one
    (id, modified) are one version whatever their serialisation. Undated objects (SCOs, some
    marking definitions): a hash of the canonical JSON, so equal content is one version.
    """
    if modified is not None:
        if modified.tzinfo is not UTC and modified.utcoffset():  # naive counts as UTC
            modified = modified.astimezone(UTC)
        if modified.year < 1000:  # strftime's %Y does not pad: keep the keys already stored
            return modified.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        # isoformat is twice as fast as strftime, and this runs for every ingested object.
        return modified.isoformat(timespec="microseconds")[:26] + "Z"
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return HASH_PREFIX + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
