"""TAXII 2.1 collections through taxii2-client, made robust against the servers found in the wild."""

from __future__ import annotations

import datetime
import email.utils
import functools
import itertools
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import requests
from requests.auth import HTTPBasicAuth
from taxii2client.common import _HTTPConnection
from taxii2client.exceptions import AccessError, InvalidJSONError, TAXIIServiceException, ValidationError
from taxii2client.v21 import Collection

from .base import Checkpoint, FeedConfig, Page, Source, SourceError
from .jsonlimits import rejection_problems
from .netguard import GuardedSession, guarded_session
from .paging import PagingGuard

T = TypeVar("T")

DATE_ADDED_LAST = "X-TAXII-Date-Added-Last"
MAX_NEXT_RESTARTS = 3  # consecutive restarts after a refused `next` token
MAX_PROBLEMS_KEPT = 10
DEFAULT_MAX_RETRY_AFTER = 300.0
DEFAULT_BACKOFF_BASE = 1.0
DEFAULT_BACKOFF_CAP = 60.0
ENVELOPE_KEYS = frozenset({"more", "next", "objects"})
_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z$")


class _HTTPStatusError(SourceError):
    """An HTTP error answer; keeps the status so paging can tell a dead `next` token apart."""

    def __init__(self, message: str, *, code: str, status: int) -> None:
        super().__init__(message, code=code)
        self.status = status


def _retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _envelope_objects(envelope: Any, url: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The usable objects of a TAXII envelope and why others were skipped; raise if none could be."""
    if not isinstance(envelope, dict):
        raise SourceError(
            f"{url} answered JSON {type(envelope).__name__}, not a TAXII envelope object.", code="not_stix"
        )
    if "objects" not in envelope:
        extra = sorted(set(envelope) - ENVELOPE_KEYS)
        if extra:  # an empty envelope may omit `objects`; anything else is not TAXII
            raise SourceError(
                f"{url} answered JSON without an 'objects' list (keys: {', '.join(extra[:5])}).",
                code="not_stix",
            )
        return [], []
    entries = envelope["objects"]
    if not isinstance(entries, list):
        raise SourceError(
            f"{url} answered 'objects' as {type(entries).__name__}, not a list.", code="not_stix"
        )
    entries, rejected = rejection_problems(entries, name="objects")  # over the depth/size limits
    objects = [entry for entry in entries if isinstance(entry, dict)]
    skipped = [(i, entry) for i, entry in enumerate(entries) if not isinstance(entry, dict)]
    if skipped and not objects and not rejected:
        raise SourceError(
            f"{url} answered {len(entries)} entries in 'objects' and none is a JSON object.", code="not_stix"
        )
    problems = [
        f"objects[{i}] is a JSON {type(entry).__name__}, not an object; skipped"
        for i, entry in skipped[:MAX_PROBLEMS_KEPT]
    ]
    if len(skipped) > MAX_PROBLEMS_KEPT:
        problems.append(f"... and {len(skipped) - MAX_PROBLEMS_KEPT} more entries that are not objects")
    return objects, rejected + problems


def _just_before(timestamp: str | None) -> str | None:
    """A TAXII timestamp strictly before `timestamp` (at most 2 µs before): `added_after` is exclusive.

    Resuming with the last page's X-TAXII-Date-Added-Last itself skips every object that shares
    that instant but did not fit on the page (a collection loaded in one transaction has one
    instant for everything). Asking from just before it re-reads those objects instead; the
    ones already stored are the same versions and count as unchanged.
    """
    if not timestamp:
        return timestamp
    text = timestamp.strip()
    match = _TIMESTAMP.match(text)
    if match is None:
        return timestamp  # not ours to reinterpret; the server decides
    whole, fraction = match.group(1), (match.group(2) or "")[:6].ljust(6, "0")
    moment = datetime.datetime.fromisoformat(f"{whole}.{fraction}+00:00") - datetime.timedelta(microseconds=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Taxii21Source(Source):
    """Pages a TAXII 2.1 collection with `limit`/`next`, resuming with `added_after`.

    `config.url` is the API root; the cursor is the X-TAXII-Date-Added-Last of the last page. A
    new query (the next run, or a restart after the server forgot a `next` token) asks from just
    before that instant, so objects sharing it are never skipped (see `_just_before`).
    """

    source_type = "taxii21"

    def __init__(self, config: FeedConfig, checkpoint: Checkpoint) -> None:
        super().__init__(config, checkpoint)
        self._session: GuardedSession = guarded_session(config)
        self._last_response: requests.Response | None = None
        self._session.hooks["response"].append(self._remember_response)
        if config.api_key:
            header = str(config.settings.get("api_key_header", "Authorization"))
            prefix = str(config.settings.get("api_key_prefix", ""))
            self._session.headers[header] = prefix + config.api_key
            self._session.credential_headers.add(header)
        elif config.username or config.password:
            self._session.auth = HTTPBasicAuth(config.username, config.password)
        settings = config.settings
        self._max_retry_after = float(settings.get("max_retry_after_seconds", DEFAULT_MAX_RETRY_AFTER))
        self._backoff_base = float(settings.get("backoff_base_seconds", DEFAULT_BACKOFF_BASE))
        self._backoff_cap = float(settings.get("backoff_cap_seconds", DEFAULT_BACKOFF_CAP))

    @property
    def collection_url(self) -> str:
        if not self.config.collection_id:
            return self.config.url  # the URL names the collection itself
        return f"{self.config.url.rstrip('/')}/collections/{self.config.collection_id}/"

    def _remember_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        self._last_response = response
        return response

    def _connection(self) -> _HTTPConnection:
        # taxii2-client accepts a ready connection; give it ours so its requests are guarded.
        conn = _HTTPConnection(version="2.1")
        conn.session.close()
        conn.session = self._session
        return conn

    def pages(self, cursor: Mapping[str, Any]) -> Iterator[Page]:
        self.checkpoint.stage("connecting")
        collection = Collection(self.collection_url, conn=self._connection())
        self._call(collection.refresh)
        if not collection.can_read:
            raise SourceError(
                f"TAXII collection {self.collection_url} does not allow reading.", code="forbidden"
            )
        self.checkpoint.stage("fetching")

        added_after: str | None = cursor.get("added_after") or None  # date_added of the last stored page
        query_added_after = _just_before(added_after)  # the filter the current `next` chain was opened with
        token: str | None = None
        restarts = 0
        paging = PagingGuard(
            where=self.collection_url,
            max_pages=self.config.max_pages,
            max_idle_pages=self.config.max_idle_pages,
        )
        while True:
            paging.page()
            try:
                envelope = self._call(
                    functools.partial(
                        collection.get_objects,
                        limit=self.config.page_size,
                        added_after=query_added_after,
                        next=token,
                    )
                )
            except _HTTPStatusError as exc:
                # Servers forget `next` tokens (medallion after 30 s): query again from the last page.
                if token is None or exc.status not in (400, 404, 410) or restarts >= MAX_NEXT_RESTARTS:
                    raise
                restarts += 1
                paging.restart()
                token, query_added_after = None, _just_before(added_after)
                continue
            if token is not None:
                restarts = 0
            objects, problems = _envelope_objects(envelope, collection.objects_url)
            paging.progress(objects)
            response = self._last_response
            page_last = response.headers.get(DATE_ADDED_LAST) if response is not None else None
            advanced = bool(page_last) and page_last != added_after
            if page_last:
                added_after = page_last
            yield Page(
                objects=objects,
                cursor={"added_after": added_after} if added_after else {},
                total_expected=None,
                problems=problems,
            )
            more = bool(envelope.get("more"))
            token = envelope.get("next") or None
            if not more:
                return
            paging.token(token)
            if token is None:
                # `more` without `next`: the server pages by added_after only (TAXII 2.1 §3.4).
                if not advanced:
                    return
                query_added_after = added_after

    def _call(self, request: Callable[[], T]) -> T:
        """One TAXII request with checkpoints, Retry-After on 429 and bounded backoff on 5xx."""
        for attempt in itertools.count():
            self.checkpoint("before_request")
            self._last_response = None
            try:
                result = request()
            except requests.HTTPError as exc:
                self.checkpoint("after_request")
                response = exc.response
                status = response.status_code if response is not None else 0
                if (status == 429 or status >= 500) and attempt < self.config.max_retries:
                    self._wait_before_retry(response, attempt, status)
                    continue
                raise self._http_error(response, status) from exc
            except (requests.ConnectionError, requests.Timeout) as exc:
                self.checkpoint("after_request")  # an aborted read lands here: report the stop
                if attempt < self.config.max_retries:
                    self._backoff(attempt, reason="network_error")
                    continue
                raise SourceError(
                    f"Network error talking to {self.collection_url}: {exc}", code="network_error"
                ) from exc
            except requests.RequestException as exc:
                self.checkpoint("after_request")
                raise SourceError(
                    f"HTTP error talking to {self.collection_url}: {exc}", code="http_error"
                ) from exc
            except InvalidJSONError as exc:
                self.checkpoint("after_request")
                raise SourceError(
                    f"{self._url()} answered a body that is not JSON.", code="malformed_json"
                ) from exc
            except AccessError as exc:
                self.checkpoint("after_request")
                raise SourceError(str(exc), code="forbidden") from exc
            except ValidationError as exc:
                self.checkpoint("after_request")
                raise SourceError(f"Not a TAXII 2.1 collection: {exc}", code="not_taxii") from exc
            except TAXIIServiceException as exc:
                self.checkpoint("after_request")
                content_type = (
                    self._last_response.headers.get("Content-Type") if self._last_response else None
                )
                raise SourceError(
                    f"{self._url()} answered Content-Type {content_type!r}, not a TAXII 2.1 response "
                    "(application/taxii+json;version=2.1).",
                    code="not_taxii",
                ) from exc
            self.checkpoint("after_request")
            return result
        raise AssertionError("unreachable")

    def _url(self) -> str:
        response = self._last_response
        return response.url if response is not None else self.collection_url

    def _wait_before_retry(self, response: requests.Response | None, attempt: int, status: int) -> None:
        retry_after = _retry_after_seconds(response) if response is not None else None
        if retry_after is not None:
            self.checkpoint.wait(min(retry_after, self._max_retry_after), reason="retry_after")
        elif status == 429:
            self._backoff(attempt, reason="retry_after")
        else:
            self._backoff(attempt, reason="backoff")

    def _backoff(self, attempt: int, *, reason: str) -> None:
        self.checkpoint.wait(min(self._backoff_cap, self._backoff_base * 2**attempt), reason=reason)

    def _http_error(self, response: requests.Response | None, status: int) -> _HTTPStatusError:
        url = response.url if response is not None else self.collection_url
        if status in (401, 403):
            how = "API key" if self.config.api_key else "username/password"
            return _HTTPStatusError(
                f"TAXII server refused the credentials ({how}) with HTTP {status} for {url}.",
                code="auth_failed",
                status=status,
            )
        if status == 429:
            return _HTTPStatusError(
                f"TAXII server kept rate-limiting (HTTP 429) after {self.config.max_retries} retries: {url}.",
                code="rate_limited",
                status=status,
            )
        if status >= 500:
            return _HTTPStatusError(
                f"TAXII server kept failing (HTTP {status}) after {self.config.max_retries} retries: {url}.",
                code="server_error",
                status=status,
            )
        detail = ""
        if response is not None:
            try:
                body = response.json()
                detail = f": {body.get('title', '')} {body.get('description', '')}".rstrip()
            except (ValueError, AttributeError):
                detail = ""
        code = "not_found" if status == 404 else "http_error"
        return _HTTPStatusError(
            f"TAXII server answered HTTP {status} for {url}{detail}", code=code, status=status
        )

    def abort(self) -> None:
        """Unblock a request in progress (from another thread) so a stop is honoured at once."""
        self._session.abort()

    def close(self) -> None:
        self._session.close()
