"""Streamed exports (SPEC §6): a STIX bundle of a store selection, and indicator blocklists.

Both stream rows straight from a database cursor (`iterator(chunk_size=…)`), so memory stays
constant whatever the selection's size; the stored `data` is the object exactly as received.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.views import APIView

from threat_feeds import selectors
from threat_feeds.errors import InvalidInput

CHUNK = 2000


class FirstRenderer(BaseContentNegotiation):
    """The export decides its own media type; `?format=txt|csv` is ours, not DRF's renderer override.
    Errors still render as JSON."""

    def select_parser(self, request: Request, parsers: list[Any]) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(
        self, request: Request, renderers: list[Any], format_suffix: str | None = None
    ) -> Any:
        return renderers[0], renderers[0].media_type


def _validated(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    params = serializer_class(data=request.query_params)
    if not params.is_valid():
        first = next(iter(params.errors.items()))
        raise InvalidInput(
            f"{first[0]}: {first[1][0]}", code="invalid_filter", extra={"errors": params.errors}
        )
    return params.validated_data


class StixExportParams(serializers.Serializer):
    feed = serializers.IntegerField(required=False, min_value=1)
    run = serializers.IntegerField(required=False, min_value=1)
    type = serializers.RegexField(r"^[a-z0-9][a-z0-9-]{0,99}$", required=False)
    modified_after = serializers.DateTimeField(required=False)


class IndicatorExportParams(serializers.Serializer):
    kind = serializers.RegexField(r"^[a-z0-9-]{1,60}(,[a-z0-9-]{1,60})*$", required=False)
    format = serializers.ChoiceField(choices=["txt", "csv"], default="txt")
    feed = serializers.IntegerField(required=False, min_value=1)
    run = serializers.IntegerField(required=False, min_value=1)
    first_seen_after = serializers.DateTimeField(required=False)
    min_malicious = serializers.IntegerField(required=False, min_value=0, max_value=1_000_000)


def stix_bundle_chunks(objects: Iterable[Any]) -> Iterator[bytes]:
    """`{"type":"bundle","id":…,"objects":[…]}` written object by object, ~64 KiB per chunk."""
    head = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}"}
    buffer = bytearray(orjson.dumps(head)[:-1] + b',"objects":[')
    first = True
    for data in objects:
        if not first:
            buffer += b","
        buffer += orjson.dumps(data)
        first = False
        if len(buffer) >= 65536:
            yield bytes(buffer)
            buffer.clear()
    buffer += b"]}"
    yield bytes(buffer)


def _filename(stem: str, extension: str) -> str:
    return f"crisp-{stem}-{timezone.now().strftime('%Y%m%dT%H%M%SZ')}.{extension}"


@extend_schema(
    summary="A STIX bundle of the selected objects (current versions, exactly as received), streamed",
    parameters=[
        OpenApiParameter("feed", int, description="objects a run of this feed delivered"),
        OpenApiParameter("run", int, description="objects this run delivered"),
        OpenApiParameter("type", str, description="STIX type, e.g. indicator"),
        OpenApiParameter("modified_after", OpenApiTypes.DATETIME, description="`modified` strictly after"),
    ],
    responses={
        (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="a STIX bundle"),
        400: OpenApiResponse(OpenApiTypes.OBJECT, description='{"detail", "code", "errors"}'),
    },
)
class StixObjectExportView(APIView):
    content_negotiation_class = FirstRenderer

    def get(self, request: Request) -> StreamingHttpResponse:
        params = _validated(StixExportParams, request)
        objects = selectors.stix_objects_for_export(user=request.user, **params)
        rows = objects.values_list("data", flat=True).iterator(chunk_size=CHUNK)
        response = StreamingHttpResponse(stix_bundle_chunks(rows), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{_filename("bundle", "json")}"'
        return response


CSV_HEADER = [
    "kind",
    "value",
    "first_seen",
    "malicious",
    "suspicious",
    "harmless",
    "undetected",
    "reputation",
    "vt_checked_at",
]


def _csv_row(kind: str, value: str, first_seen: Any, enrichment: dict[str, Any] | None) -> list[Any]:
    vt = (enrichment or {}).get("virustotal") or {}
    stats = vt.get("last_analysis_stats") or {}
    return [
        kind,
        value,
        first_seen.isoformat().replace("+00:00", "Z") if first_seen else "",
        *(stats.get(key, "") for key in ("malicious", "suspicious", "harmless", "undetected")),
        "" if vt.get("reputation") is None else vt["reputation"],
        vt.get("checked_at", ""),
    ]


def blocklist_txt(values: Iterable[str]) -> Iterator[bytes]:
    buffer: list[str] = []
    for value in values:
        # One value a line: a value holding a line break would inject a second entry.
        buffer.append(value.replace("\r", "").replace("\n", ""))
        if len(buffer) >= CHUNK:
            yield ("\n".join(buffer) + "\n").encode()
            buffer.clear()
    if buffer:
        yield ("\n".join(buffer) + "\n").encode()


def blocklist_csv(rows: Iterable[tuple[Any, ...]]) -> Iterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for count, row in enumerate(rows, 1):
        writer.writerow(_csv_row(*row))
        if count % CHUNK == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()


@extend_schema(
    summary="A blocklist of indicator values, one a line (txt) or CSV with a header, streamed",
    parameters=[
        OpenApiParameter("kind", str, description="indicator kind(s), comma-separated, e.g. ipv4,domain"),
        OpenApiParameter("format", str, enum=["txt", "csv"], description="default txt"),
        OpenApiParameter("feed", int, description="values a run of this feed delivered"),
        OpenApiParameter("run", int, description="values this run delivered"),
        OpenApiParameter("first_seen_after", OpenApiTypes.DATETIME),
        OpenApiParameter("min_malicious", int, description="VirusTotal: at least N engines said malicious"),
    ],
    responses={
        (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="one value a line"),
        (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description=",".join(CSV_HEADER)),
        400: OpenApiResponse(OpenApiTypes.OBJECT, description='{"detail", "code", "errors"}'),
    },
)
class IndicatorExportView(APIView):
    content_negotiation_class = FirstRenderer

    def get(self, request: Request) -> StreamingHttpResponse:
        params = _validated(IndicatorExportParams, request)
        fmt = params.pop("format")
        if "kind" in params:
            params["kinds"] = params.pop("kind").split(",")
        indicators: QuerySet[Any] = selectors.indicators_for_export(user=request.user, **params)
        if fmt == "txt":
            values = indicators.values_list("value", flat=True).iterator(chunk_size=CHUNK)
            response = StreamingHttpResponse(blocklist_txt(values), content_type="text/plain; charset=utf-8")
        else:
            rows = indicators.values_list("kind", "value", "first_seen_at", "enrichment").iterator(
                chunk_size=CHUNK
            )
            response = StreamingHttpResponse(blocklist_csv(rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{_filename("blocklist", fmt)}"'
        return response
