"""A consent link opens a confirmation page: reading it (a person, a chat app's link preview, a scanner) changes
nothing; only the person's button, posted from our own page, binds the flow to their browser."""

from __future__ import annotations

import httpx
import pytest

from core.runtime import Runtime
from storage.models import Role
from tests import factories
from tests.connections.browser import ConsentBrowser, confirm_action
from tests.connections.conftest import Twins
from tests.connections.helpers import (
    Venue,
    authorize,
    connect,
    connection_rows,
    page_text,
    reconnect_link,
    state_row,
)

# What chat apps and social sites send when they fetch a link to unfurl it, and a plain browser.
PREVIEWERS = (
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Slack-ImgProxy (+https://api.slack.com/robots)",
    "TelegramBot (like TwitterBot)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "WhatsApp/2.23.20.0 A",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Safari/605.1.15",
)


async def named_venue(runtime: Runtime, venue_name: str, person_name: str) -> Venue:
    venue_id = await factories.venue(runtime, name=venue_name)
    return Venue(venue_id, await factories.person(runtime, venue_id=venue_id, role=Role.admin, name=person_name))


async def assert_untouched(runtime: Runtime, state_id: int) -> None:
    state = await state_row(runtime, state_id)
    assert state is not None
    assert (state.bound_at, state.browser_hash, state.used_at) == (None, None, None), "reading the page bound the link"


async def test_link_previews_and_plain_gets_change_nothing_and_the_person_then_connects(
    runtime: Runtime, client: httpx.AsyncClient, network: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    venue = await named_venue(runtime, "The Red Lion", "Alice Moss")
    link = await authorize(client, venue.admin, "instagram")

    for agent in PREVIEWERS:
        previewer = ConsentBrowser(client, network, user_agent=agent)
        for _ in range(2):
            page = await previewer.get(link["url"])
            assert page.status_code == 200, f"{agent}: {page_text(page)}"
            assert "Connect Instagram to The Red Lion" in page_text(page), agent
            assert not page.headers.get_list("set-cookie"), f"{agent}: a GET set a cookie"
            assert previewer.visited[-1] == link["url"], f"{agent} was sent on: {previewer.visited}"
    await assert_untouched(runtime, link["state_id"])
    assert await twins.meta.calls() == [], "no preview reached Facebook"

    page = await browser.open_link(link["url"])

    assert page.status_code == 200 and page_text(page).startswith("Connected"), page_text(page)
    assert [c.display_name for c in await connection_rows(runtime)] == ["@theredlion"]


async def test_the_page_names_the_venue_and_who_asked_and_offers_one_button(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    venue = await named_venue(runtime, "Fish & <Chips>", "Bea O'Hara")
    link = await authorize(client, venue.admin, "google_business")

    page = await browser.get(link["url"])

    text = page_text(page)
    assert text.startswith("Connect Google to Fish & <Chips> — asked by Bea O'Hara"), text
    assert "Continue to Google" in text and "nothing has changed" in text, text
    assert "<Chips>" not in page.text, "names are escaped"
    assert confirm_action(page) is not None, "the page has the button that continues"
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    await assert_untouched(runtime, link["state_id"])


async def test_a_reconnect_page_names_the_connection_it_renews(
    runtime: Runtime, client: httpx.AsyncClient, network: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    venue = await named_venue(runtime, "The Red Lion", "Alice Moss")
    await connect(client, browser, venue.admin, "instagram")
    (row,) = await connection_rows(runtime)
    link = await reconnect_link(client, venue.admin, row.id)

    page = await ConsentBrowser(client, network).get(link["url"])

    assert page_text(page).startswith(
        "Reconnect Instagram account @theredlion at The Red Lion — asked by Alice Moss"
    ), page_text(page)
    await assert_untouched(runtime, link["state_id"])


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}],
    ids=["origin", "null", "fetch-site"],
)
async def test_a_confirmation_posted_from_another_site_is_refused_and_spends_nothing(
    headers: dict[str, str], runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    venue = await named_venue(runtime, "The Red Lion", "Alice Moss")
    link = await authorize(client, venue.admin, "instagram")
    action = confirm_action(await browser.get(link["url"]))
    assert action is not None

    r = await client.post(action, headers={**headers, "Cookie": ""})

    assert r.status_code == 403, r.text
    assert "another website" in r.json()["detail"], r.text
    assert not r.headers.get_list("set-cookie")
    await assert_untouched(runtime, link["state_id"])
    assert page_text(await browser.open_link(link["url"])).startswith("Connected"), "the person can still connect"


async def test_after_one_browser_confirms_another_is_refused_and_the_first_may_press_again(
    runtime: Runtime, client: httpx.AsyncClient, network: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    venue = await named_venue(runtime, "The Red Lion", "Alice Moss")
    link = await authorize(client, venue.admin, "instagram")
    action = confirm_action(await browser.get(link["url"]))
    assert action is not None
    first = await browser.press(action)
    assert first.status_code == 303 and "dialog/oauth" in first.headers["location"], first.text
    second = ConsentBrowser(client, network)

    looked = await second.get(link["url"])
    pressed = await second.press(action)

    for refused in (looked, pressed):
        assert refused.status_code == 400, page_text(refused)
        assert "already opened in another browser" in page_text(refused)
        assert not refused.headers.get_list("set-cookie")
    assert "cheers_oauth" not in second.cookies
    # The first browser went back and pressed again: it is still its flow, and it finishes.
    page = await browser.open_link(link["url"])
    assert page_text(page).startswith("Connected"), page_text(page)


async def test_someone_else_signed_in_is_refused_and_the_person_who_asked_is_not(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    venue = await named_venue(runtime, "The Red Lion", "Alice Moss")
    colleague = await factories.person(runtime, venue_id=venue.id, role=Role.admin, name="Carl Wren")
    link = await authorize(client, venue.admin, "instagram")
    browser.cookies["cheers_session"] = (await factories.login(client, runtime, colleague)).session
    action = confirm_action(await ConsentBrowser(browser.app, browser.network).get(link["url"]))
    assert action is not None

    looked = await browser.get(link["url"])
    pressed = await browser.press(action)

    for refused in (looked, pressed):
        assert refused.status_code == 403, page_text(refused)
        assert "this link was made for Alice Moss" in page_text(refused), page_text(refused)
        assert "sign in to CheersAI as them, or ask CheersAI for your own link" in page_text(refused)
    await assert_untouched(runtime, link["state_id"])
    assert await twins.meta.calls() == []

    browser.cookies["cheers_session"] = (await factories.login(client, runtime, venue.admin)).session
    page = await browser.open_link(link["url"])
    assert page_text(page).startswith("Connected"), page_text(page)
    (row,) = await connection_rows(runtime)
    assert row.connected_by_user_id == venue.admin.user_id
