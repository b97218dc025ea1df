"""VirusTotal v3 lookups through vt-py, for enrichment runs (see pipeline/enrich.py).

vt-py is asyncio-based; each lookup runs as a task on an event loop owned by this source, so a
cancel (from another thread) cancels the task in flight instead of waiting for a socket timeout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import socket
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
import vt

from .base import Checkpoint, FeedConfig, Page, Source, SourceError
from .jsonlimits import JsonLimits, parse_limited
from .netguard import READ_CHUNK, address_is_internal, check_url

DEFAULT_HOST = "https://www.virustotal.com"
# Store indicator kind -> VirusTotal collection.
COLLECTIONS = {"ipv4": "ip_addresses", "ipv6": "ip_addresses", "domain": "domains", "url": "urls",
               "md5": "files", "sha1": "files", "sha256": "files"}  # fmt: skip
AUTH_ERRORS = frozenset({"WrongCredentialsError", "AuthenticationRequiredError", "ForbiddenError",
                         "UserNotActiveError"})  # fmt: skip
QUOTA_ERRORS = frozenset({"QuotaExceededError", "TooManyRequestsError"})


class QuotaExceeded(SourceError):
    """VirusTotal answered 429: the key's quota is used up for now (or for the day)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="quota_exceeded")


def _when(timestamp: Any) -> str | None:
    if isinstance(timestamp, (int, float)) and timestamp > 0:
        return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")
    return None


def enrichment_of(obj: vt.Object) -> dict[str, Any]:
    """The part of a VirusTotal object the store keeps (the dashboard reads exactly these keys)."""
    attributes = json.loads(json.dumps(obj.to_dict().get("attributes", {}), default=str))
    first = attributes.get("first_submission_date") or attributes.get("creation_date")
    last = (attributes.get("last_submission_date") or attributes.get("last_analysis_date")
            or attributes.get("last_modification_date"))  # fmt: skip
    return {
        "found": True,
        "type": obj.type,
        "id": obj.id,
        "last_analysis_stats": attributes.get("last_analysis_stats") or {},
        "reputation": attributes.get("reputation"),
        "tags": attributes.get("tags") or [],
        "first_seen": _when(first),
        "last_seen": _when(last),
        "last_analysis_date": _when(attributes.get("last_analysis_date")),
        "total_votes": attributes.get("total_votes") or {},
    }


class _GuardedResolver(aiohttp.ThreadedResolver):
    """Refuses host names resolving to internal addresses, at connect time (no DNS rebinding gap)."""

    def __init__(self, *, allow_private: bool) -> None:
        super().__init__()
        self.allow_private = allow_private

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> Any:
        hosts = await super().resolve(host, port, family)
        if not self.allow_private:
            for resolved in hosts:
                if address_is_internal(resolved["host"]):
                    raise SourceError(
                        f"VirusTotal host {host!r} resolves to {resolved['host']}, a loopback/private/reserved "
                        "address; such addresses are refused unless private feed URLs are allowed.",
                        code="url_not_allowed",
                    )
        return hosts


class _BufferedResponse(vt.ClientResponse):
    """A response whose body was read under the size cap; vt-py parses it through JsonLimits."""

    def __init__(self, response: aiohttp.ClientResponse, body: bytes, limits: JsonLimits) -> None:
        super().__init__(response)
        self._body = body
        self._limits = limits

    async def read_async(self) -> bytes:
        return self._body

    async def json_async(self) -> Any:
        return parse_limited(self._body, self._limits, where=f"VirusTotal answer from {self.url}", whole=True)

    async def text_async(self) -> str:
        return self._body.decode("utf-8", "replace")


class _GuardedClient(vt.Client):
    """vt.Client whose GETs pass the address guard, never follow redirects, and are capped in size and time.

    aiohttp follows redirects by default and strips only `Authorization`, so VirusTotal's
    `x-apikey` header would follow a 302 anywhere; a redirect is refused instead.
    """

    def __init__(self, *args: Any, config: FeedConfig, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._config = config

    async def get_async(self, path: str, *path_args: Any, params: dict[str, Any] | None = None) -> Any:
        config = self._config
        url = self._full_url(path, *path_args)
        # aiohttp does not ask the resolver about literal addresses (127.0.0.1, [::1], ...).
        check_url(url, allow_private=config.allow_private_urls)
        timeout = aiohttp.ClientTimeout(
            total=config.request_deadline,
            sock_connect=config.request_timeout,
            sock_read=config.request_timeout,
        )
        try:
            response = await self._get_session().get(
                url, params=params, proxy=self._proxy, allow_redirects=False, timeout=timeout
            )
            try:
                if 300 <= response.status < 400:
                    location = response.headers.get("Location", "")[:200]
                    raise SourceError(
                        f"VirusTotal at {self._host} answered a redirect (HTTP {response.status}) to "
                        f"{location!r}; redirects are refused so the API key never leaves its server.",
                        code="redirect_refused",
                    )
                body = await self._read_capped(response, url)
            finally:
                response.release()
        except TimeoutError as exc:
            raise SourceError(
                f"VirusTotal at {self._host} did not answer within {config.request_deadline:g} s "
                "(CRISP_REQUEST_DEADLINE_SECONDS); gave up.",
                code="response_too_slow",
            ) from exc
        return _BufferedResponse(response, body, config.json_limits())

    async def _read_capped(self, response: aiohttp.ClientResponse, url: str) -> bytes:
        limit = self._config.max_response_bytes
        if (response.content_length or 0) > limit:
            raise SourceError(f"Response from {url} announces {response.content_length} bytes, over the "
                              f"{limit}-byte limit.", code="response_too_large")  # fmt: skip
        body = bytearray()
        async for chunk in response.content.iter_chunked(READ_CHUNK):  # inflated bytes
            body += chunk
            if len(body) > limit:
                raise SourceError(f"Response from {url} exceeds the {limit}-byte limit.",
                                  code="response_too_large")  # fmt: skip
        return bytes(body)


class VirusTotalSource(Source):
    """Looks indicators up; enrichment runs call `lookup` instead of `pages`."""

    source_type = "virustotal"
    enriches = True
    supported_kinds = tuple(COLLECTIONS)

    def __init__(self, config: FeedConfig, checkpoint: Checkpoint) -> None:
        super().__init__(config, checkpoint)
        if not config.api_key:
            raise SourceError("A VirusTotal feed needs an API key.", code="auth_missing")
        self.host = (config.url or DEFAULT_HOST).rstrip("/")
        # The loop runs in a thread of its own: the caller's thread may already run an event loop
        # of its own (seen under Playwright's sync API), where run_until_complete would refuse.
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="crisp-vt-loop", daemon=True)
        self._thread.start()
        self._future: concurrent.futures.Future[Any] | None = None
        self._aborted = False
        connector = asyncio.run_coroutine_threadsafe(self._connector(), self._loop).result()
        self.client = _GuardedClient(config.api_key, host=self.host, agent="CRISP", config=config,
                                     timeout=max(1, int(config.request_deadline)), connector=connector)  # fmt: skip

    async def _connector(self) -> aiohttp.TCPConnector:
        # Every connection resolves through the guard (literal addresses: see _GuardedClient).
        return aiohttp.TCPConnector(resolver=_GuardedResolver(allow_private=self.config.allow_private_urls))

    def pages(self, cursor: Mapping[str, Any]) -> Iterator[Page]:
        raise SourceError("VirusTotal feeds enrich indicators; they have no pages.", code="not_paged")

    @staticmethod
    def path_for(kind: str, value: str) -> str:
        collection = COLLECTIONS[kind]
        object_id = vt.url_id(value) if collection == "urls" else value
        return f"/{collection}/{object_id}"

    def lookup(self, kind: str, value: str) -> dict[str, Any]:
        """The enrichment for one indicator; {"found": False} when VirusTotal does not know it."""
        path = self.path_for(kind, value)
        self.checkpoint("before_request")
        try:
            obj = self._run(self.client.get_object_async(path))
        except (asyncio.CancelledError, concurrent.futures.CancelledError):
            self.checkpoint("after_request")  # cancelled by abort(): the checkpoint raises
            raise SourceError("VirusTotal request cancelled.", code="aborted") from None
        except vt.APIError as exc:
            self.checkpoint("after_request")
            if exc.code == "NotFoundError":
                return {"found": False}
            raise self._api_error(exc, path) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.checkpoint("after_request")
            raise SourceError(f"Network error talking to VirusTotal at {self.host}: {exc}",
                              code="network_error") from exc  # fmt: skip
        except ValueError as exc:  # not JSON, or JSON without a `data` object
            self.checkpoint("after_request")
            raise SourceError(f"VirusTotal answered a malformed response for {path}: {exc}",
                              code="malformed_response") from exc  # fmt: skip
        self.checkpoint("after_request")
        return enrichment_of(obj)

    def _api_error(self, exc: vt.APIError, path: str) -> SourceError:
        if exc.code in QUOTA_ERRORS:
            return QuotaExceeded(f"VirusTotal quota exceeded ({exc.code}) for this API key.")
        if exc.code in AUTH_ERRORS:
            return SourceError(f"VirusTotal refused the API key ({exc.code}): wrong or revoked key.",
                               code="auth_failed")  # fmt: skip
        if exc.code == "ServerError":
            return SourceError(f"VirusTotal server error for {path}: {str(exc.message)[:200]}",
                               code="server_error")  # fmt: skip
        return SourceError(f"VirusTotal answered {exc.code} for {path}: {str(exc.message)[:200]}",
                           code="http_error")  # fmt: skip

    def _run(self, coroutine: Any) -> Any:
        if self._aborted:
            coroutine.close()
            raise asyncio.CancelledError
        self._future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return self._future.result()
        finally:
            self._future = None

    def abort(self) -> None:
        """From another thread: cancel the request in flight."""
        self._aborted = True
        future = self._future
        if future is not None:
            future.cancel()  # thread-safe: cancels the task on the loop's thread

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            for closing in (self.client.close_async(), self.client._connector.close()):
                asyncio.run_coroutine_threadsafe(closing, self._loop).result(timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
