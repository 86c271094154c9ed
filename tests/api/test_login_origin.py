"""Login CSRF: another website cannot post a login link (or the OAuth pick) from a visitor's browser."""

from __future__ import annotations

import httpx
import pytest

from core.runtime import Runtime
from storage.models import Role
from tests import factories

PROBLEM = "application/problem+json"

CROSS_SITE = [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://testserver.local.evil.example"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "http://testserver.local", "Sec-Fetch-Site": "cross-site"},
]
SAME_ORIGIN = [
    {},  # curl and other non-browser clients send neither header
    {"Origin": "http://testserver.local"},
    {"Origin": "http://TestServer.local", "Sec-Fetch-Site": "same-origin"},
    {"Sec-Fetch-Site": "none"},
]


def assert_cross_site_refused(r: httpx.Response) -> None:
    assert r.status_code == 403, f"a cross-site post was accepted: {r.status_code} {r.text}"
    assert r.headers["content-type"].startswith(PROBLEM), r.headers
    assert "another website" in r.json()["detail"], r.text
    assert not r.headers.get_list("set-cookie"), "a refused cross-site login still set cookies"


@pytest.mark.parametrize("headers", CROSS_SITE, ids=lambda h: ",".join(f"{k}={v}" for k, v in h.items()))
async def test_a_login_link_posted_from_another_site_signs_nobody_in(
    runtime: Runtime, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    venue = await factories.venue(runtime)
    attacker = await factories.person(runtime, venue_id=venue, role=Role.editor)
    path = await factories.login_link(runtime, attacker)

    assert_cross_site_refused(await client.post(path, headers=headers))

    # The link is not used up by the refused attempt: its owner can still sign in from our own page.
    r = await client.post(path, headers={"Origin": "http://testserver.local"})
    assert r.status_code == 303, f"the refused attempt spent the link: {r.status_code} {r.text}"


@pytest.mark.parametrize("headers", SAME_ORIGIN, ids=lambda h: ",".join(f"{k}={v}" for k, v in h.items()) or "none")
async def test_a_login_link_posted_from_our_page_or_without_browser_headers_signs_in(
    runtime: Runtime, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    venue = await factories.venue(runtime)
    person = await factories.person(runtime, venue_id=venue, role=Role.editor)
    path = await factories.login_link(runtime, person)

    r = await client.post(path, headers=headers)
    assert r.status_code == 303, f"a same-origin login was refused: {r.status_code} {r.text}"
    assert "cheers_session" in factories.set_cookies(r), "a same-origin login set no session"


async def test_the_oauth_pick_posted_from_another_site_is_refused(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/oauth/facebook/pick",
        data={"state_id": "1", "external_ids": ["1"]},
        headers={"Origin": "https://evil.example"},
    )
    assert_cross_site_refused(r)
