"""Signing out from a browser: a page with a Sign out button, a POST that needs the session's CSRF token."""

from __future__ import annotations

import re

import httpx
import pytest

from core.access import auth
from core.runtime import Runtime
from storage.models import Role
from tests import factories

HTML = "text/html"
PROBLEM = "application/problem+json"
SAME_ORIGIN = {"Origin": "http://testserver.local", "Sec-Fetch-Site": "same-origin"}


async def signed_in(runtime: Runtime, client: httpx.AsyncClient, name: str = "Sam Barker") -> factories.Browser:
    who = await factories.person(runtime, venue_id=await factories.venue(runtime), role=Role.editor, name=name)
    return await factories.login(client, runtime, who)


def button_token(r: httpx.Response) -> str:
    """The CSRF token the page's Sign out button posts, checking the button posts to /auth/logout."""
    assert r.status_code == 200 and r.headers["content-type"].startswith(HTML), f"{r.status_code} {r.text}"
    form = re.search(r'<form method="post" action="/auth/logout">(.*?)</form>', r.text, re.S)
    assert form is not None, f"the page offers no sign-out button: {r.text}"
    assert "Sign out</button>" in form.group(1), form.group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.group(1))
    assert token is not None, f"the button carries no CSRF token: {form.group(1)}"
    return token.group(1)


async def still_signed_in(client: httpx.AsyncClient, browser: factories.Browser) -> bool:
    r = await client.get("/api/me", headers=browser.cookie)
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


async def test_the_sign_out_page_says_who_and_offers_the_button_without_signing_out(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    browser = await signed_in(runtime, client)
    r = await client.get("/auth/logout", headers=browser.cookie)
    assert "Sam Barker" in r.text, r.text
    assert button_token(r) == browser.csrf, "the button does not carry this session's CSRF token"
    assert not r.headers.get_list("set-cookie"), "opening the sign-out page touched the cookies"
    assert await still_signed_in(client, browser), "opening the sign-out page signed the browser out"


async def test_the_landing_page_sends_the_signed_in_to_the_planner(runtime: Runtime, client: httpx.AsyncClient) -> None:
    browser = await signed_in(runtime, client)
    r = await client.get("/", headers=browser.cookie)
    assert r.status_code == 303 and r.headers["location"] == "/planner/week", f"{r.status_code} {r.headers}"
    r = await client.get("/")
    assert "Not signed in" in r.text and "/auth/logout" not in r.text, "a stranger was offered a sign-out button"


async def test_pressing_sign_out_ends_the_session_and_clears_the_cookies(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    browser = await signed_in(runtime, client)
    token = button_token(await client.get("/auth/logout", headers=browser.cookie))

    r = await client.post("/auth/logout", data={"csrf_token": token}, headers={**browser.cookie, **SAME_ORIGIN})
    assert r.status_code == 200 and r.headers["content-type"].startswith(HTML), f"{r.status_code} {r.text}"
    assert "signed out" in r.text and "Sam Barker" in r.text, r.text
    cleared = factories.set_cookies(r)
    assert {"cheers_session", "cheers_csrf"} <= cleared.keys(), "sign-out did not clear the cookies"
    assert cleared["cheers_session"]["cheers_session"]["path"] == "/", "the cleared cookie misses the one we set"
    assert not await still_signed_in(client, browser), "the old cookie still works after signing out"

    r = await client.get("/auth/logout", headers=browser.cookie)
    assert "not signed in" in r.text and "csrf_token" not in r.text, "an ended session was offered the button"


@pytest.mark.parametrize("token", [None, "", "wrong", "SESSION"], ids=["missing", "empty", "wrong", "the-session"])
async def test_a_sign_out_without_the_right_csrf_token_is_refused_with_a_plain_page(
    runtime: Runtime, client: httpx.AsyncClient, token: str | None
) -> None:
    browser = await signed_in(runtime, client)
    data = {} if token is None else {"csrf_token": browser.session if token == "SESSION" else token}
    r = await client.post("/auth/logout", data=data, headers={**browser.cookie, **SAME_ORIGIN})
    assert r.status_code == 403, f"a sign-out without the right token was accepted: {r.status_code} {r.text}"
    assert r.headers["content-type"].startswith(HTML), f"the refusal is not a plain page: {r.headers}"
    assert "nothing changed" in r.text and 'href="/auth/logout"' in r.text, r.text
    assert not r.headers.get_list("set-cookie"), "a refused sign-out touched the cookies"
    assert await still_signed_in(client, browser), "a refused sign-out ended the session"


async def test_another_sessions_csrf_token_does_not_sign_this_browser_out(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    mine, theirs = await signed_in(runtime, client), await signed_in(runtime, client, name="Other")
    r = await client.post("/auth/logout", data={"csrf_token": theirs.csrf}, headers={**mine.cookie, **SAME_ORIGIN})
    assert r.status_code == 403, r.text
    assert await still_signed_in(client, mine) and await still_signed_in(client, theirs)


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}],
    ids=["evil-origin", "null-origin", "cross-site"],
)
async def test_a_sign_out_posted_from_another_site_is_refused(
    runtime: Runtime, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    # Even with the right token (say it leaked), another site cannot sign people out.
    browser = await signed_in(runtime, client)
    r = await client.post("/auth/logout", data={"csrf_token": browser.csrf}, headers={**browser.cookie, **headers})
    assert r.status_code == 403, f"a cross-site sign-out was accepted: {r.status_code} {r.text}"
    assert r.headers["content-type"].startswith(HTML) and "another website" in r.text, r.text
    assert await still_signed_in(client, browser), "a cross-site sign-out ended the session"

    r = await client.post("/auth/logout", headers={**browser.headers, **headers})
    assert r.status_code == 403 and r.headers["content-type"].startswith(PROBLEM), "a script gets problem+json"
    assert await still_signed_in(client, browser)


async def test_signing_out_when_not_signed_in_says_so(client: httpx.AsyncClient) -> None:
    r = await client.get("/auth/logout")
    assert r.status_code == 200 and r.headers["content-type"].startswith(HTML), f"{r.status_code} {r.text}"
    assert "not signed in" in r.text and "<button" not in r.text, r.text

    r = await client.get("/auth/logout", headers={"Cookie": "cheers_session=made-up"})
    assert "not signed in" in r.text and "<button" not in r.text, "an unknown cookie was offered the button"

    r = await client.post("/auth/logout", data={"csrf_token": "x"}, headers=SAME_ORIGIN)
    assert r.status_code == 200 and "not signed in" in r.text, f"{r.status_code} {r.text}"


async def test_an_api_token_client_is_told_tokens_are_revoked_not_signed_out(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    who = await factories.person(runtime, venue_id=await factories.venue(runtime), role=Role.editor)
    r = await client.post("/auth/logout", headers={**who.headers, "Accept": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM), f"{r.status_code} {r.text}"
    problem = r.json()
    assert "API token" in problem["detail"] and "nothing was signed out" in problem["detail"], problem
    assert "DELETE /api/tokens/" in problem["remedy"], problem
    r = await client.get("/api/me", headers=who.headers)
    assert r.status_code == 200, "the token stopped working after a refused sign-out"


async def test_a_script_signs_out_with_the_csrf_header(runtime: Runtime, client: httpx.AsyncClient) -> None:
    browser = await signed_in(runtime, client)
    assert auth.csrf_ok(runtime.settings, browser.session, browser.csrf)
    r = await client.post("/auth/logout", headers=browser.headers)
    assert r.status_code == 204, r.text
    assert not await still_signed_in(client, browser)
