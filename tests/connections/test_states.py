"""Consent states that must be refused (expired, replayed, another browser, tampered, another provider's):
a clear page, no connection, and a state nobody can use afterwards."""

from __future__ import annotations

import httpx
import pytest

from core.clock import FrozenClock
from core.runtime import Runtime
from tests.connections.browser import ConsentBrowser
from tests.connections.conftest import Twins
from tests.connections.helpers import (
    META_PAGE_1,
    authorize,
    callback_url,
    connection_rows,
    page_text,
    query_of,
    state_row,
    venue_with_admin,
    with_query,
)


def assert_refused(response: httpx.Response, *words: str) -> str:
    text = page_text(response)
    assert response.status_code == 400, f"{response.status_code}: {text}"
    assert "Not connected" in text or "Connection not started" in text, text
    for word in words:
        assert word in text, f"{word!r} not in the page: {text}"
    return text


async def assert_nothing_connected(runtime: Runtime) -> None:
    assert await connection_rows(runtime) == [], "a refused flow must not create connections"


# --- expired --------------------------------------------------------------------------------------------------------


async def test_a_link_opened_after_ten_minutes_is_refused_at_our_landing(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser, clock: FrozenClock
) -> None:
    venue = await venue_with_admin(runtime)
    link = await authorize(client, venue.admin, "facebook")
    clock.advance(minutes=10, seconds=1)

    page = await browser.get(link["url"])

    assert_refused(page, "expired", "10 minutes")
    assert len(browser.visited) == 1, "an expired link must not send the browser on to Facebook"
    assert "cheers_oauth" not in browser.cookies
    state = await state_row(runtime, link["state_id"])
    assert state is not None and state.bound_at is None and state.used_at is None
    await assert_nothing_connected(runtime)


@pytest.mark.parametrize("provider", ["facebook", "google_business"])
async def test_a_callback_after_ten_minutes_is_refused_and_connects_nothing(
    provider: str,
    runtime: Runtime,
    client: httpx.AsyncClient,
    twins: Twins,
    browser: ConsentBrowser,
    clock: FrozenClock,
) -> None:
    venue = await venue_with_admin(runtime)
    link = await authorize(client, venue.admin, provider)
    callback = await callback_url(browser, link["url"])
    clock.advance(minutes=11)

    assert_refused(await browser.get(callback), "expired")

    await assert_nothing_connected(runtime)
    state = await state_row(runtime, link["state_id"])
    assert state is not None and state.used_at is None and state.pending_ciphertext is None
    # Turning the clock back is not possible; the same callback stays refused.
    assert_refused(await browser.get(callback), "expired")


# --- replayed -------------------------------------------------------------------------------------------------------


async def test_a_replayed_callback_is_refused_and_changes_nothing(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    venue = await venue_with_admin(runtime)
    link = await authorize(client, venue.admin, "instagram")
    callback = await callback_url(browser, link["url"])
    first = await browser.get(callback)
    assert first.status_code == 200 and page_text(first).startswith("Connected"), page_text(first)
    before = [(c.id, c.access_token_ciphertext, c.updated_at) for c in await connection_rows(runtime)]

    assert_refused(await browser.get(callback), "already used")

    after = [(c.id, c.access_token_ciphertext, c.updated_at) for c in await connection_rows(runtime)]
    assert after == before, "a replayed callback must not touch the connection"
    token_calls = [c for c in await twins.meta.calls() if c["path"].endswith("/oauth/access_token")]
    assert len(token_calls) == 2, "the replay must not reach Facebook (one code exchange, one long-lived exchange)"


async def test_a_replayed_choice_callback_offers_nothing_more(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    venue = await venue_with_admin(runtime)
    link = await authorize(client, venue.admin, "facebook")
    callback = await callback_url(browser, link["url"])
    first = await browser.get(callback)
    assert "Choose what to connect" in page_text(first)

    assert_refused(await browser.get(callback), "already used")

    r = await client.get(f"/api/connections/pending/{link['state_id']}", headers=venue.admin.headers)
    assert r.status_code == 200 and len(r.json()) == 2, "the refusal leaves the first visit's choice alone"
    await assert_nothing_connected(runtime)


# --- another browser ------------------------------------------------------------------------------------------------


async def test_a_callback_without_the_browser_cookie_is_refused(
    runtime: Runtime,
    client: httpx.AsyncClient,
    network: httpx.AsyncClient,
    twins: Twins,
    browser: ConsentBrowser,
) -> None:
    venue = await venue_with_admin(runtime)
    link = await authorize(client, venue.admin, "instagram")
    callback = await callback_url(browser, link["url"])
    assert "cheers_oauth" in browser.cookies, "our landing binds the flow to the browser with a cookie"
    stranger = ConsentBrowser(client, network)

    assert_refused(await stranger.get(callback), "different browser")
    assert_refused(await stranger.get(callback), "different browser")

    await assert_nothing_connected(runtime)
    state = await state_row(runtime, link["state_id"])
    assert state is not None and state.used_at is None, "the stranger's visit must not spend the person's attempt"
    # The browser that started it can still finish.
    finished = await browser.get(callback)
    assert page_text(finished).startswith("Connected"), page_text(finished)
    assert len(await connection_rows(runtime)) == 1


async def test_a_callback_with_another_browsers_cookie_is_refused(
    runtime: Runtime,
    client: httpx.AsyncClient,
    network: httpx.AsyncClient,
    twins: Twins,
    browser: ConsentBrowser,
) -> None:
    venue = await venue_with_admin(runtime)
    mine = await callback_url(browser, (await authorize(client, venue.admin, "instagram"))["url"])
    other = ConsentBrowser(client, network)
    await callback_url(other, (await authorize(client, venue.admin, "instagram"))["url"])
    assert other.cookies["cheers_oauth"] != browser.cookies["cheers_oauth"]

    assert_refused(await other.get(mine), "different browser")

    await assert_nothing_connected(runtime)


async def test_a_consent_link_opened_in_a_second_browser_is_refused_at_our_landing(
    runtime: Runtime,
    client: httpx.AsyncClient,
    network: httpx.AsyncClient,
    twins: Twins,
    browser: ConsentBrowser,
) -> None:
    venue = await venue_with_admin(runtime)
    link = await authorize(client, venue.admin, "facebook")
    callback = await callback_url(browser, link["url"])
    second = ConsentBrowser(client, network)

    assert_refused(await second.get(link["url"]), "already opened in another browser")

    assert len(second.visited) == 1 and "cheers_oauth" not in second.cookies
    assert all("dialog/oauth" not in u for u in second.visited)
    await assert_nothing_connected(runtime)
    first = await browser.get(callback)
    assert "Choose what to connect" in page_text(first), "the first browser's flow is untouched"


# --- tampered, unknown, another provider's --------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["", "forged-state-value", "x" * 43])
async def test_an_unknown_or_missing_state_is_refused_at_the_landing(
    state: str, runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    await venue_with_admin(runtime)
    page = await browser.get(f"http://testserver.local/oauth/facebook/start?state={state}")
    assert_refused(page)
    assert len(browser.visited) == 1
    assert await twins.meta.calls() == [], "nothing reaches Facebook"


async def test_a_tampered_state_on_the_callback_is_refused_and_the_real_one_still_works(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    venue = await venue_with_admin(runtime)
    link = await authorize(client, venue.admin, "instagram")
    callback = await callback_url(browser, link["url"])
    real = query_of(callback)["state"]
    tampered = real[:-1] + ("A" if real[-1] != "A" else "B")

    assert_refused(await browser.get(with_query(callback, state=tampered)), "not one we issued")
    assert_refused(await browser.get(with_query(callback, state="")), "no state")

    await assert_nothing_connected(runtime)
    token_calls = [c for c in await twins.meta.calls() if c["path"].endswith("/oauth/access_token")]
    assert token_calls == [], "a refused callback must not spend the code"
    assert page_text(await browser.get(callback)).startswith("Connected")


@pytest.mark.parametrize(
    ("started", "returned_to"),
    [("facebook", "instagram"), ("instagram", "facebook"), ("google_business", "facebook")],
)
async def test_a_state_is_refused_on_another_providers_callback(
    started: str,
    returned_to: str,
    runtime: Runtime,
    client: httpx.AsyncClient,
    twins: Twins,
    browser: ConsentBrowser,
) -> None:
    venue = await venue_with_admin(runtime)
    link = await authorize(client, venue.admin, started)
    callback = await callback_url(browser, link["url"])
    elsewhere = callback.replace(f"/oauth/{started}/callback", f"/oauth/{returned_to}/callback")

    assert_refused(await browser.get(elsewhere), "not one we issued")

    await assert_nothing_connected(runtime)
    state = await state_row(runtime, link["state_id"])
    assert state is not None and state.used_at is None and state.outcome == {}


# --- a choice left waiting ------------------------------------------------------------------------------------------


async def test_a_choice_left_waiting_past_thirty_minutes_expires(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser, clock: FrozenClock
) -> None:
    venue = await venue_with_admin(runtime)
    link = await authorize(client, venue.admin, "facebook")
    assert "Choose what to connect" in page_text(await browser.open_link(link["url"]))
    clock.advance(minutes=30, seconds=1)
    path = f"/api/connections/pending/{link['state_id']}"

    listed = await client.get(path, headers=venue.admin.headers)
    picked = await client.post(path, headers=venue.admin.headers, json={"external_ids": [META_PAGE_1]})
    form = await browser.post_form(
        "/oauth/facebook/pick", {"state_id": str(link["state_id"]), "external_ids": [META_PAGE_1]}
    )

    assert listed.status_code == 404, listed.text
    assert picked.status_code == 422 and picked.json()["detail"] == "this choice expired; connect again", picked.text
    assert_refused(form, "this choice expired")
    await assert_nothing_connected(runtime)
