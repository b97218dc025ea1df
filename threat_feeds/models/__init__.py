"""Models: feeds, runs, and the intelligence store with its provenance."""

from .feeds import ThreatFeed
from .runs import FeedRun
from .store import (
    Indicator,
    IndicatorEnrichment,
    IndicatorProvenance,
    ObjectProvenance,
    StixObject,
    StixObjectVersion,
)

__all__ = [
    "FeedRun",
    "Indicator",
    "IndicatorEnrichment",
    "IndicatorProvenance",
    "ObjectProvenance",
    "StixObject",
    "StixObjectVersion",
    "ThreatFeed",
]
