"""Boundary validation of raw STIX objects, without building stix2 objects on the hot path.

Checks the properties every consumer relies on: type and id form, spec version, timestamps,
the properties each common type requires, and indicator pattern syntax. STIX 2.0 objects (no
`spec_version`) are accepted beside 2.1 and stored exactly as received.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from threat_feeds.pipeline.patterns import PatternError, extract_indicators

_TYPE = re.compile(r"^[a-z0-9][a-z0-9-]{1,248}[a-z0-9]$")
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_ID = re.compile(rf"^([a-z0-9][a-z0-9-]{{1,248}}[a-z0-9])--{_UUID}$")

# Cyber-observable types carry no created/modified (STIX 2.1 §6).
SCO_TYPES = frozenset(
    [
        "artifact",
        "autonomous-system",
        "directory",
        "domain-name",
        "email-addr",
        "email-message",
        "file",
        "ipv4-addr",
        "ipv6-addr",
        "mac-addr",
        "mutex",
        "network-traffic",
        "process",
        "software",
        "url",
        "user-account",
        "windows-registry-key",
        "x509-certificate",
    ]
)
_REQUIRED = {
    "relationship": ("relationship_type", "source_ref", "target_ref"),
    "sighting": ("sighting_of_ref",),
    "indicator": ("pattern", "valid_from"),
    "attack-pattern": ("name",),
    "campaign": ("name",),
    "course-of-action": ("name",),
    "identity": ("name",),
    "intrusion-set": ("name",),
    "threat-actor": ("name",),
    "tool": ("name",),
    "vulnerability": ("name",),
    "report": ("name", "published"),
}
_VALID_TYPES: set[str] = set()
_REFS = {"relationship": ("source_ref", "target_ref"), "sighting": ("sighting_of_ref",)}


class InvalidObject(ValueError):
    pass


@dataclass(slots=True)
class ValidObject:
    """A validated object, ready for the store."""

    stix_id: str
    type: str
    spec_version: str
    created: datetime | None
    modified: datetime | None
    data: dict[str, Any]
    json: str
    indicators: list[tuple[str, str, str]] = field(default_factory=list)


def _timestamp(obj: dict[str, Any], name: str, *, required: bool) -> datetime | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise InvalidObject(f"missing required property '{name}'")
        return None
    # The cheap shape check first; fromisoformat (3.11) then parses any fractional precision.
    if not isinstance(value, str) or len(value) < 20 or value[10] != "T" or value[-1] != "Z":
        raise InvalidObject(f"'{name}' is not an RFC 3339 UTC timestamp: {str(value)[:40]!r}")
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidObject(f"'{name}' is not an RFC 3339 UTC timestamp: {value!r}") from exc


def validate_object(obj: Any) -> ValidObject:
    """Return the object ready to store, or raise InvalidObject saying why."""
    if not isinstance(obj, dict):
        raise InvalidObject(f"not a JSON object but {type(obj).__name__}")
    stix_type = obj.get("type")
    if isinstance(stix_type, str) and stix_type in _VALID_TYPES:
        pass  # a feed repeats a few dozen types: check each once
    elif not isinstance(stix_type, str) or not _TYPE.match(stix_type):
        raise InvalidObject(f"invalid or missing 'type': {str(stix_type)[:60]!r}")
    elif len(_VALID_TYPES) < 10_000:
        _VALID_TYPES.add(stix_type)
    if stix_type == "bundle":
        raise InvalidObject("a bundle nested inside objects")
    stix_id = obj.get("id")
    id_match = _ID.match(stix_id) if isinstance(stix_id, str) else None
    if id_match is None or id_match.group(1) != stix_type:
        raise InvalidObject(f"invalid 'id' for type {stix_type}: {str(stix_id)[:80]!r}")
    spec_version = obj.get("spec_version", "")
    if spec_version not in ("", "2.1", "2.0"):
        raise InvalidObject(f"unsupported spec_version {spec_version!r}")

    is_sco = stix_type in SCO_TYPES
    created = _timestamp(obj, "created", required=not is_sco)
    modified = _timestamp(obj, "modified", required=not is_sco and stix_type != "marking-definition")

    for name in _REQUIRED.get(stix_type, ()):
        if obj.get(name) in (None, ""):
            raise InvalidObject(f"{stix_type} without required property '{name}'")
    for name in _REFS.get(stix_type, ()):
        ref = obj.get(name)
        if not isinstance(ref, str) or not _ID.match(ref):
            raise InvalidObject(f"'{name}' is not a STIX identifier: {str(ref)[:80]!r}")

    indicators: list[tuple[str, str, str]] = []
    if stix_type == "indicator":
        _timestamp(obj, "valid_from", required=True)
        pattern = obj["pattern"]
        if not isinstance(pattern, str):
            raise InvalidObject("'pattern' is not a string")
        if obj.get("pattern_type", "stix") == "stix":
            try:
                indicators = extract_indicators(pattern)
            except PatternError as exc:
                raise InvalidObject(f"invalid STIX pattern: {exc}") from exc
        elif not isinstance(obj["pattern_type"], str):
            raise InvalidObject("'pattern_type' is not a string")

    try:
        text = orjson.dumps(obj).decode()
    except orjson.JSONEncodeError as exc:  # e.g. nested beyond orjson's 255 levels
        raise InvalidObject(f"cannot be stored as JSON: {exc}") from exc
    if "\\u0000" in text:
        raise InvalidObject("contains a NUL character, which the store cannot keep")
    return ValidObject(stix_id, stix_type, spec_version, created, modified, obj, text, indicators)


@dataclass(slots=True)
class PageValidation:
    valid: list[ValidObject]
    invalid: list[str]  # reasons, one per rejected object


def validate_page(objects: list[Any]) -> PageValidation:
    valid: list[ValidObject] = []
    invalid: list[str] = []
    for obj in objects:
        try:
            valid.append(validate_object(obj))
        except InvalidObject as exc:
            ident = obj.get("id") if isinstance(obj, dict) else None
            invalid.append(f"{ident or 'object'}: {exc}")
    return PageValidation(valid, invalid)
