"""AlienVault OTX subscribed pulses through the OTXv2 SDK, page by page, as STIX 2.1.

The SDK's `getall`/`walkapi` loop over every page in one call; we follow the same `next` links with
the SDK's own `get`, so there is a checkpoint before and after every request and the cursor can
move after each stored page. The SDK is given our guarded session (no hidden urllib3 retries:
429/5xx are retried here, with cancellable waits).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import requests
from OTXv2 import SUBSCRIBED, BadRequest, InvalidAPIKey, NotFound, OTXv2
from OTXv2 import RetryError as OtxRetryError

from .base import Checkpoint, FeedConfig, Page, Source, SourceError
from .jsonlimits import rejection_problems
from .netguard import GuardedSession, guarded_session
from .otx_stix import map_pulses, pulse_modified
from .paging import PagingGuard
from .taxii21 import DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_CAP, DEFAULT_MAX_RETRY_AFTER, _retry_after_seconds

DEFAULT_SERVER = "https://otx.alienvault.com"
DEFAULT_PAGE_SIZE = 50  # OTX's own default `limit`


class OtxSource(Source):
    """Subscribed pulses modified since the cursor's `modified_since`; one OTX page = one Page."""

    source_type = "otx"

    def __init__(self, config: FeedConfig, checkpoint: Checkpoint) -> None:
        super().__init__(config, checkpoint)
        self.server = (config.url or DEFAULT_SERVER).rstrip("/")
        if not config.api_key:
            raise SourceError("An OTX feed needs an API key (X-OTX-API-KEY).", code="auth_missing")
        self._session: GuardedSession = guarded_session(config)
        self._session.credential_headers.add("X-OTX-API-KEY")
        self._last_response: requests.Response | None = None
        self._session.hooks["response"].append(self._remember_response)
        self.otx = OTXv2(config.api_key, server=self.server, project="CRISP")
        self.otx.request_session = self._session  # the SDK uses the session it is given as is
        settings = config.settings
        self._max_retry_after = float(settings.get("max_retry_after_seconds", DEFAULT_MAX_RETRY_AFTER))
        self._backoff_base = float(settings.get("backoff_base_seconds", DEFAULT_BACKOFF_BASE))
        self._backoff_cap = float(settings.get("backoff_cap_seconds", DEFAULT_BACKOFF_CAP))
        self._page_size = int(settings.get("limit") or min(config.page_size or DEFAULT_PAGE_SIZE, 1000))

    def _remember_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        self._last_response = response
        return response

    def pages(self, cursor: Mapping[str, Any]) -> Iterator[Page]:
        self.checkpoint.stage("connecting")
        since = cursor.get("modified_since") or self.config.settings.get("modified_since") or None
        args: dict[str, Any] = {"limit": self._page_size}
        if since:
            args["modified_since"] = since
        url: str | None = self.otx.create_url(SUBSCRIBED, **args)
        latest: datetime | None = datetime.fromisoformat(since) if since else None
        paging = PagingGuard(where=f"OTX at {self.server}", max_pages=self.config.max_pages,
                             max_idle_pages=self.config.max_idle_pages)  # fmt: skip
        paging.token(url)
        for number in itertools.count(1):
            if url is None:
                return
            paging.page()
            body = self._get(url)
            if number == 1:
                self.checkpoint.stage("fetching")
            results, url = self._envelope(body)
            results, rejected = rejection_problems(results, name="results")  # over the depth/size limits
            paging.progress(results)
            paging.token(url)
            for pulse in results:
                moment = pulse_modified(pulse) if isinstance(pulse, dict) else None
                if moment is not None and (latest is None or moment > latest):
                    latest = moment
            mapped = map_pulses(results)
            yield Page(
                objects=mapped.objects,
                cursor={"modified_since": latest.isoformat()} if latest else {},
                total_expected=None,
                problems=rejected + mapped.problems,
            )

    def _envelope(self, body: Any) -> tuple[list[Any], str | None]:
        where = self._url()
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            shape = type(body).__name__ if not isinstance(body, dict) else f"keys {sorted(body)[:5]}"
            raise SourceError(
                f"OTX answered {shape} for {where}, not a page of pulses (a 'results' list).",
                code="malformed_response",
            )
        next_url = body.get("next")
        if next_url is not None and not isinstance(next_url, str):
            raise SourceError(f"OTX answered a 'next' link that is not a string for {where}.",
                              code="malformed_response")  # fmt: skip
        return body["results"], next_url or None

    def _get(self, url: str) -> Any:
        """One OTX request through the SDK with checkpoints, Retry-After on 429, backoff on 5xx."""
        for attempt in itertools.count():
            self.checkpoint("before_request")
            self._last_response = None
            try:
                # The SDK str.format()s every URL: braces in a hostile `next` link must stay literal.
                body = self.otx.get(url.replace("{", "{{").replace("}", "}}"))
            except InvalidAPIKey as exc:
                self.checkpoint("after_request")
                raise SourceError(
                    f"OTX refused the API key (HTTP 403) for {self._url(url)}: wrong or revoked key.",
                    code="auth_failed",
                ) from exc
            except (BadRequest, NotFound) as exc:
                self.checkpoint("after_request")
                status = self._status()
                raise SourceError(f"OTX answered HTTP {status} for {self._url(url)}: {exc}",
                                  code="not_found" if status == 404 else "http_error") from exc  # fmt: skip
            except (requests.ConnectionError, requests.Timeout, OtxRetryError) as exc:
                self.checkpoint("after_request")  # an aborted read lands here: report the stop
                if attempt < self.config.max_retries:
                    self._backoff(attempt, reason="network_error")
                    continue
                raise SourceError(f"Network error talking to OTX at {self.server}: {exc}",
                                  code="network_error") from exc  # fmt: skip
            except ValueError as exc:  # requests' JSONDecodeError: the body is not JSON
                self.checkpoint("after_request")
                raise SourceError(f"OTX answered a body that is not JSON for {self._url(url)}.",
                                  code="malformed_json") from exc  # fmt: skip
            except SourceError:
                self.checkpoint("after_request")
                raise
            except Exception as exc:  # the SDK raises a bare Exception for every other status
                self.checkpoint("after_request")
                status = self._status()
                if status == 401:
                    raise SourceError(f"OTX refused the API key (HTTP 401) for {self._url(url)}.",
                                      code="auth_failed") from exc  # fmt: skip
                if status in (429,) or status >= 500:
                    if attempt < self.config.max_retries:
                        self._wait_before_retry(attempt, status)
                        continue
                    code = "rate_limited" if status == 429 else "server_error"
                    raise SourceError(f"OTX kept answering HTTP {status} after {self.config.max_retries} "
                                      f"retries: {self._url(url)}.", code=code) from exc  # fmt: skip
                if status:
                    raise SourceError(f"OTX answered HTTP {status} for {self._url(url)}.",
                                      code="http_error") from exc  # fmt: skip
                raise
            self.checkpoint("after_request")
            return body
        raise AssertionError("unreachable")

    def _status(self) -> int:
        return self._last_response.status_code if self._last_response is not None else 0

    def _url(self, default: str = "") -> str:
        response = self._last_response
        return response.url if response is not None else (default or self.server)

    def _wait_before_retry(self, attempt: int, status: int) -> None:
        response = self._last_response
        retry_after = _retry_after_seconds(response) if response is not None else None
        if retry_after is not None:
            self.checkpoint.wait(min(retry_after, self._max_retry_after), reason="retry_after")
        else:
            self._backoff(attempt, reason="retry_after" if status == 429 else "backoff")

    def _backoff(self, attempt: int, *, reason: str) -> None:
        self.checkpoint.wait(min(self._backoff_cap, self._backoff_base * 2**attempt), reason=reason)

    def abort(self) -> None:
        self._session.abort()

    def close(self) -> None:
        self._session.close()
