"""Streamed exports: a STIX bundle of a store selection and indicator blocklists (SPEC §6)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from tests.conftest import load_json
from tests.integration.helpers import ingest_bundle_file
from threat_feeds.models import Indicator, IndicatorProvenance, StixObject, ThreatFeed

# Storage runs in a thread with its own connection: it must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)
STIX20 = "stix20/talos/2022_09_lazarus-magicrat.json.gz"
STIX21 = "stix21/oasis/indicator-for-c2-ip-address.json"


def _body(response: Any) -> bytes:
    assert response.status_code == 200, response.content
    assert response.streaming
    return b"".join(response.streaming_content)


def _bundle(api: Any, query: str = "") -> dict[str, Any]:
    response = api.get(f"/api/stix-objects/export/{query}")
    bundle = json.loads(_body(response))
    assert response["Content-Type"] == "application/json"
    assert "attachment" in response["Content-Disposition"]
    assert bundle["type"] == "bundle" and bundle["id"].startswith("bundle--")
    return bundle


@pytest.fixture
def two_feeds(datasets: Path) -> dict[str, Any]:
    talos = ThreatFeed.objects.create(name="talos", source_type="stix_bundle")
    oasis = ThreatFeed.objects.create(name="oasis", source_type="stix_bundle")
    return {
        "talos": (
            talos,
            ingest_bundle_file(datasets / STIX20, talos),
            load_json(datasets / STIX20)["objects"],
        ),
        "oasis": (
            oasis,
            ingest_bundle_file(datasets / STIX21, oasis),
            load_json(datasets / STIX21)["objects"],
        ),
    }


def test_bundle_export_holds_every_object_exactly_as_received(api: Any, two_feeds: dict[str, Any]) -> None:
    source = [obj for _, _, objects in two_feeds.values() for obj in objects]
    bundle = _bundle(api)
    assert {o["id"]: o for o in bundle["objects"]} == {o["id"]: o for o in source}
    assert len(bundle["objects"]) == StixObject.objects.count()
    assert any("spec_version" not in o for o in bundle["objects"])  # STIX 2.0 kept as 2.0


def test_bundle_export_filters_by_feed_run_type_and_modified(api: Any, two_feeds: dict[str, Any]) -> None:
    talos, _, talos_objects = two_feeds["talos"]
    _, oasis_run, oasis_objects = two_feeds["oasis"]
    assert {o["id"] for o in _bundle(api, f"?feed={talos.pk}")["objects"]} == {o["id"] for o in talos_objects}
    assert {o["id"] for o in _bundle(api, f"?run={oasis_run.pk}")["objects"]} == {
        o["id"] for o in oasis_objects
    }
    indicators = _bundle(api, f"?feed={talos.pk}&type=indicator")["objects"]
    assert indicators and {o["type"] for o in indicators} == {"indicator"}
    assert len(indicators) == sum(o["type"] == "indicator" for o in talos_objects)
    dated = sorted(o["modified"] for o in talos_objects if "modified" in o)
    cut = dated[len(dated) // 2]
    after = _bundle(api, f"?feed={talos.pk}&modified_after={cut}")["objects"]
    assert {o["id"] for o in after} == {o["id"] for o in talos_objects if o.get("modified", "") > cut}
    assert _bundle(api, "?feed=999999")["objects"] == []


@pytest.mark.parametrize(
    "query",
    ["?feed=abc", "?run=-1", "?modified_after=yesterday", "?type=Not%20A%20Type"],
)
def test_bundle_export_refuses_bad_filters_with_json(api: Any, query: str) -> None:
    response = api.get(f"/api/stix-objects/export/{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_filter" and body["detail"]


@pytest.mark.parametrize("url", ["/api/stix-objects/export/", "/api/indicators/export/"])
def test_exports_require_authentication(client: Any, url: str) -> None:
    response = client.get(url)
    assert response.status_code in (401, 403)
    assert response.json()["code"] == "not_authenticated"


def test_blocklist_txt_is_one_value_a_line(api: Any, two_feeds: dict[str, Any]) -> None:
    talos = two_feeds["talos"][0]
    expected = set(
        Indicator.objects.filter(kind="ipv4", provenance__feed=talos).values_list("value", flat=True)
    )
    response = api.get(f"/api/indicators/export/?kind=ipv4&format=txt&feed={talos.pk}")
    body = _body(response).decode()
    assert response["Content-Type"].startswith("text/plain")
    assert body.endswith("\n") and set(body.splitlines()) == expected
    assert len(body.splitlines()) == len(expected)
    every = _body(api.get("/api/indicators/export/")).decode().splitlines()
    assert sorted(every) == sorted(Indicator.objects.values_list("value", flat=True))


def test_blocklist_csv_has_a_header_and_virustotal_verdicts(api: Any, two_feeds: dict[str, Any]) -> None:
    oasis = two_feeds["oasis"][0]
    values = list(
        Indicator.objects.filter(pk__in=IndicatorProvenance.objects.filter(feed=oasis).values("indicator"))
    )
    assert values
    flagged = values[0]
    flagged.enrichment = {
        "virustotal": {
            "last_analysis_stats": {"malicious": 7, "suspicious": 1, "harmless": 50, "undetected": 10},
            "reputation": -12,
            "checked_at": "2026-01-01T00:00:00+00:00",
        }
    }
    flagged.enriched_at = timezone.now()
    flagged.save()

    oasis_run = two_feeds["oasis"][1]
    by_run = _body(api.get(f"/api/indicators/export/?run={oasis_run.pk}")).decode().splitlines()
    assert sorted(by_run) == sorted(i.value for i in values)
    response = api.get(f"/api/indicators/export/?format=csv&feed={oasis.pk}")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(_body(response).decode())))
    assert {row["value"] for row in rows} == {i.value for i in values}
    row = next(r for r in rows if r["value"] == flagged.value)
    assert row["kind"] == flagged.kind and row["malicious"] == "7" and row["reputation"] == "-12"

    at_least = _body(api.get("/api/indicators/export/?min_malicious=5")).decode().splitlines()
    assert at_least == [flagged.value]
    assert _body(api.get("/api/indicators/export/?min_malicious=8")).decode() == ""
    future = _body(api.get("/api/indicators/export/?first_seen_after=2999-01-01T00:00:00Z")).decode()
    assert future == ""


@pytest.mark.parametrize("query", ["?format=xml", "?min_malicious=-1", "?kind=IPV4;drop", "?feed=x"])
def test_blocklist_refuses_bad_filters_with_json(api: Any, query: str) -> None:
    response = api.get(f"/api/indicators/export/{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "invalid_filter"
