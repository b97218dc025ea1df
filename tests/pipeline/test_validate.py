"""Boundary validation: what is refused, and why it says so."""

from __future__ import annotations

import pytest

from threat_feeds.pipeline.validate import InvalidObject, validate_object, validate_page

T = "2024-05-01T10:00:00.000Z"
INDICATOR = {
    "type": "indicator",
    "spec_version": "2.1",
    "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
    "created": T,
    "modified": T,
    "pattern": "[ipv4-addr:value = '198.51.100.7'] OR [domain-name:value = 'Bad.Example']",
    "pattern_type": "stix",
    "valid_from": T,
}


def test_a_valid_indicator_yields_normalised_indicators() -> None:
    valid = validate_object(INDICATOR)
    assert valid.spec_version == "2.1" and valid.modified is not None
    assert valid.indicators == [
        ("ipv4", "198.51.100.7", "ipv4-addr:value"),
        ("domain", "bad.example", "domain-name:value"),
    ]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"type": ["indicator"]}, "invalid or missing 'type'"),
        ({"type": "Indicator"}, "invalid or missing 'type'"),
        ({"id": "indicator--123"}, "invalid 'id'"),
        ({"id": "malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}, "invalid 'id'"),
        ({"spec_version": "3.0"}, "unsupported spec_version"),
        ({"created": None}, "missing required property 'created'"),
        ({"modified": "2024-05-01"}, "not an RFC 3339 UTC timestamp"),
        ({"modified": "2024-13-01T10:00:00Z"}, "not an RFC 3339 UTC timestamp"),
        ({"pattern": "[ipv4-addr:value = '1.2.3.4'"}, "invalid STIX pattern"),
        ({"pattern": None}, "required property 'pattern'"),
        ({"valid_from": None}, "required property 'valid_from'"),
        ({"name": "nul \u0000 byte"}, "NUL character"),
    ],
)
def test_invalid_objects_are_refused_with_a_reason(change: dict, reason: str) -> None:
    obj = {**INDICATOR, **change}
    with pytest.raises(InvalidObject, match=reason):
        validate_object({k: v for k, v in obj.items() if v is not None})


def test_stix20_object_without_spec_version_is_accepted_as_is() -> None:
    obj = {k: v for k, v in INDICATOR.items() if k not in ("spec_version", "pattern_type")}
    obj["labels"] = ["malicious-activity"]
    valid = validate_object(obj)
    assert valid.spec_version == "" and valid.data is obj


def test_relationship_refs_must_be_identifiers() -> None:
    rel = {"type": "relationship", "id": "relationship--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "created": T,
           "modified": T, "relationship_type": "indicates", "source_ref": "indicator--x", "target_ref": "malware--y"}  # fmt: skip
    with pytest.raises(InvalidObject, match="'source_ref' is not a STIX identifier"):
        validate_object(rel)


def test_cyber_observables_need_no_timestamps() -> None:
    assert validate_object({"type": "ipv4-addr", "id": "ipv4-addr--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                            "value": "203.0.113.9"}).created is None  # fmt: skip


def test_one_bad_object_never_fails_the_page() -> None:
    page = validate_page([INDICATOR, "junk", {"type": "indicator"}, {**INDICATOR, "id": "indicator--bad"}])
    assert len(page.valid) == 1 and len(page.invalid) == 3
    assert page.invalid[0] == "object: not a JSON object but str"


def test_other_pattern_languages_are_not_parsed_as_stix() -> None:
    sigma = {**INDICATOR, "pattern_type": "sigma", "pattern": "title: x\ndetection: {}"}
    assert validate_object(sigma).indicators == []


def test_an_object_too_deep_to_serialise_is_invalid_not_a_failed_page() -> None:
    """orjson refuses more than 255 levels with a TypeError; that made a whole TAXII run fail."""
    deep: list = []
    for _ in range(300):
        deep = [deep]
    page = validate_page([INDICATOR, {**INDICATOR, "id": "indicator--00000000-0000-4000-8000-000000000001",
                                      "x_deep": deep}])  # fmt: skip
    assert len(page.valid) == 1
    (reason,) = page.invalid
    assert reason.startswith("indicator--00000000-0000-4000-8000-000000000001: cannot be stored as JSON")
