"""Source registry: one line per feed type."""

from __future__ import annotations

from importlib import import_module

from threat_feeds.sources.base import Source

SOURCES: dict[str, str] = {
    "taxii21": "threat_feeds.sources.taxii21.Taxii21Source",
    "stix_bundle": "threat_feeds.sources.stix_bundle.StixBundleSource",
    "otx": "threat_feeds.sources.otx.OtxSource",
    "virustotal": "threat_feeds.sources.virustotal.VirusTotalSource",
}


def get_source_class(source_type: str) -> type[Source]:
    module_name, _, class_name = SOURCES[source_type].rpartition(".")
    return getattr(import_module(module_name), class_name)
