"""Consents the provider side spoils (denied, scopes unticked, nothing linked, a dead code, an API switched off,
a rate limit): the page says what happened and what to do, nothing is saved, and the state is spent."""

from __future__ import annotations

import httpx
import pytest

from core.runtime import Runtime
from sandbox.google.twin import ACCOUNTS_API, BUSINESS_MANAGE, INFO_API, AccountSpec, ScenarioSpec, UserSpec
from tests.connections.browser import ConsentBrowser
from tests.connections.conftest import Twins
from tests.connections.helpers import (
    META_PAGE_1,
    Attempt,
    authorize,
    callback_url,
    connection_rows,
    consent,
    page_text,
    state_row,
    venue_with_admin,
)


async def assert_spent_and_nothing_saved(runtime: Runtime, attempt: Attempt, outcome: str) -> None:
    """No connection, no choice waiting, and the state used (its callback cannot be replayed)."""
    assert await connection_rows(runtime) == [], "a refused consent must not create connections"
    state = await state_row(runtime, attempt.state_id)
    assert state is not None and state.used_at is not None, "the state must be spent"
    assert state.pending_ciphertext is None, "nothing may wait for a pick"
    assert state.outcome.get("status") == outcome, state.outcome
    (callback,) = [u for u in attempt.browser.visited if "/callback" in u]
    again = await attempt.browser.get(callback)
    assert again.status_code == 400 and "already used" in page_text(again)


def assert_not_connected(attempt: Attempt, *words: str) -> None:
    assert attempt.page.status_code == 400, f"{attempt.page.status_code}: {attempt.text}"
    assert attempt.text.startswith("Not connected"), attempt.text
    for word in words:
        assert word in attempt.text, f"{word!r} not in the page: {attempt.text}"


# --- the person said no ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["facebook", "instagram", "google_business"])
async def test_consent_denied_connects_nothing(
    provider: str, runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    if provider == "google_business":
        await twins.google.set_consent(deny=True)
    else:
        await twins.meta.consent(deny=True)
    venue = await venue_with_admin(runtime)

    attempt = await consent(client, browser, venue.admin, provider)

    assert_not_connected(attempt, "permission was not given", "approve every permission")
    await assert_spent_and_nothing_saved(runtime, attempt, "denied")


async def test_facebook_scopes_switched_off_are_named(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    await twins.meta.consent(denied_scopes=["pages_manage_posts", "pages_read_engagement"])
    venue = await venue_with_admin(runtime)

    attempt = await consent(client, browser, venue.admin, "facebook")

    assert_not_connected(attempt, "pages_manage_posts", "pages_read_engagement", "leave every permission switched on")
    assert "pages_show_list" not in attempt.text, "only what is missing is named"
    await assert_spent_and_nothing_saved(runtime, attempt, "failed")


async def test_instagram_publishing_scope_switched_off_is_named(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    await twins.meta.consent(denied_scopes=["instagram_content_publish"])
    venue = await venue_with_admin(runtime)

    attempt = await consent(client, browser, venue.admin, "instagram")

    assert_not_connected(attempt, "instagram_content_publish")
    await assert_spent_and_nothing_saved(runtime, attempt, "failed")


async def test_an_optional_scope_switched_off_still_connects(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    await twins.meta.consent(denied_scopes=["business_management"], page_ids=[META_PAGE_1])
    venue = await venue_with_admin(runtime)

    attempt = await consent(client, browser, venue.admin, "facebook")

    assert attempt.text.startswith("Connected"), attempt.text
    (row,) = await connection_rows(runtime)
    assert "business_management" not in row.scopes


async def test_google_without_business_manage_is_named(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    await twins.google.set_consent(withhold_scopes=[BUSINESS_MANAGE])
    venue = await venue_with_admin(runtime)

    attempt = await consent(client, browser, venue.admin, "google_business")

    assert_not_connected(attempt, "business.manage", "leave the box for managing your business listings ticked")
    await assert_spent_and_nothing_saved(runtime, attempt, "failed")


async def test_no_page_ticked_says_to_tick_the_page(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    await twins.meta.consent(page_ids=[])
    venue = await venue_with_admin(runtime)

    attempt = await consent(client, browser, venue.admin, "facebook")

    assert_not_connected(attempt, "No Facebook Page was shared", "tick your venue's Page")
    await assert_spent_and_nothing_saved(runtime, attempt, "failed")


async def test_instagram_with_no_account_linked_shows_how_to_link_one(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    await twins.meta.unlink_instagram(META_PAGE_1)
    venue = await venue_with_admin(runtime)

    attempt = await consent(client, browser, venue.admin, "instagram")

    assert_not_connected(
        attempt,
        "None of the Facebook Pages you shared has an Instagram professional account linked",
        "link your Instagram professional account to the venue's Facebook Page",
    )
    await assert_spent_and_nothing_saved(runtime, attempt, "failed")


async def test_a_google_account_without_locations_has_nothing_to_connect(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    empty = AccountSpec(id="9000", account_name="New Owner")
    await twins.google.set_scenario(ScenarioSpec(users=[UserSpec(email="new@example.com", accounts=[empty])]))
    venue = await venue_with_admin(runtime)

    attempt = await consent(client, browser, venue.admin, "google_business")

    assert_not_connected(attempt, "Nothing to connect")
    await assert_spent_and_nothing_saved(runtime, attempt, "failed")


# --- the provider said no -------------------------------------------------------------------------------------------


async def test_google_invalid_grant_on_the_code_exchange(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    venue = await venue_with_admin(runtime)
    link = await authorize(client, venue.admin, "google_business")
    callback = await callback_url(browser, link["url"])
    await twins.google.advance_clock(11 * 60)  # Google's codes last 10 minutes; ours is still fresh

    page = await browser.get(callback)
    attempt = Attempt(link["state_id"], link["url"], page, browser)

    assert_not_connected(attempt, "Google did not accept the sign-in", "connect again")
    token_calls = [c for c in (await twins.google.snapshot()).calls if c.path == "/token"]
    assert [c.status for c in token_calls] == [400], "the exchange reached Google and got invalid_grant"
    await assert_spent_and_nothing_saved(runtime, attempt, "failed")
    assert state_outcome_error(await state_row(runtime, link["state_id"])) == "AuthExpired"


def state_outcome_error(state: object) -> str | None:
    outcome = getattr(state, "outcome", {}) or {}
    error: str | None = outcome.get("error")
    return error


async def test_google_service_disabled_names_the_api_to_enable(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    await twins.google.disable_service(INFO_API)
    venue = await venue_with_admin(runtime)

    attempt = await consent(client, browser, venue.admin, "google_business")

    assert_not_connected(
        attempt,
        "My Business Business Information API",
        INFO_API,
        f"https://console.developers.google.com/apis/api/{INFO_API}/overview",
    )
    await assert_spent_and_nothing_saved(runtime, attempt, "failed")


async def test_google_quota_zero_says_access_is_not_approved_yet(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    await twins.google.set_quota_zero(ACCOUNTS_API)
    venue = await venue_with_admin(runtime)

    attempt = await consent(client, browser, venue.admin, "google_business")

    assert_not_connected(attempt, "no quota", "request Business Profile API access")
    await assert_spent_and_nothing_saved(runtime, attempt, "failed")


async def test_google_rate_limit_while_listing_locations_saves_nothing(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    await twins.google.rate_limit(1, apis=[INFO_API], retry_after=120)
    venue = await venue_with_admin(runtime)

    attempt = await consent(client, browser, venue.admin, "google_business")

    assert_not_connected(
        attempt,
        "Google is rate limiting CheersAI right now, so nothing was connected.",
        "Wait about 2 minutes, then start connecting again.",
    )
    await assert_spent_and_nothing_saved(runtime, attempt, "failed")


@pytest.mark.parametrize("provider", ["facebook", "instagram"])
async def test_meta_rate_limit_while_listing_pages_saves_nothing(
    provider: str, runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    await twins.meta.rate_limit(1, code=4, path_contains="me/accounts")
    venue = await venue_with_admin(runtime)

    attempt = await consent(client, browser, venue.admin, provider)

    assert_not_connected(
        attempt,
        "Facebook is rate limiting CheersAI right now, so nothing was connected.",
        "Wait about 5 minutes, then start connecting again.",
    )
    await assert_spent_and_nothing_saved(runtime, attempt, "failed")
    assert [c["status"] for c in await twins.meta.calls() if c["path"].endswith("/me/accounts")] == [400]
