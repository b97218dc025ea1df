"""The dashboard in a real browser against the live stack: a real worker, Redis, the database and a
paced local TAXII server (SPEC §8, issue 5). Screenshots for the README go to docs/screenshots/."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import read_count, screenshot, sign_in, wait_for_count
from tests.integration.helpers import demo_server, store_snapshot, taxii_feed, wait_until
from threat_feeds.choices import RunStatus
from threat_feeds.control.cancellation import feed_run_cancel
from threat_feeds.models import FeedRun, ThreatFeed
from threat_feeds.services.runs import feed_run_start

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

PASSWORD = "analyst-pass-1"  # the `user` fixture's
PACED = {"objects": 4000, "page_max": 50, "delay": 0.15}  # 80 pages: about 12 s per full run


def _nav(page: Any, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


def _latest_run(feed: ThreatFeed, *, after: int = 0) -> FeedRun:
    return wait_until(
        lambda: FeedRun.objects.filter(feed=feed, pk__gt=after).order_by("-pk").first(), timeout=20
    )


def _start_from_feeds_page(page: Any, feed: ThreatFeed, *, after: int = 0) -> FeedRun:
    _nav(page, "Feeds")
    page.get_by_role("button", name=f"Start a run of {feed.name}").click()
    expect(page.get_by_test_id("toast").filter(has_text="started").last).to_be_visible()
    return _latest_run(feed, after=after)


def _run_card(page: Any, run: FeedRun) -> Any:
    return page.locator(f'[data-testid="run-card"][data-task-id="{run.task_id}"]')


def _open_monitor_and_watch_progress(page: Any, run: FeedRun) -> Any:
    _nav(page, "Task monitor")
    # Progress comes through the live stream (server-sent events), not polling.
    expect(page.get_by_test_id("live-status")).to_have_attribute("data-streaming", "yes")
    card = _run_card(page, run)
    expect(card).to_have_attribute("data-status", "running")
    fetched = card.get_by_test_id("count-fetched")
    first = wait_for_count(fetched, 0)
    polls: list[str] = []

    def note(request: Any) -> None:
        if "/api/threat-feeds/task-status/" in request.url or "/api/threat-feeds/tasks/?" in request.url:
            polls.append(request.url)

    page.on("request", note)
    wait_for_count(fetched, first)  # live progress: the counter moves without a reload
    page.remove_listener("request", note)
    assert len(polls) <= 1, polls  # at most the list refresh when the stream (re)opened
    return card


def _confirm_cancel(page: Any, card: Any, button: str, confirm: str, reason: str) -> None:
    card.get_by_role("button", name=button, exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label(re.compile("Reason")).fill(reason)
    dialog.get_by_role("button", name=confirm, exact=True).click()
    expect(dialog).to_be_hidden()


def _other_feeds(owner: Any) -> None:
    """Neighbours for the feeds screenshot: a scheduled OTX feed with a key, a paused bundle feed."""
    ThreatFeed.objects.create(
        name="AlienVault OTX pulses", source_type="otx", url="https://otx.alienvault.com",
        api_key="not-a-real-key", schedule_minutes=60, owner=owner, page_size=50,
    )  # fmt: skip
    ThreatFeed.objects.create(
        name="ATT&CK Enterprise bundle", source_type="stix_bundle",
        url="https://example.org/enterprise-attack.json", is_active=False, owner=owner,
    )  # fmt: skip


def test_stop_now_then_cancel_job_from_the_dashboard(
    new_page: Any, user: Any, celery_worker: Any, wait_for_run: Any
) -> None:
    with demo_server(**PACED) as server:
        feed = taxii_feed(server, name="Demo TAXII (paced)", owner=user, page_size=50)
        _other_feeds(user)
        page = new_page()
        sign_in(page, "analyst", PASSWORD)
        expect(page.get_by_role("heading", name="Feeds", level=1)).to_be_visible()
        expect(page.locator(f'[data-testid="feed-row"][data-feed-id="{feed.pk}"]')).to_contain_text("never")

        # 1. A run started from the UI shows live progress; Stop now keeps what it stored.
        first = _start_from_feeds_page(page, feed)
        card = _open_monitor_and_watch_progress(page, first)
        _confirm_cancel(page, card, "Stop now", "Stop now", "enough for today")
        expect(card).to_have_attribute("data-status", re.compile("stopping|stopped"), timeout=2_000)
        first = wait_for_run(first.pk)
        assert first.status == RunStatus.STOPPED and first.objects_kept > 0
        expect(card).to_have_attribute("data-status", "stopped")
        expect(card.get_by_test_id("cancellation")).to_contain_text(f"{first.objects_kept:,} objects kept")
        expect(card.get_by_test_id("cancellation")).to_contain_text(
            "Stop now by analyst — “enough for today”"
        )
        expect(card.get_by_test_id("cancellation")).to_contain_text("latency")

        # 2. Started again, then Cancel job: the store ends exactly as it was before this run.
        before = store_snapshot()
        second = _start_from_feeds_page(page, feed, after=first.pk)
        card = _open_monitor_and_watch_progress(page, second)
        screenshot(page, "task-monitor.png")  # mid-run, the stopped run below it
        _confirm_cancel(page, card, "Cancel job", "Cancel job and roll back", "wrong collection")
        expect(card).to_have_attribute("data-status", re.compile("cancelling|cancelled"), timeout=2_000)
        second = wait_for_run(second.pk)
        assert second.status == RunStatus.CANCELLED and second.objects_removed > 0
        expect(card).to_have_attribute("data-status", "cancelled")
        expect(card.get_by_test_id("cancellation")).to_contain_text(
            f"{second.objects_removed:,} objects removed"
        )
        assert store_snapshot() == before

        # 3. The cancelled run's detail: who, why, latency, removed count.
        card.get_by_role("link", name=feed.name).click()
        detail = page.get_by_test_id("run-detail")
        expect(detail).to_have_attribute("data-status", "cancelled")
        expect(detail.get_by_test_id("cancelled-by")).to_contain_text("analyst")
        expect(detail.get_by_test_id("cancel-reason")).to_have_text("wrong collection")
        expect(detail.get_by_test_id("objects-removed")).to_have_text(f"{second.objects_removed:,}")
        assert read_count(detail.get_by_test_id("count-fetched")) == second.fetched
        screenshot(page, "run-cancelled.png")

        # 4. Run history shows both outcomes; the feeds page shows the last run.
        _nav(page, "Run history")
        rows = page.get_by_test_id("history-row")
        expect(rows.filter(has_text="enough for today")).to_contain_text("stopped")
        expect(rows.filter(has_text="wrong collection")).to_contain_text("cancelled")
        _nav(page, "Feeds")
        expect(page.locator(f'[data-testid="feed-row"][data-feed-id="{feed.pk}"]')).to_contain_text(
            "cancelled"
        )
        screenshot(page, "feeds.png")


def test_a_user_without_rights_sees_no_cancel_buttons(
    new_page: Any, user: Any, django_user_model: Any, celery_worker: Any, wait_for_run: Any
) -> None:
    django_user_model.objects.create_user("viewer", password="viewer-pass-1")
    with demo_server(**PACED) as server:
        feed = taxii_feed(server, name="Analyst's feed", owner=user, page_size=50)
        owner_page = new_page()
        sign_in(owner_page, "analyst", PASSWORD)
        run = _start_from_feeds_page(owner_page, feed)
        owner_card = _open_monitor_and_watch_progress(owner_page, run)
        # Keyboard: the dialog opens from a focused button, Esc closes it, focus returns to the button.
        cancel_job = owner_card.get_by_role("button", name="Cancel job")
        cancel_job.focus()
        owner_page.keyboard.press("Enter")
        dialog = owner_page.get_by_role("dialog", name=re.compile("Cancel job"))
        expect(dialog.get_by_label(re.compile("Reason"))).to_be_focused()
        owner_page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(cancel_job).to_be_focused()
        expect(owner_card.get_by_role("button", name="Stop now")).to_be_visible()

        viewer = new_page()
        sign_in(viewer, "viewer", "viewer-pass-1")
        row = viewer.locator(f'[data-testid="feed-row"][data-feed-id="{feed.pk}"]')
        expect(row).to_be_visible()
        expect(row.get_by_role("button", name=re.compile("Edit|Delete"))).to_have_count(0)
        _nav(viewer, "Task monitor")
        card = _run_card(viewer, run)
        expect(card).to_have_attribute("data-status", "running")
        wait_for_count(card.get_by_test_id("count-fetched"), 0)
        expect(card.get_by_role("button")).to_have_count(0)
        card.get_by_role("link", name=feed.name).click()
        expect(viewer.get_by_test_id("run-detail")).to_have_attribute("data-status", "running")
        expect(viewer.get_by_role("button", name=re.compile("Stop now|Cancel job"))).to_have_count(0)

        feed_run_cancel(run_id=run.pk, user=user, mode="stop_now", reason="test over")
        assert wait_for_run(run.pk).status == RunStatus.STOPPED


def test_the_starter_is_told_when_someone_else_cancels_their_run(
    new_page: Any, user: Any, django_user_model: Any, celery_worker: Any, wait_for_run: Any
) -> None:
    admin = django_user_model.objects.create_user("admin", password="admin-pass-1", is_staff=True)
    with demo_server(**PACED) as server:
        feed = taxii_feed(server, name="Watched feed", owner=admin, page_size=50)
        page = new_page()
        sign_in(page, "analyst", PASSWORD)
        run = feed_run_start(feed=feed, user=user, trigger="dashboard")
        _open_monitor_and_watch_progress(page, run)
        feed_run_cancel(
            run_id=run.pk, user=admin, mode="cancel_job", reason="duplicate of the OTX feed", source="api"
        )
        toast = page.get_by_test_id("toast").filter(has_text="was cancelled")
        expect(toast).to_contain_text(
            f"Your run #{run.pk} of “Watched feed” was cancelled (rolled back) by admin"
        )
        expect(toast).to_contain_text("duplicate of the OTX feed")
        assert wait_for_run(run.pk).status == RunStatus.CANCELLED


def test_wrong_password_and_expired_session_lead_to_the_login_page(new_page: Any, user: Any) -> None:
    from django.contrib.sessions.models import Session

    page = new_page()
    page.goto("/")
    form = page.get_by_test_id("login-form")
    form.get_by_label("Username").fill("analyst")
    form.get_by_label("Password").fill("not-the-password")
    form.get_by_role("button", name="Sign in").click()
    expect(form.get_by_role("alert")).to_have_text("Wrong username or password.")

    sign_in(page, "analyst", PASSWORD)
    expect(page.get_by_role("heading", name="Feeds", level=1)).to_be_visible()
    Session.objects.all().delete()  # the session ends server-side (expiry, logout elsewhere)
    expect(page.get_by_test_id("login-form")).to_contain_text("Your session has expired", timeout=10_000)

    sign_in(page, "analyst", PASSWORD)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_test_id("login-form")).to_contain_text("You have signed out.")
    page.reload()
    expect(page.get_by_test_id("login-form")).to_be_visible()  # the session really ended


def test_undo_a_finished_run_from_its_detail_page(
    new_page: Any, user: Any, celery_worker: Any, wait_for_run: Any
) -> None:
    with demo_server(objects=300) as server:
        feed = taxii_feed(server, name="Undo me", owner=user)
        run = wait_for_run(feed_run_start(feed=feed, user=user, trigger="dashboard").pk)
    assert run.status == RunStatus.COMPLETED and run.created == 300
    page = new_page()
    sign_in(page, "analyst", PASSWORD)
    _nav(page, "Run history")
    row = page.locator(f'[data-testid="history-row"][data-task-id="{run.task_id}"]')
    expect(row).to_have_attribute("data-status", "completed")
    row.get_by_role("link", name=feed.name).click()
    detail = page.get_by_test_id("run-detail")
    expect(detail).to_have_attribute("data-status", "completed")

    detail.get_by_role("button", name="Undo run", exact=True).click()
    dialog = page.get_by_role("dialog", name=re.compile("Undo run"))
    expect(dialog.get_by_label(re.compile("Reason"))).to_be_focused()
    expect(dialog.get_by_test_id("undo-consequence")).to_contain_text(
        "300 objects this run created will be removed"
    )
    expect(dialog.get_by_test_id("undo-cursor")).to_contain_text("the feed's cursor goes back")
    dialog.get_by_label(re.compile("Reason")).fill("wrong collection")
    dialog.get_by_role("button", name="Undo run", exact=True).click()
    expect(dialog).to_be_hidden()

    expect(detail).to_have_attribute("data-status", "undone")
    expect(detail.get_by_test_id("undone-by")).to_contain_text("analyst")
    expect(detail.get_by_test_id("undo-reason")).to_have_text("wrong collection")
    expect(detail.get_by_test_id("undo-removed")).to_have_text("300")
    expect(detail.get_by_test_id("undo-cursor-outcome")).to_contain_text("put back")
    expect(detail.get_by_role("button", name="Undo run")).to_have_count(0)
    run.refresh_from_db()
    feed.refresh_from_db()
    assert run.status == RunStatus.UNDONE and run.undo_requested_by == user and run.undo_source == "dashboard"
    assert store_snapshot()["objects"] == {} and feed.cursor == {}
    screenshot(page, "run-undone.png")

    _nav(page, "Run history")
    expect(row).to_have_attribute("data-status", "undone")
    expect(row.get_by_test_id("undo")).to_contain_text("Undone by analyst — “wrong collection”")
    expect(row.get_by_role("button", name=re.compile("Undo run"))).to_have_count(0)
