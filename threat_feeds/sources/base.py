"""The one interface every feed source implements, and the hooks it is given."""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from .jsonlimits import JsonLimits


class Checkpoint(Protocol):
    """What a source calls so a run can be stopped at any point (see control/checkpoint.py)."""

    def __call__(self, where: str) -> None:
        """Return normally, or raise RunInterrupted if the run must stop now."""

    def wait(self, seconds: float, *, reason: str) -> None:
        """Sleep up to `seconds`; raises RunInterrupted as soon as the run must stop."""

    def stage(self, name: str) -> None:
        """Report the run's stage (connecting, fetching, ...)."""


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """Everything a source needs to know about its feed, without Django models."""

    source_type: str
    url: str
    collection_id: str = ""
    username: str = ""
    password: str = ""
    api_key: str = ""
    page_size: int = 1000
    settings: Mapping[str, Any] = field(default_factory=dict)
    allow_private_urls: bool = False
    # Limits against hostile servers (settings CRISP_*; see docs/SECURITY-sources.md).
    max_response_bytes: int = 32 * 1024 * 1024  # one page/response, compressed and inflated
    max_bundle_bytes: int = 1024 * 1024 * 1024  # one streamed bundle, inflated
    max_object_bytes: int = 8 * 1024 * 1024  # one object (entry) of a page or bundle
    max_json_depth: int = 64  # nesting inside one object
    max_json_values: int = 4_000_000  # JSON values in one page
    max_pages: int = 100_000
    max_idle_pages: int = 5  # consecutive pages bringing nothing new
    request_timeout: float = 30.0  # each connect / socket read
    request_deadline: float = 120.0  # one request, headers and body
    stream_deadline: float = 3600.0  # time spent waiting on a streamed bundle's server
    max_retries: int = 5

    def json_limits(self, *, max_bytes: int | None = None, max_values: int | None = None) -> JsonLimits:
        from .jsonlimits import JsonLimits  # jsonlimits imports this module

        return JsonLimits(
            max_depth=self.max_json_depth,
            max_object_bytes=self.max_object_bytes,
            max_bytes=self.max_response_bytes if max_bytes is None else max_bytes,
            max_values=self.max_json_values if max_values is None else max_values,
        )


@dataclass(slots=True)
class Page:
    """One unit of fetched work: raw objects plus the cursor to resume *after* it."""

    objects: list[dict[str, Any]]
    cursor: dict[str, Any] | None = None
    total_expected: int | None = None
    # Non-fatal problems with the page's content (e.g. an entry that is not a JSON object).
    problems: list[str] = field(default_factory=list)


class SourceError(Exception):
    """A source failed in a way the run should report (code + human sentence)."""

    def __init__(self, message: str, *, code: str = "source_error") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Source(abc.ABC):
    """A feed type. Subclasses set `source_type` and implement `pages`."""

    source_type: ClassVar[str]

    def __init__(self, config: FeedConfig, checkpoint: Checkpoint) -> None:
        self.config = config
        self.checkpoint = checkpoint

    @abc.abstractmethod
    def pages(self, cursor: Mapping[str, Any]) -> Iterator[Page]:
        """Yield pages in order, starting after `cursor` (empty mapping = from the start).

        Call `self.checkpoint(...)` before and after every request and use
        `self.checkpoint.wait(...)` for every sleep.
        """

    def abort(self) -> None:
        """Called from another thread when the run must stop: break any blocking network read."""

    def close(self) -> None:
        """Release network resources; called when the run ends however it ends."""
