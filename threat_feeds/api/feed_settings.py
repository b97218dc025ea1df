"""What a feed's `settings` may hold, per source type: known keys, types, ranges, and a size cap.

These are the keys the sources read (sources/taxii21.py, stix_bundle.py, otx.py; pipeline/enrich.py
and services/enrichment.py for VirusTotal). A source that starts reading a new key adds it here.
Server-side paths (`upload_path`) are never accepted: uploads go through the upload endpoint.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings as django_settings

from threat_feeds.api.filters import MAX_ID
from threat_feeds.choices import SourceType

HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
PRINTABLE = re.compile(r"^[\x20-\x7e]*$")
VIRUSTOTAL_KINDS = ("ipv4", "ipv6", "domain", "url", "md5", "sha1", "sha256")


@dataclass(frozen=True)
class Option:
    kind: str  # "int" | "number" | "bool" | "str" | "choice" | "kinds" | "ids" | "datetime"
    low: float = 0
    high: float = 0
    choices: tuple[str, ...] = ()
    staff_only: bool = False


def _number(low: float, high: float) -> Option:
    return Option("number", low, high)


def _int(low: int, high: int) -> Option:
    return Option("int", low, high)


_API_KEY_HEADER = {"api_key_header": Option("header"), "api_key_prefix": Option("str", 0, 64)}
_RETRIES = {
    "max_retry_after_seconds": _number(0, 3600),
    "backoff_base_seconds": _number(0, 60),
    "backoff_cap_seconds": _number(0, 3600),
}

SCHEMAS: dict[str, dict[str, Option]] = {
    SourceType.TAXII21: {
        **_API_KEY_HEADER,
        **_RETRIES,
        # Lets the bootstrap demo feed reach the local demo server; granted by staff only.
        "demo": Option("bool", staff_only=True),
    },
    SourceType.STIX_BUNDLE: {**_API_KEY_HEADER},
    SourceType.OTX: {**_RETRIES, "limit": _int(1, 1000), "modified_since": Option("datetime")},
    SourceType.VIRUSTOTAL: {
        "kinds": Option("kinds", 0, len(VIRUSTOTAL_KINDS), choices=VIRUSTOTAL_KINDS),
        "feeds": Option("ids", 0, 1000),
        "not_enriched_days": _number(0, 3650),
        "max_indicators": _int(1, 10_000_000),
        "quota_per_minute": _int(1, 100_000),
        "quota_window_seconds": _number(1, 86_400),
        "quota_per_day": _int(1, 100_000_000),
        "on_quota": Option("choice", choices=("wait", "stop")),
        "quota_retry_seconds": _number(0, 3600),
    },
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check(name: str, option: Option, value: Any) -> str | None:
    """The problem with `value`, or None."""
    if option.kind in ("int", "number"):
        if not _is_number(value) or (option.kind == "int" and not isinstance(value, int)):
            return f"{name} must be {'an integer' if option.kind == 'int' else 'a number'}."
        if not option.low <= value <= option.high:
            return f"{name} must be between {option.low:g} and {option.high:g}."
    elif option.kind == "bool":
        if not isinstance(value, bool):
            return f"{name} must be true or false."
    elif option.kind == "header":
        if not isinstance(value, str) or not HEADER_NAME.match(value):
            return f"{name} must be an HTTP header name (letters, digits, '-'; at most 64)."
    elif option.kind == "str":
        if not isinstance(value, str) or len(value) > option.high or not PRINTABLE.match(value):
            return f"{name} must be printable text of at most {option.high:g} characters."
    elif option.kind == "choice":
        if value not in option.choices:
            return f"{name} must be one of {', '.join(option.choices)}."
    elif option.kind == "kinds":
        if not isinstance(value, list) or any(v not in option.choices for v in value):
            return f"{name} must be a list of {', '.join(option.choices)}."
    elif option.kind == "ids":
        if (
            not isinstance(value, list)
            or len(value) > option.high
            or any(not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_ID for v in value)
        ):
            return f"{name} must be a list of at most {option.high:g} feed ids."
    elif option.kind == "datetime":
        try:
            if not isinstance(value, str) or len(value) > 64:
                raise ValueError
            datetime.fromisoformat(value)
        except ValueError:
            return f"{name} must be an ISO 8601 date-time."
    return None


def validate_feed_settings(
    value: Any, *, source_type: str | None, previous: dict[str, Any] | None, is_staff: bool
) -> list[str]:
    """Problems with `value` as the settings of a `source_type` feed (empty list: valid)."""
    if not isinstance(value, dict):
        return ["settings must be a JSON object."]
    size = len(json.dumps(value, default=str))
    if size > django_settings.CRISP_MAX_FEED_SETTINGS_BYTES:
        return [f"settings must serialise to at most {django_settings.CRISP_MAX_FEED_SETTINGS_BYTES} bytes."]
    schema = SCHEMAS.get(source_type or "", {})
    problems = []
    for name, item in value.items():
        option = schema.get(name)
        if option is None:
            known = ", ".join(sorted(schema)) or "none"
            problems.append(f"unknown setting {name[:64]!r} for {source_type} feeds (known: {known}).")
            continue
        if option.staff_only and not is_staff and (previous or {}).get(name) != item:
            problems.append(f"only staff may set {name}.")
            continue
        problem = _check(name, option, item)
        if problem:
            problems.append(problem)
    return problems


def visible_settings(value: dict[str, Any] | None) -> dict[str, Any]:
    """What users who may not edit a feed see of its settings: only the public marker `demo`."""
    return {k: v for k, v in (value or {}).items() if k == "demo"}
