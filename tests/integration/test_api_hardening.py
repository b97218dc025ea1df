"""The API against a user who tries to break it: JSON errors, bounded input, owned uploads, login throttle,
who may start a feed (issue 10, API half)."""

from __future__ import annotations

import gzip
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from threat_feeds.models import FeedRun, ThreatFeed
from threat_feeds.services.feeds import feed_config

pytestmark = pytest.mark.django_db
HUGE = "99999999999999999999"
BUNDLE = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": []}


@pytest.fixture(autouse=True)
def _private_var_dir(settings: Any, tmp_path: Path) -> None:
    settings.VAR_DIR = tmp_path


def _client(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _feed(api: Any, **fields: Any) -> dict[str, Any]:
    body = {"name": f"feed {uuid.uuid4()}", "source_type": "stix_bundle", **fields}
    response = api.post("/api/threat-feeds/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _is_json_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    assert isinstance(body["detail"], str) and isinstance(body["code"], str), body
    return body


def _upload(api: Any, feed_id: int, content: bytes, name: str = "bundle.json") -> Any:
    data = io.BytesIO(content)
    data.name = name
    return api.post(f"/api/threat-feeds/{feed_id}/upload/", {"file": data}, format="multipart")


# --- 1. every /api/ error is JSON {"detail", "code"} ------------------------------------------


def test_unknown_routes_and_malformed_ids_are_json_404(api: Any) -> None:
    for path in (
        "/api/nope/",
        "/api/threat-feeds/task-status/not-a-uuid/",
        "/api/threat-feeds/tasks/123/undo/",
        "/api/threat-feeds/abc/",
        f"/api/stix-objects/{HUGE}/",
        f"/api/indicators/{HUGE}/",
        f"/api/threat-feeds/{HUGE}/",
    ):
        assert _is_json_error(api.get(path), 404)["code"] == "not_found", path


def test_wrong_method_is_json_405(api: Any) -> None:
    feed = _feed(api)
    assert _is_json_error(api.put(f"/api/threat-feeds/{feed['id']}/", {}, format="json"), 405)


def test_body_over_the_limit_is_json_413(api: Any, settings: Any) -> None:
    settings.CRISP_MAX_REQUEST_BYTES = 10_000
    body = json.dumps({"name": "x" * 20_000, "source_type": "stix_bundle"})
    response = api.post("/api/threat-feeds/", body, content_type="application/json")
    assert _is_json_error(response, 413)["code"] == "too_large"


def test_long_url_is_json_414(api: Any) -> None:
    response = api.get("/api/indicators/", {"value": "a" * 9000})
    assert _is_json_error(response, 414)["code"] == "uri_too_long"


def test_deeply_nested_body_is_json_400(api: Any) -> None:
    feed = _feed(api)
    for depth in (5000, 100):
        body = "[" * depth + "]" * depth
        for method, path in (("post", "/api/threat-feeds/"), ("patch", f"/api/threat-feeds/{feed['id']}/")):
            response = getattr(api, method)(path, body, content_type="application/json")
            assert _is_json_error(response, 400)["code"] == "parse_error"
    nested: Any = {}
    for _ in range(100):
        nested = {"a": nested}
    response = api.post("/api/auth/token/", json.dumps(nested), content_type="application/json")
    _is_json_error(response, 400)


def test_a_crash_is_json_500(api: Any, monkeypatch: Any) -> None:
    from threat_feeds.api import views

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(views.MeView, "get", crash)
    api.raise_request_exception = False
    body = _is_json_error(api.get("/api/auth/me/"), 500)
    assert body["code"] == "server_error" and "boom" not in body["detail"]


# --- 2. bounded input -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/threat-feeds/tasks/", "/api/indicators/", "/api/stix-objects/"])
def test_integer_filters_beyond_a_bigint_are_400(api: Any, path: str) -> None:
    for params in ({"feed": HUGE}, {"feed": "-1"}, {"feed": "1.5"}, {"run": HUGE}):
        if path.endswith("tasks/") and "run" in params:
            continue
        assert _is_json_error(api.get(path, params), 400)["code"] == "invalid", params
    assert api.get(path, {"feed": "1"}).status_code == 200


@pytest.mark.parametrize("schedule", [2**63, 2_000_000_000_000, 525_601, 0, -5])
def test_schedule_out_of_range_is_refused(api: Any, schedule: int) -> None:
    feed = _feed(api)
    response = api.patch(f"/api/threat-feeds/{feed['id']}/", {"schedule": schedule}, format="json")
    assert "schedule" in _is_json_error(response, 400)["errors"]
    assert ThreatFeed.objects.get(pk=feed["id"]).schedule_minutes is None


def test_schedule_of_a_year_is_accepted(api: Any) -> None:
    feed = _feed(api)
    response = api.patch(f"/api/threat-feeds/{feed['id']}/", {"schedule": 525_600}, format="json")
    assert response.status_code == 200 and response.json()["schedule"] == 525_600


@pytest.mark.parametrize("page_size", [0, 10_001, 2**63])
def test_page_size_out_of_range_is_refused(api: Any, page_size: int) -> None:
    response = api.post(
        "/api/threat-feeds/",
        {"name": "p", "source_type": "stix_bundle", "page_size": page_size},
        format="json",
    )
    assert "page_size" in _is_json_error(response, 400)["errors"]


@pytest.mark.parametrize(
    ("field", "size"),
    [("password", 1_000_000), ("api_key", 501), ("username", 201), ("name", 201), ("collection_id", 201)],
)
def test_long_fields_are_refused(api: Any, field: str, size: int) -> None:
    response = api.post(
        "/api/threat-feeds/", {"name": "long", "source_type": "stix_bundle", field: "x" * size}, format="json"
    )
    assert field in _is_json_error(response, 400)["errors"]


@pytest.mark.parametrize(
    ("source_type", "options"),
    [
        ("stix_bundle", {"upload_path": "/etc/passwd"}),
        ("stix_bundle", {"unknown": 1}),
        ("taxii21", {"max_retry_after_seconds": "soon"}),
        ("taxii21", {"backoff_cap_seconds": 1e300}),
        ("taxii21", {"api_key_header": "X-Key\r\nHost: evil"}),
        ("taxii21", {"demo": True}),
        ("otx", {"limit": True}),
        ("otx", {"modified_since": "yesterday"}),
        ("virustotal", {"kinds": ["ipv4", "bogus"]}),
        ("virustotal", {"feeds": [2**63]}),
        ("virustotal", {"quota_per_minute": 0}),
        ("virustotal", {"on_quota": "explode"}),
        ("virustotal", {"kinds": ["ipv4"] * 5000}),
        ("virustotal", []),
    ],
)
def test_settings_are_checked_against_the_source_types_schema(
    api: Any, source_type: str, options: Any
) -> None:
    body = {"name": "s", "source_type": source_type, "settings": options}
    if source_type == "taxii21":
        body |= {"url": "http://127.0.0.1:9/", "collection_id": "c"}
    response = api.post("/api/threat-feeds/", body, format="json")
    assert "settings" in _is_json_error(response, 400)["errors"]


def test_known_settings_are_accepted(api: Any) -> None:
    options = {"kinds": ["ipv4", "domain"], "feeds": [3, 7], "not_enriched_days": 7, "max_indicators": 500,
               "quota_per_minute": 4, "quota_per_day": 500, "on_quota": "wait"}  # fmt: skip
    feed = _feed(api, source_type="virustotal", api_key="k", settings=options)
    assert feed["settings"] == options
    taxii = {"api_key_header": "X-Api-Key", "api_key_prefix": "Bearer ", "backoff_base_seconds": 0.5}
    feed = _feed(api, source_type="taxii21", url="http://127.0.0.1:9/", collection_id="c", settings=taxii)
    assert feed["settings"] == taxii


def test_staff_may_keep_the_demo_flag_and_others_may_not_grant_it(
    api: Any, user: Any, django_user_model: Any
) -> None:
    staff = _client(django_user_model.objects.create_user("root", is_staff=True))
    demo = {"url": "http://127.0.0.1:9/", "collection_id": "c", "source_type": "taxii21"}
    feed = _feed(staff, settings={"demo": True}, **demo)
    ThreatFeed.objects.filter(pk=feed["id"]).update(owner=user)
    # The owner may send the settings back unchanged (the dashboard's form does), not grant it anew.
    response = api.patch(f"/api/threat-feeds/{feed['id']}/", {"settings": {"demo": True}}, format="json")
    assert response.status_code == 200, response.content
    mine = _feed(api, **demo)
    response = api.patch(f"/api/threat-feeds/{mine['id']}/", {"settings": {"demo": True}}, format="json")
    assert _is_json_error(response, 400)


# --- 3. uploads: owned, capped, checked at once, removed with the feed -------------------------


def test_upload_is_stored_under_a_server_chosen_path_and_handed_to_the_source(
    api: Any, settings: Any
) -> None:
    feed = _feed(api)
    response = _upload(api, feed["id"], json.dumps(BUNDLE).encode())
    assert response.status_code == 200 and response.json()["has_upload"] is True
    assert "upload_path" not in response.json()["settings"]
    stored = ThreatFeed.objects.get(pk=feed["id"])
    files = list((Path(settings.VAR_DIR) / "uploads" / str(feed["id"])).iterdir())
    assert len(files) == 1 and files[0].suffix == ".json"
    assert feed_config(stored).settings["upload_path"] == str(files[0].resolve())
    # A legacy or forged `upload_path` in the stored settings is never what the worker opens.
    ThreatFeed.objects.filter(pk=feed["id"]).update(settings={"upload_path": "/etc/passwd"})
    assert feed_config(ThreatFeed.objects.get(pk=feed["id"])).settings["upload_path"] == str(
        files[0].resolve()
    )
    other = _feed(api)
    ThreatFeed.objects.filter(pk=other["id"]).update(settings={"upload_path": "/etc/passwd"})
    assert "upload_path" not in feed_config(ThreatFeed.objects.get(pk=other["id"])).settings


def test_reupload_replaces_the_previous_file(api: Any, settings: Any) -> None:
    feed = _feed(api)
    folder = Path(settings.VAR_DIR) / "uploads" / str(feed["id"])
    assert _upload(api, feed["id"], json.dumps(BUNDLE).encode()).status_code == 200
    first = set(folder.iterdir())
    assert (
        _upload(api, feed["id"], gzip.compress(json.dumps(BUNDLE).encode()), "b.json.gz").status_code == 200
    )
    second = set(folder.iterdir())
    assert len(second) == 1 and second != first


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b'{"type": "bundle", "objects": [{"type": "indicator", ', "malformed_json"),
        (b"[" * 5000 + b"]" * 5000, "not_stix"),
        (b'{"objects": ' + b"[" * 5000 + b"]" * 5000 + b"}", "too_deep"),
        (b'{"type": "indicator"}', "not_stix"),
        (b"", "malformed_json"),
        (b"\x1f\x8b not really gzip", "malformed_gzip"),
    ],
)
def test_an_invalid_upload_is_refused_at_once(api: Any, settings: Any, content: bytes, code: str) -> None:
    feed = _feed(api)
    body = _is_json_error(_upload(api, feed["id"], content), 400)
    assert body["code"] == code, body
    assert ThreatFeed.objects.get(pk=feed["id"]).upload_file == ""
    assert list((Path(settings.VAR_DIR) / "uploads" / str(feed["id"])).iterdir()) == []


def test_uploads_over_the_cap_are_413_plain_and_inflated(api: Any, settings: Any) -> None:
    settings.CRISP_MAX_UPLOAD_BYTES = 1000
    feed = _feed(api)
    big = json.dumps({**BUNDLE, "pad": "x" * 5000}).encode()
    assert _is_json_error(_upload(api, feed["id"], big), 413)["code"] == "too_large"
    bomb = gzip.compress(json.dumps({**BUNDLE, "pad": "x" * 100_000}).encode())
    assert len(bomb) < 1000
    assert _is_json_error(_upload(api, feed["id"], bomb, "b.json.gz"), 413)["code"] == "too_large"
    assert ThreatFeed.objects.get(pk=feed["id"]).upload_file == ""


def test_deleting_a_feed_removes_its_upload(
    api: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    feed = _feed(api)
    assert _upload(api, feed["id"], json.dumps(BUNDLE).encode()).status_code == 200
    folder = Path(settings.VAR_DIR) / "uploads" / str(feed["id"])
    assert folder.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/threat-feeds/{feed['id']}/").status_code == 204
    assert not folder.exists()


# --- 4. login throttle ------------------------------------------------------------------------


def test_failed_token_logins_are_throttled_per_username_and_address(
    settings: Any, django_user_model: Any
) -> None:
    settings.CRISP_LOGIN_THROTTLE = "3/min"
    name = f"victim-{uuid.uuid4().hex[:8]}"
    django_user_model.objects.create_user(name, password="right-password-1")
    client = APIClient()
    for _ in range(3):
        response = client.post("/api/auth/token/", {"username": name, "password": "wrong"}, format="json")
        assert response.status_code == 400
    response = client.post(
        "/api/auth/token/", {"username": name, "password": "right-password-1"}, format="json"
    )
    assert _is_json_error(response, 429)["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    # Another username from the same address, and good logins, are not slowed down.
    other = f"other-{uuid.uuid4().hex[:8]}"
    django_user_model.objects.create_user(other, password="right-password-2")
    for _ in range(5):
        good = client.post(
            "/api/auth/token/", {"username": other, "password": "right-password-2"}, format="json"
        )
        assert good.status_code == 200


def test_failed_session_logins_are_throttled(settings: Any, django_user_model: Any) -> None:
    settings.CRISP_LOGIN_THROTTLE = "2/min"
    name = f"dash-{uuid.uuid4().hex[:8]}"
    django_user_model.objects.create_user(name, password="right-password-1")
    client = APIClient()
    for _ in range(2):
        assert client.post("/api-auth/login/", {"username": name, "password": "no"}).status_code == 200
    response = client.post("/api-auth/login/", {"username": name, "password": "right-password-1"})
    assert response.status_code == 429 and int(response["Retry-After"]) > 0


def test_long_passwords_at_login_are_refused(api: Any) -> None:
    response = APIClient().post(
        "/api/auth/token/", {"username": "analyst", "password": "x" * 1_000_000}, format="json"
    )
    assert "password" in _is_json_error(response, 400)["errors"]


# --- 5. who may start, edit and share a feed --------------------------------------------------


def test_only_owner_staff_and_shared_users_start_a_feed(api: Any, user: Any, django_user_model: Any) -> None:
    feed = _feed(api, password="owner-secret")
    other_user = django_user_model.objects.create_user("other")
    other = _client(other_user)
    assert _is_json_error(other.post(f"/api/threat-feeds/{feed['id']}/consume/"), 403)
    assert not FeedRun.objects.exists()
    response = api.patch(f"/api/threat-feeds/{feed['id']}/", {"shared_with": ["other"]}, format="json")
    assert response.status_code == 200 and response.json()["shared_with"] == ["other"]
    response = other.post(f"/api/threat-feeds/{feed['id']}/consume/")
    assert response.status_code == 202, response.content
    staff = _client(django_user_model.objects.create_user("boss", is_staff=True))
    FeedRun.objects.all().delete()
    assert staff.post(f"/api/threat-feeds/{feed['id']}/consume/").status_code == 202


def test_shared_users_edit_but_only_owner_or_staff_move_credentials_share_or_delete(
    api: Any, django_user_model: Any
) -> None:
    feed = _feed(api, url="http://127.0.0.1:9/bundle.json", password="owner-secret")
    django_user_model.objects.create_user("friend")
    api.patch(f"/api/threat-feeds/{feed['id']}/", {"shared_with": ["friend"]}, format="json")
    friend = _client(django_user_model.objects.get(username="friend"))
    path = f"/api/threat-feeds/{feed['id']}/"
    assert friend.patch(path, {"schedule": 60}, format="json").status_code == 200
    for change in (
        {"url": "http://127.0.0.1:9/mine"},
        {"password": "x"},
        {"shared_with": ["friend", "analyst"]},
    ):
        assert _is_json_error(friend.patch(path, change, format="json"), 403)["code"] == "owner_only_field"
    assert _is_json_error(friend.delete(path), 403)
    assert _is_json_error(api.patch(path, {"shared_with": ["nobody"]}, format="json"), 400)["errors"][
        "shared_with"
    ]


def test_users_who_may_not_edit_see_no_settings(api: Any, django_user_model: Any) -> None:
    feed = _feed(api, source_type="virustotal", api_key="k", settings={"kinds": ["ipv4"], "quota_per_day": 9})
    other = _client(django_user_model.objects.create_user("reader"))
    seen = other.get(f"/api/threat-feeds/{feed['id']}/").json()
    assert seen["settings"] == {} and seen["can_edit"] is False
    assert api.get(f"/api/threat-feeds/{feed['id']}/").json()["settings"] == {
        "kinds": ["ipv4"],
        "quota_per_day": 9,
    }
