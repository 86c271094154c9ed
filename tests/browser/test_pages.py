"""Every planner page in headless Chromium, on a venue with a week of posts: no serious or critical accessibility
problem (axe-core), usable on a phone (375x812: nothing scrolls sideways, the main controls can be pressed), and a
screenshot of each at desktop and phone size (`make screenshots` keeps them in docs/screenshots)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import DESKTOP, PHONE, REFUSAL, Stack, api, csrf, facebook_page_id, photo, poll, screenshot

pytestmark = pytest.mark.browser
pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed (pip install -e '.[dev]')")
from axe_playwright_python.sync_playwright import Axe  # noqa: E402
from playwright.sync_api import BrowserContext, Page, expect  # noqa: E402

LONDON = ZoneInfo("Europe/London")  # the demo venue's zone
SERIOUS = ("serious", "critical")


@dataclass(frozen=True)
class Seeded:
    """What the module's venue holds: a published post with a photo, a failed one, one later in the week."""

    published_post: int
    failed_post: int


def _ready(context: BrowserContext, asset: int) -> bool | None:
    media = api(context, "GET", f"/api/media/{asset}")
    assert isinstance(media, dict)
    assert media["status"] not in ("failed", "skipped"), media
    return True if media["status"] == "ready" else None


def _status(context: BrowserContext, post: int, wanted: str) -> bool | None:
    shown = api(context, "GET", f"/api/posts/{post}")
    assert isinstance(shown, dict)
    return True if shown["targets"][0]["status"] == wanted else None


@pytest.fixture(scope="module")
def seeded(context: BrowserContext, stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """Connect Facebook from the Connections page (its button, our page naming the venue, the sandbox's consent),
    then fill the week through the API: a photo, a post with it that went out, one the platform refused, one for
    tomorrow evening (the demo's weekly plan adds Friday's and Sunday's, waiting for approval)."""
    tab = context.new_page()
    tab.goto("/planner/connections")
    tab.get_by_role("button", name=re.compile("Facebook")).first.click()
    tab.get_by_role("button", name=re.compile("Continue")).click()
    tab.get_by_label(re.compile("The Red Lion Kitchen")).uncheck()
    tab.get_by_role("button", name="Connect").click()
    expect(tab.get_by_role("heading", name="Connected", exact=True)).to_be_visible()
    tab.close()

    page_id = facebook_page_id(context)
    picture = photo(tmp_path_factory.mktemp("photos"), "best-bitter.jpg", (150, 80, 40))
    uploaded = context.request.post(
        "/api/media?filename=best-bitter.jpg",
        data=picture.read_bytes(),
        headers={"Content-Type": "image/jpeg", "X-CSRF-Token": csrf(context)},
    )
    assert uploaded.ok, uploaded.text()
    asset = int(uploaded.json()["asset"]["id"])
    poll(lambda: _ready(context, asset), what="the photo's versions", within=90)

    def post(text: str, **more: Any) -> int:
        saved = api(context, "POST", "/api/posts", {"text": text, "connection_ids": [page_id], **more})
        assert isinstance(saved, dict)
        return int(saved["post"]["id"])

    pie = "Pie and a pint Wednesday: any pie with a pint of best bitter for £12, all day."
    published = post(pie, when="now", media_ids=[asset])
    poll(lambda: _status(context, published, "published"), what="the photo post published", within=60)
    stack.twin(stack.meta_url, "faults/graph-error", REFUSAL)
    failed = post("Pub quiz tonight from 8pm: teams of up to six.", when="now")
    poll(lambda: _status(context, failed, "failed"), what="the refused post failed", within=60)
    tomorrow = (stack.now() + timedelta(days=1)).astimezone(LONDON).replace(hour=19, minute=30)
    post("Live jazz in the back room tomorrow from 7:30pm.", when=tomorrow.strftime("%Y-%m-%dT%H:%M"))
    return Seeded(published_post=published, failed_post=failed)


@pytest.fixture
def tab(context: BrowserContext, seeded: Seeded) -> Iterator[Page]:
    opened = context.new_page()
    yield opened
    opened.close()


PAGES = ["week", "compose", "library", "alerts", "post", "weekly", "connections", "chat", "team"]


def path_of(name: str, seeded: Seeded) -> str:
    return f"/planner/posts/{seeded.failed_post}" if name == "post" else f"/planner/{name}"


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now, one line each with where."""
    results = Axe().run(page)
    found: list[dict[str, Any]] = results.response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}"
        for v in found
        if v["impact"] in SERIOUS
    ]


def sideways_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the viewport (0: no horizontal scrolling)."""
    width: int = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    return width


@pytest.mark.parametrize("name", PAGES)
def test_each_page_has_no_serious_accessibility_problem_and_is_photographed(
    tab: Page, seeded: Seeded, name: str, tmp_path: Path
) -> None:
    response = tab.goto(path_of(name, seeded))
    assert response is not None and response.ok, f"{name}: {response.status if response else 'no answer'}"
    expect(tab.get_by_role("heading", level=1)).to_be_visible()
    current = tab.locator('nav[aria-label="Planner"] [aria-current="page"]')
    expect(current, "the nav marks this page, and only this one, as current").to_have_count(0 if name == "post" else 1)
    problems = serious_violations(tab)
    screenshot(tab, f"{name}-desktop", tmp_path)
    tab.set_viewport_size(PHONE)
    problems += [f"phone: {p}" for p in serious_violations(tab)]
    screenshot(tab, f"{name}-phone", tmp_path)
    tab.set_viewport_size(DESKTOP)
    assert not problems, f"{name} has serious accessibility problems:\n" + "\n".join(problems)


def test_the_week_on_a_phone_fits_the_screen_and_its_controls_work(tab: Page, seeded: Seeded) -> None:
    tab.set_viewport_size(PHONE)
    tab.goto("/planner/week")
    card = tab.locator(f"#post-{seeded.failed_post}")
    expect(card, "this week's posts show, day by day").to_be_visible()
    assert sideways_overflow(tab) <= 0, f"the week scrolls sideways by {sideways_overflow(tab)}px on a phone"
    card.get_by_role("link").first.click()
    tab.wait_for_url(re.compile(rf"/planner/posts/{seeded.failed_post}$"))
    expect(tab.get_by_role("button", name="Retry").first).to_be_visible()
    assert sideways_overflow(tab) <= 0, "the post page scrolls sideways on a phone"
    tab.go_back()
    tab.get_by_role("link", name=re.compile("Next week")).click()
    tab.wait_for_url(re.compile(r"/planner/week\?start="))
    assert sideways_overflow(tab) <= 0, "next week scrolls sideways on a phone"


def test_the_composer_on_a_phone_fits_the_screen_and_can_be_filled_in(tab: Page) -> None:
    tab.set_viewport_size(PHONE)
    tab.goto("/planner/compose")
    assert sideways_overflow(tab) <= 0, f"the composer scrolls sideways by {sideways_overflow(tab)}px on a phone"
    tab.get_by_label("The Red Lion", exact=False).first.check()
    tab.get_by_label("Text", exact=True).fill("Happy hour 5-7pm on a phone")
    tab.locator(".media-item").first.get_by_role("checkbox").check()
    submit = tab.locator("#compose").get_by_role("button").last
    submit.scroll_into_view_if_needed()
    expect(submit).to_be_visible()
    expect(submit).to_be_enabled()
    assert sideways_overflow(tab) <= 0, "the filled-in composer scrolls sideways on a phone"


def test_a_remedy_that_gets_no_answer_ends_in_an_error_toast_saying_what_to_do(tab: Page, seeded: Seeded) -> None:
    tab.goto(f"/planner/posts/{seeded.failed_post}")
    tab.route(re.compile(r"/retry$"), lambda route: route.abort("internetdisconnected"))
    tab.get_by_role("button", name="Retry").first.click()
    error = tab.locator('#toasts .toast[data-state="error"]')
    expect(error, "the pending toast turns into an error that says what to do").to_contain_text("check your connection")
    expect(tab.locator('#toasts .toast[data-state="pending"]')).to_have_count(0)
    expect(tab.get_by_role("button", name="Retry").first, "the button can be pressed again").to_be_enabled()
