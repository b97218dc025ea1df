"""OTX pulses as STIX 2.1: a report per pulse, an indicator (or vulnerability) per OTX indicator.

Ids are uuid5 of the pulse id (and indicator type/value), so re-ingesting a pulse dedups in the store.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Fixed namespace: changing it would give every OTX object a new id.
OTX_NAMESPACE = uuid.UUID("6f7a1c2e-9b1d-5c4e-8a0f-0b5e3c1d2a47")
OTX_WEB = "https://otx.alienvault.com"


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _address(value: str) -> str:
    kind = "ipv6-addr" if ":" in value else "ipv4-addr"
    return f"[{kind}:value = {_quote(value)}]"


def _simple(path: str) -> Callable[[str], str]:
    return lambda value: f"[{path} = {_quote(value)}]"


# OTX indicator type -> STIX pattern for its value (CVE becomes a vulnerability, see below).
PATTERNS: dict[str, Callable[[str], str]] = {
    "IPv4": _simple("ipv4-addr:value"),
    "IPv6": _simple("ipv6-addr:value"),
    "CIDR": _address,
    "domain": _simple("domain-name:value"),
    "hostname": _simple("domain-name:value"),
    "URL": _simple("url:value"),
    "URI": _simple("url:value"),
    "email": _simple("email-addr:value"),
    "FileHash-MD5": _simple("file:hashes.MD5"),
    "FileHash-SHA1": _simple("file:hashes.'SHA-1'"),
    "FileHash-SHA256": _simple("file:hashes.'SHA-256'"),
    "FileHash-SHA512": _simple("file:hashes.'SHA-512'"),
    "Mutex": _simple("mutex:name"),
}
VULNERABILITY_TYPES = frozenset({"CVE"})


def stix_timestamp(value: Any) -> str | None:
    """OTX times ('2015-09-02T09:21:53.093000', naive UTC) as STIX timestamps with milliseconds."""
    if not value or not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def pulse_modified(pulse: dict[str, Any]) -> datetime | None:
    """The pulse's `modified` as an aware datetime (the OTX cursor), or None when unreadable."""
    text = stix_timestamp(pulse.get("modified")) or stix_timestamp(pulse.get("created"))
    return datetime.fromisoformat(text) if text else None


def _id(stix_type: str, *parts: str) -> str:
    return f"{stix_type}--{uuid.uuid5(OTX_NAMESPACE, '|'.join(parts))}"


@dataclass(slots=True)
class PulseMapping:
    objects: list[dict[str, Any]] = field(default_factory=list)
    unmapped: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def _references(pulse: dict[str, Any]) -> list[dict[str, str]]:
    refs = [{"source_name": "AlienVault OTX", "external_id": str(pulse["id"]),
             "url": f"{OTX_WEB}/pulse/{pulse['id']}"}]  # fmt: skip
    for reference in pulse.get("references") or []:
        if isinstance(reference, str) and reference.strip():
            key = "url" if reference.startswith(("http://", "https://")) else "description"
            refs.append({"source_name": "reference", key: reference.strip()})
    return refs


def _later(first: str, second: str | None) -> str:
    return max(first, second) if second else first


def map_pulse(pulse: Any) -> PulseMapping:
    """One pulse -> report + indicators/vulnerabilities; unmapped indicator types are counted."""
    result = PulseMapping()
    if not isinstance(pulse, dict) or not pulse.get("id"):
        result.problems.append(f"OTX result is not a pulse object with an id: {str(pulse)[:80]!r}")
        return result
    pulse_id = str(pulse["id"])
    created = stix_timestamp(pulse.get("created"))
    modified = stix_timestamp(pulse.get("modified")) or created
    if created is None or modified is None:
        result.problems.append(f"OTX pulse {pulse_id} has no readable created/modified time; skipped")
        return result
    modified = _later(created, modified)
    refs: list[str] = []
    for item in pulse.get("indicators") or []:
        if not isinstance(item, dict):
            continue
        otx_type, value = str(item.get("type") or ""), str(item.get("indicator") or "").strip()
        if not value:
            continue
        item_created = stix_timestamp(item.get("created")) or created
        if otx_type in VULNERABILITY_TYPES:
            obj = _vulnerability(pulse_id, value, item_created, _later(item_created, modified))
        elif otx_type in PATTERNS:
            obj = _indicator(pulse_id, otx_type, value, item, item_created, _later(item_created, modified))
        else:
            result.unmapped[otx_type or "(none)"] += 1
            continue
        if obj["id"] not in refs:
            refs.append(obj["id"])
            result.objects.append(obj)
    report: dict[str, Any] = {
        "type": "report",
        "spec_version": "2.1",
        "id": _id("report", "otx-pulse", pulse_id),
        "created": created,
        "modified": modified,
        "name": str(pulse.get("name") or f"OTX pulse {pulse_id}")[:1000],
        "published": created,
        "report_types": ["threat-report"],
        "object_refs": refs,
        "external_references": _references(pulse),
        "x_otx_pulse_id": pulse_id,
    }
    if pulse.get("description"):
        report["description"] = str(pulse["description"])
    tags = [str(tag) for tag in pulse.get("tags") or [] if tag]
    if tags:
        report["labels"] = tags
    for key in ("author_name", "TLP", "adversary", "targeted_countries", "industries", "revision"):
        if pulse.get(key) not in (None, "", []):
            report[f"x_otx_{key.lower()}"] = pulse[key]
    result.objects.insert(0, report)
    return result


def _indicator(
    pulse_id: str, otx_type: str, value: str, item: dict[str, Any], created: str, modified: str
) -> dict[str, Any]:
    indicator: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": _id("indicator", "otx-indicator", pulse_id, otx_type, value),
        "created": created,
        "modified": modified,
        "name": value[:1000],
        "pattern": PATTERNS[otx_type](value),
        "pattern_type": "stix",
        "valid_from": created,
        "x_otx_type": otx_type,
        "x_otx_pulse_id": pulse_id,
    }
    if item.get("description"):
        indicator["description"] = str(item["description"])
    until = stix_timestamp(item.get("expiration"))
    if until and until > created:
        indicator["valid_until"] = until
    return indicator


def _vulnerability(pulse_id: str, cve: str, created: str, modified: str) -> dict[str, Any]:
    return {
        "type": "vulnerability",
        "spec_version": "2.1",
        "id": _id("vulnerability", "otx-vulnerability", pulse_id, cve.upper()),
        "created": created,
        "modified": modified,
        "name": cve.upper(),
        "external_references": [{"source_name": "cve", "external_id": cve.upper()}],
        "x_otx_type": "CVE",
        "x_otx_pulse_id": pulse_id,
    }


def map_pulses(pulses: Iterable[Any]) -> PulseMapping:
    """Every pulse of one OTX page; unmapped types summed, one problem line per type."""
    page = PulseMapping()
    for pulse in pulses:
        mapped = map_pulse(pulse)
        page.objects.extend(mapped.objects)
        page.unmapped.update(mapped.unmapped)
        page.problems.extend(mapped.problems)
    for otx_type, count in sorted(page.unmapped.items()):
        page.problems.append(f"unmapped OTX indicator type {otx_type!r} ({count})")
    return page
