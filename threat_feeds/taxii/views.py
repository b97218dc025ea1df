"""TAXII 2.1 endpoints (read-only), after medallion's views: the same checks, in Django + DRF auth.

Authentication is the API's (HTTP Basic for TAXII clients, token, session) and so is visibility;
errors are TAXII error messages; every answer is `application/taxii+json;version=2.1`.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from django.http import Http404, HttpResponse
from django.urls import reverse
from rest_framework import exceptions
from rest_framework.authentication import BasicAuthentication, SessionAuthentication, TokenAuthentication
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from threat_feeds.taxii.backend import TAXII_MEDIA_TYPE, CrispBackend, TaxiiError, parse_limit

_ACCEPTABLE = re.compile(r"^application/taxii\+json(;version=(\d\.\d))?$")


def taxii_response(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(orjson.dumps(body), status=status, content_type=TAXII_MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


class TaxiiNegotiation(BaseContentNegotiation):
    """medallion's Accept check: a TAXII 2.1 media type (or any type, for curl and browsers)."""

    def select_parser(self, request: Request, parsers: list[Any]) -> Any:
        return None

    def select_renderer(
        self, request: Request, renderers: list[Any], format_suffix: str | None = None
    ) -> Any:
        accept = request.META.get("HTTP_ACCEPT", "").replace(" ", "")
        for item in accept.split(","):
            match = _ACCEPTABLE.match(item)
            if match and match.group(2) not in (None, "2.1"):
                raise TaxiiError(
                    406, "unsupported TAXII version", f"this server speaks TAXII 2.1, not {item}"
                )
            if match or item.split(";")[0] in ("*/*", "application/*", ""):
                return JSONRenderer(), TAXII_MEDIA_TYPE
        raise TaxiiError(406, "not acceptable", f"ask for {TAXII_MEDIA_TYPE}")


def taxii_exception_handler(exc: Exception, context: dict[str, Any]) -> HttpResponse | None:
    if isinstance(exc, TaxiiError):
        status, title, description = exc.status, exc.title, exc.description
    elif isinstance(exc, Http404):
        status, title, description = 404, "not found", str(exc)
    elif isinstance(exc, exceptions.APIException):
        status, title, description = exc.status_code, str(exc.default_detail), str(exc.detail)
    else:
        return None
    response = taxii_response(
        {"title": title, "description": description, "http_status": str(status)}, status=status
    )
    if getattr(exc, "auth_header", None):
        response["WWW-Authenticate"] = exc.auth_header
    return response


class TaxiiView(APIView):
    # Basic first: an unauthenticated request gets 401 with `WWW-Authenticate: Basic`.
    authentication_classes = [BasicAuthentication, TokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]
    content_negotiation_class = TaxiiNegotiation
    throttle_classes: list[Any] = []
    schema = None  # a protocol of its own, documented by OASIS, not in the OpenAPI schema

    def get_exception_handler(self) -> Any:
        return taxii_exception_handler

    @property
    def backend(self) -> CrispBackend:
        return CrispBackend(self.request.user)

    def filters(self) -> dict[str, str]:
        return self.request.query_params.dict()

    def limit(self) -> int:
        return parse_limit(self.request.query_params.get("limit"))


class DiscoveryView(TaxiiView):
    def get(self, request: Request) -> HttpResponse:
        return taxii_response(
            self.backend.server_discovery(request.build_absolute_uri(reverse("taxii-api-root")))
        )


class ApiRootView(TaxiiView):
    def get(self, request: Request) -> HttpResponse:
        return taxii_response(self.backend.get_api_root_information())


class CollectionsView(TaxiiView):
    def get(self, request: Request) -> HttpResponse:
        return taxii_response({"collections": [c.resource() for c in self.backend.get_collections()]})


class CollectionView(TaxiiView):
    def get(self, request: Request, collection_id: str) -> HttpResponse:
        return taxii_response(self.backend.get_collection(collection_id).resource())


class ObjectsView(TaxiiView):
    def get(self, request: Request, collection_id: str) -> HttpResponse:
        body, headers = self.backend.get_objects(
            collection_id, self.filters(), ("id", "type", "version", "spec_version"), self.limit()
        )
        return taxii_response(body, headers=headers)


class ObjectView(TaxiiView):
    def get(self, request: Request, collection_id: str, object_id: str) -> HttpResponse:
        body, headers = self.backend.get_object(
            collection_id, object_id, self.filters(), ("version", "spec_version"), self.limit()
        )
        return taxii_response(body, headers=headers)


class ObjectVersionsView(TaxiiView):
    def get(self, request: Request, collection_id: str, object_id: str) -> HttpResponse:
        body, headers = self.backend.get_object_versions(
            collection_id, object_id, self.filters(), ("spec_version",), self.limit()
        )
        return taxii_response(body, headers=headers)


class ManifestView(TaxiiView):
    def get(self, request: Request, collection_id: str) -> HttpResponse:
        body, headers = self.backend.get_object_manifest(
            collection_id, self.filters(), ("id", "type", "version", "spec_version"), self.limit()
        )
        return taxii_response(body, headers=headers)
