from typing import Any
import pytest
from playwright.sync_api import expect
from tests.e2e.conftest import sign_in
from tests.integration.helpers import demo_server, taxii_feed
from threat_feeds.services.runs import feed_run_start

pytestmark = [pytest.mark.django_db(transaction=True)]
OUT = "/tmp/look"

def test_look(new_page: Any, user: Any, celery_worker: Any, wait_for_run: Any) -> None:
    import os; os.makedirs(OUT, exist_ok=True)
    with demo_server(objects=600) as server:
        feed = taxii_feed(server, name="Small demo", owner=user)
        wait_for_run(feed_run_start(feed=feed, user=user).pk)
    page = new_page()
    page.goto("/"); page.screenshot(path=f"{OUT}/login.png")
    sign_in(page, "analyst", "analyst-pass-1")
    for path, name in [("/runs", "history"), ("/indicators", "indicators"), ("/objects", "objects"), ("/indicators/1", "indicator"), ("/objects/5", "object"), ("/nope", "404")]:
        page.goto(path); page.wait_for_timeout(800); page.screenshot(path=f"{OUT}/{name}.png")
    page.goto("/feeds"); page.get_by_role("button", name="Add feed").click(); page.wait_for_timeout(300); page.screenshot(path=f"{OUT}/form.png")
    page.keyboard.press("Escape"); page.get_by_role("button", name="Edit Small demo").click(); page.wait_for_timeout(300); page.screenshot(path=f"{OUT}/edit.png")
    page.keyboard.press("Escape")
    with demo_server(objects=4000, page_max=50, delay=0.15) as server:
        feed = taxii_feed(server, name="Paced", owner=user, page_size=50)
        run = feed_run_start(feed=feed, user=user)
        page.goto("/monitor"); page.get_by_role("button", name="Cancel job").click(); page.wait_for_timeout(300); page.screenshot(path=f"{OUT}/dialog.png")
        page.keyboard.press("Escape")
        page.get_by_role("button", name="Stop now").click(); page.wait_for_timeout(300); page.screenshot(path=f"{OUT}/dialog-stop.png")
        page.get_by_role("dialog").get_by_role("button", name="Stop now").click()
        wait_for_run(run.pk)
