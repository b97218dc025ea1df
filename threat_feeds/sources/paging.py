"""Per-run limits on pagination: a server must not keep a worker paging for ever.

Endless pagination seen in the wild (and from hostile servers): the same `next` token again and
again with the same page, or pages that bring nothing new. Each source calls `page()` once per page,
`token()` with each continuation it is given, and `progress()` with each page's objects.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from .base import SourceError

MAX_FINGERPRINTS = 100_000  # about 8 MB at most; older pages are forgotten


class PagingGuard:
    def __init__(self, *, where: str, max_pages: int, max_idle_pages: int) -> None:
        self.where = where
        self.max_pages = max_pages
        self.max_idle_pages = max_idle_pages
        self.pages = 0
        self.idle = 0
        self._tokens: set[Hashable] = set()
        self._fingerprints: set[int] = set()
        self._last_new = True

    def page(self) -> None:
        """Before each page request."""
        self.pages += 1
        if self.pages > self.max_pages:
            raise SourceError(
                f"{self.where} kept paginating past {self.max_pages} pages (CRISP_MAX_PAGES_PER_RUN); stopped.",
                code="too_many_pages",
            )

    def token(self, token: Hashable | None) -> None:
        """A continuation (`next` token or URL) the server gave, after `progress()` saw its page.

        Refused when given before in this chain with a page that brought nothing new. (A repeated
        token alone is legitimate: medallion keeps one token per query and advances it server-side.)
        """
        if token is None:
            return
        if not isinstance(token, (str, int)):
            token = repr(token)[:1000]
        if token in self._tokens and not self._last_new:
            raise SourceError(
                f"{self.where} answered the same continuation {str(token)[:80]!r} twice: "
                "the pagination makes no progress; stopped.",
                code="no_progress",
            )
        self._tokens.add(token)

    def restart(self) -> None:
        """The query started over (e.g. after an expired token): earlier tokens may come back."""
        self._tokens.clear()

    def progress(self, objects: Iterable[Any]) -> None:
        """After each page: an empty page, or one seen before, counts towards max_idle_pages."""
        keys = frozenset(
            (repr(obj.get("id"))[:200], repr(obj.get("modified"))[:60])
            if isinstance(obj, dict)
            else repr(obj)[:200]
            for obj in objects
        )
        fingerprint = hash(keys)
        self._last_new = bool(keys) and fingerprint not in self._fingerprints
        if not self._last_new:
            self.idle += 1
            if self.idle >= self.max_idle_pages:
                raise SourceError(
                    f"{self.where} sent {self.idle} pages in a row with nothing new "
                    "(CRISP_MAX_IDLE_PAGES); stopped.",
                    code="no_progress",
                )
            return
        self.idle = 0
        if len(self._fingerprints) >= MAX_FINGERPRINTS:
            self._fingerprints.clear()
        self._fingerprints.add(fingerprint)
