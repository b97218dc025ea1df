"""Feeds API: validation at the boundary, write-only secrets, schedules, auth, schema."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask
from rest_framework.test import APIClient

from threat_feeds.models import ThreatFeed

pytestmark = pytest.mark.django_db


def test_private_feed_urls_are_refused_unless_allowed(api: Any, settings: Any) -> None:
    settings.CRISP_ALLOW_PRIVATE_FEED_URLS = False
    for url in (
        "http://127.0.0.1:9000/api1/",
        "http://10.1.2.3/taxii/",
        "http://[::1]/x/",
        "file:///etc/passwd",
    ):
        response = api.post("/api/threat-feeds/", {"name": url, "source_type": "taxii21", "url": url,
                                                   "collection_id": "c"}, format="json")  # fmt: skip
        assert response.status_code == 400, url
        assert response.json()["code"] == "invalid" and "url" in response.json()["errors"]
    settings.CRISP_ALLOW_PRIVATE_FEED_URLS = True
    response = api.post("/api/threat-feeds/", {"name": "local", "source_type": "taxii21",
                                               "url": "http://127.0.0.1:9000/api1/", "collection_id": "c"}, format="json")  # fmt: skip
    assert response.status_code == 201


def test_taxii_feed_needs_url_and_collection(api: Any) -> None:
    response = api.post("/api/threat-feeds/", {"name": "x", "source_type": "taxii21"}, format="json")
    assert response.status_code == 400 and "url" in response.json()["errors"]


def test_secrets_are_write_only(api: Any) -> None:
    created = api.post("/api/threat-feeds/", {"name": "s", "source_type": "taxii21", "url": "http://127.0.0.1:1/a/",
                                              "collection_id": "c", "password": "hunter2", "api_key": "k"}, format="json")  # fmt: skip
    assert created.status_code == 201
    for body in (created.json(), api.get(f"/api/threat-feeds/{created.json()['id']}/").json()):
        assert "hunter2" not in str(body) and "password" not in body and "api_key" not in body
        assert body["credentials"] == {"username": False, "password": True, "api_key": True}
    assert ThreatFeed.objects.get().password == "hunter2"


def test_schedule_creates_and_removes_a_beat_entry(api: Any) -> None:
    feed = api.post("/api/threat-feeds/", {"name": "sched", "source_type": "taxii21", "url": "http://127.0.0.1:1/a/",
                                           "collection_id": "c", "schedule": 30}, format="json").json()  # fmt: skip
    task = PeriodicTask.objects.get(name=f"consume feed {feed['id']}")
    assert task.interval.every == 30 and task.task == "threat_feeds.scheduled_consume_task" and task.enabled
    api.patch(f"/api/threat-feeds/{feed['id']}/", {"schedule": None}, format="json")
    assert not PeriodicTask.objects.filter(name=f"consume feed {feed['id']}").exists()


def test_only_owner_or_staff_edit_a_feed(api: Any, django_user_model: Any) -> None:
    feed = api.post(
        "/api/threat-feeds/", {"name": "mine", "source_type": "stix_bundle"}, format="json"
    ).json()
    other = APIClient()
    other.force_authenticate(django_user_model.objects.create_user("other"))
    assert other.get(f"/api/threat-feeds/{feed['id']}/").status_code == 200
    assert (
        other.patch(f"/api/threat-feeds/{feed['id']}/", {"name": "theirs"}, format="json").status_code == 403
    )
    assert other.delete(f"/api/threat-feeds/{feed['id']}/").status_code == 403
    assert api.delete(f"/api/threat-feeds/{feed['id']}/").status_code == 204


def test_every_endpoint_requires_authentication() -> None:
    client = APIClient()
    for path in ("/api/threat-feeds/", "/api/threat-feeds/tasks/", "/api/indicators/", "/api/stix-objects/",
                 "/api/auth/me/", "/api/schema/"):  # fmt: skip
        assert client.get(path).status_code in (401, 403), path


def test_openapi_schema_and_docs(api: Any) -> None:
    schema = api.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/threat-feeds/cancel-task/" in schema.content
    assert b"/api/threat-feeds/tasks/{task_id}/undo/" in schema.content and b"can_undo" in schema.content
    assert api.get("/api/docs/").status_code == 200


def test_bootstrap_creates_admin_and_demo_feed(capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "root")
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    call_command("bootstrap")
    out = capsys.readouterr().out
    assert "Created admin user 'root' with password:" in out
    feed = ThreatFeed.objects.get()
    assert feed.name.startswith("DEMO") and feed.owner.username == "root"
    call_command("bootstrap")
    assert ThreatFeed.objects.count() == 1


def test_bootstrap_keeps_the_demo_feed_on_the_demo_port(settings: Any, capsys: Any) -> None:
    # `make run` may give the demo TAXII server another port on the next start (PORT,
    # CRISP_DEMO_TAXII_PORT, or a free one when the default is taken): the existing feed follows.
    settings.CRISP_DEMO_TAXII_URL = "http://127.0.0.1:8001/"
    call_command("bootstrap")
    assert ThreatFeed.objects.get().url == "http://127.0.0.1:8001/demo/"
    settings.CRISP_DEMO_TAXII_URL = "http://127.0.0.1:45123/"
    call_command("bootstrap")
    feed = ThreatFeed.objects.get()
    assert feed.url == "http://127.0.0.1:45123/demo/"
    assert "now points at the demo TAXII server on http://127.0.0.1:45123/demo/" in capsys.readouterr().out
    # Another feed that happens to carry the demo name but not the demo flag is left alone.
    feed.settings = {}
    feed.save(update_fields=["settings"])
    settings.CRISP_DEMO_TAXII_URL = "http://127.0.0.1:45124/"
    call_command("bootstrap")
    assert ThreatFeed.objects.get().url == "http://127.0.0.1:45123/demo/"
