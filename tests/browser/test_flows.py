"""What a venue does in the planner, in headless Chromium against the whole `cheers dev` stack: compose a post with
a photo and follow it to the platform, mend a failed delivery with Retry, mend a failed photo in the Library, and
download the alerts' history."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import REFUSAL, Stack, api, connect_facebook, facebook_page_id, photo, poll

pytestmark = pytest.mark.browser
pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed (pip install -e '.[dev]')")
from playwright.sync_api import BrowserContext, Locator, Page, Route, expect  # noqa: E402

LONDON = ZoneInfo("Europe/London")  # the demo venue's zone
PUBLISHED = 60.0  # seconds a due post may take to go out on a busy machine


@pytest.fixture(scope="module", autouse=True)
def connected(context: BrowserContext, stack: Stack) -> None:
    """The demo venue with its Facebook Page connected, once for the module."""
    tab = context.new_page()
    connect_facebook(tab, stack)
    tab.close()


def twin_posts(stack: Stack) -> list[dict[str, Any]]:
    """The posts on the Meta twin's Pages (what the platform shows)."""
    state = poll(lambda: _state(stack), what="the Meta twin's state", within=30)
    posts: list[dict[str, Any]] = state["content"]["posts"]
    return posts


def _state(stack: Stack) -> dict[str, Any] | None:
    import httpx

    answer = httpx.get(f"{stack.meta_url}/_twin/state", timeout=30)
    return answer.json() if answer.status_code == 200 else None


def permalink_of(post: dict[str, Any]) -> str:
    """Where the twin's Page post lives on Facebook (sandbox.meta.content.PagePost.permalink_url)."""
    return f"https://www.facebook.com/{post['page_id']}/posts/{post['id'].split('_', 1)[1]}"


def reload_until_visible(page: Page, target: Locator, *, what: str, within: float = PUBLISHED) -> None:
    """Reload `page` until `target` shows: the post page shows a delivery's state as loaded, and the Library looks
    again only every 5 s by itself."""

    def shown() -> bool | None:
        page.reload()
        return True if target.count() > 0 and target.first.is_visible() else None

    poll(shown, what=what, within=within)


def item_in(page: Page, name: str, status: str) -> Locator:
    """The Library's item for the file `name` in `status` (pending, processing, ready, failed, ...)."""
    heading = page.get_by_role("heading", name=re.compile(re.escape(name)))
    return page.locator(f'.lib-item[data-status="{status}"]', has=heading)


def wall(moment: datetime) -> str:
    """A `datetime-local` value: the moment in the venue's zone, to the minute."""
    return moment.astimezone(LONDON).strftime("%Y-%m-%dT%H:%M")


def upload(page: Page, file: Path) -> Locator:
    """Upload `file` on the Library page; its item in the list."""
    page.goto("/planner/library")
    page.get_by_label(re.compile("^Photo")).set_input_files(str(file))
    page.get_by_role("button", name="Upload").click()
    item = page.locator(".lib-item", has=page.get_by_role("heading", name=re.compile(file.name))).first
    expect(item).to_be_visible()
    return item


def test_a_post_composed_with_a_photo_shows_on_the_week_goes_out_and_links_to_the_platform(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    pint = photo(tmp_path, "pint.jpg", (196, 120, 30))
    upload(page, pint)
    reload_until_visible(page, item_in(page, pint.name, "ready"), what="the photo's versions made")

    page.goto("/planner/compose")
    page.get_by_label("The Red Lion", exact=False).first.check()
    page.get_by_label("Text", exact=True).fill("Browser test: pints of the month, pulled fresh at the bar")
    page.locator(".media-item", has_text=pint.name).get_by_role("checkbox").check()
    page.get_by_label(re.compile("^Date and time")).fill(wall(stack.start_of_a_minute()))
    page.locator("#compose").get_by_role("button").last.click()

    page.wait_for_url(re.compile(r"/planner/posts/\d+$"))
    post_url = page.url
    expect(page.locator(".post-text")).to_contain_text("pints of the month")

    page.goto("/planner/week")
    card = page.locator("article.card", has_text="pints of the month")
    expect(card, "the new post should be on this week's calendar").to_be_visible()
    card.get_by_role("link").first.click()
    page.wait_for_url(post_url)

    permalink = page.get_by_role("link", name="see it on the platform")
    reload_until_visible(page, permalink, what="the post published, with its permalink")
    href = permalink.get_attribute("href")
    at_twin = [p for p in twin_posts(stack) if "pints of the month" in p["message"]]
    assert at_twin, "the post should be on the Facebook Page at the twin"
    post = at_twin[0]
    assert href == permalink_of(post), f"the detail page links {href}, the twin has {post}"
    assert post["kind"] == "photo" and post["object_id"], f"the photo should go with the text: {post}"


def test_a_failed_delivery_shows_in_the_alerts_and_retry_mends_it_with_an_optimistic_toast(
    page: Page, context: BrowserContext, stack: Stack
) -> None:
    text = "Browser test: quiz night moved to Thursday"
    stack.twin(stack.meta_url, "faults/graph-error", REFUSAL)
    api(context, "POST", "/api/posts", {"text": text, "when": "now", "connection_ids": [facebook_page_id(context)]})

    page.goto("/planner/alerts?kind=publish_failed")
    alert = page.locator("li.alert")  # the only failure in this module
    reload_until_visible(page, alert, what="the publish_failed alert in the feed")
    alert.first.get_by_role("link", name="Open the post").click()
    page.wait_for_url(re.compile(r"/planner/posts/\d+$"))
    expect(page.locator(".why").first).to_contain_text("Invalid parameter")

    held: list[Route] = []
    page.route(re.compile(r"/retry$"), lambda route: held.append(route))
    page.get_by_role("button", name="Retry").first.click()
    pending = page.locator('#toasts .toast[data-state="pending"]')
    expect(pending, "the optimistic toast shows before the server answers").to_be_visible()
    poll(lambda: held or None, what="the Retry request", within=30)
    held[0].continue_()  # now the server answers
    expect(page.locator('#toasts .toast[data-state="ok"]').last, "the answer takes its place").to_be_visible()
    expect(pending).to_have_count(0)

    reload_until_visible(
        page, page.get_by_role("link", name="see it on the platform"), what="the retried delivery published"
    )
    assert any(text in p["message"] for p in twin_posts(stack)), "the retried post should be at the twin"


def test_a_photo_whose_versions_failed_is_retried_in_the_library(page: Page, stack: Stack, tmp_path: Path) -> None:
    garden = photo(tmp_path, "garden.jpg", (120, 170, 60))
    stack.arm("during_image_work=raise")
    try:
        upload(page, garden)
        failed = item_in(page, garden.name, "failed")
        reload_until_visible(page, failed, what="the photo failed (one attempt allowed here)")
    finally:
        stack.arm("")
    expect(failed.locator(".lib-why"), "the Library says why").to_contain_text("gave up")
    failed.get_by_role("button", name="Retry").click()
    expect(page.locator("#toasts .toast").last, "Retry answers with a toast").to_be_visible()
    reload_until_visible(page, item_in(page, garden.name, "ready"), what="the photo's versions made after Retry")


def test_the_alerts_export_downloads_every_notification_in_both_formats(page: Page, tmp_path: Path) -> None:
    page.goto("/planner/alerts")
    shown = page.locator("ol.alerts > li.alert").count()
    assert shown > 0, "the earlier tests left alerts (connection, failure)"
    assert page.get_by_role("link", name=re.compile("Older alerts")).count() == 0, "all of them on one page"

    with page.expect_download() as csv_download:
        page.get_by_role("link", name="CSV", exact=True).click()
    rows = list(csv.DictReader(io.StringIO(Path(csv_download.value.path()).read_text())))
    assert len(rows) == shown, f"the CSV has {len(rows)} notifications, the feed shows {shown}"

    with page.expect_download() as jsonl_download:
        page.get_by_role("link", name="JSON lines").click()
    lines = [json.loads(line) for line in Path(jsonl_download.value.path()).read_text().splitlines() if line]
    assert len(lines) == shown, f"the JSON lines have {len(lines)} notifications, the feed shows {shown}"
    assert csv_download.value.suggested_filename.endswith(".csv")
