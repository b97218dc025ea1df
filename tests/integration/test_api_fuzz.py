"""Schemathesis against /api/schema/, in-process through the WSGI app: no generated request gets a 5xx.

A bounded number of examples per operation (CRISP_FUZZ_EXAMPLES, default 25) keeps the whole run
around a minute on a 2-core machine. Nothing is skipped: `consume` runs inside the test's
transaction, whose on-commit enqueue never fires, so no real run starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from schemathesis import GenerationMode

from threat_feeds.models import ThreatFeed

# Per operation, valid and invalid requests mixed (schemathesis' positive and negative modes).
EXAMPLES = int(os.environ.get("CRISP_FUZZ_EXAMPLES", "25"))


@pytest.fixture
def fuzz_user(db: Any, django_user_model: Any) -> Any:
    user = django_user_model.objects.create_user("fuzzer", password="fuzz-pass-1")
    # Something for detail routes and filters to find: a feed of each kind the user owns.
    ThreatFeed.objects.create(name="fuzz bundle", source_type="stix_bundle", owner=user)
    ThreatFeed.objects.create(name="fuzz vt", source_type="virustotal", owner=user, api_key="k")
    return user


@pytest.fixture
def fuzz_token(fuzz_user: Any) -> str:
    return Token.objects.create(user=fuzz_user).key


@pytest.fixture
def api_schema(fuzz_user: Any) -> Iterator[Any]:
    from django.core.wsgi import get_wsgi_application

    client = APIClient()
    client.force_authenticate(fuzz_user)
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.content[:300]
    loaded = schemathesis.openapi.from_dict(response.json())
    loaded.app = get_wsgi_application()
    # As Django's test client does: a request must not close the test's connection.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield loaded
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def test_no_generated_request_gets_a_server_error(api_schema: Any, fuzz_token: str) -> None:
    # One hypothesis run per operation (schemathesis' pytest parametrisation does not work with
    # pytest 9's fixtures yet); the first failure of each is collected, all are reported at the end.
    headers = {"Authorization": f"Token {fuzz_token}"}
    failures: list[str] = []
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(
            case=operation.as_strategy(GenerationMode.POSITIVE)
            | operation.as_strategy(GenerationMode.NEGATIVE)
        )
        def check(case: Any) -> None:
            response = case.call(headers=headers)
            described = (
                f"{case.method} {case.formatted_path} query={case.query!r} body={case.body!r:.300}"
                f" -> {response.status_code} {response.text[:300]}"
            )
            assert response.status_code < 500, described
            if response.status_code >= 400:
                body = response.json()
                assert isinstance(body.get("detail"), str) and isinstance(body.get("code"), str), described

        try:
            check()
        except AssertionError as exc:
            failures.append(str(exc).splitlines()[0])
    assert operations >= 15
    assert not failures, "\n".join(failures)
