"""The planner's layout and page guard: sign-in redirect, landmarks, venue switcher, CSRF, toasts, static files."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import httpx
import pytest

from api.planner import render
from core.runtime import Runtime
from storage.models import Role
from tests import factories
from tests.planner.conftest import SignedIn, app_with, carry_cookies, probe_page, probe_post, sign_in


async def test_a_page_without_a_session_redirects_to_sign_in_keeping_where_it_was(runtime: Runtime) -> None:
    async with app_with(runtime, probe_page) as c:
        r = await c.get("/planner/probe?x=1")
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/planner/sign-in?next=/planner/probe%3Fx%3D1", r.headers


async def test_htmx_without_a_session_is_told_to_load_the_sign_in_page(runtime: Runtime) -> None:
    async with app_with(runtime, probe_page) as c:
        r = await c.get("/planner/probe", headers={"HX-Request": "true"})
    assert r.headers.get("hx-redirect", "").startswith("/planner/sign-in?next="), r.headers


async def test_an_ended_session_redirects_to_sign_in(runtime: Runtime) -> None:
    async with app_with(runtime, probe_page) as c:
        c.cookies.set("cheers_session", "not-a-session")
        r = await c.get("/planner/probe")
    assert r.status_code == 303 and r.headers["location"].startswith("/planner/sign-in"), r.text


async def test_the_layout_has_landmarks_the_venue_and_a_sign_out_button(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    venue = await factories.venue(runtime, name="The Crown")
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner, name="Olive Owner")
    # A nav entry whose page is not registered must not become a dead link.
    monkeypatch.setattr(render, "NAV", (*render.NAV, ("Nowhere", "planner.nowhere")))
    async with app_with(runtime, probe_page) as c:
        browser = await sign_in(c, runtime, owner)
        r = await c.get("/planner/probe")
    assert r.status_code == 200, r.text
    html = r.text
    assert 'href="#main"' in html and '<main id="main"' in html, "no skip link to the main landmark"
    assert '<nav aria-label="Planner">' in html and "<header" in html, "no header/nav landmarks"
    assert 'id="toasts"' in html and 'aria-live="polite"' in html, "no live toasts region"
    assert "The Crown" in html and "Olive Owner" in html, "the venue or the person is not shown"
    assert 'action="/auth/logout"' in html and f'value="{browser.csrf}"' in html, "no sign-out form with the token"
    assert 'id="venue-switch"' not in html, "a switcher for someone with only one venue"
    # The nav lists every planner page, in the planner's order, and nothing for a route that does not exist.
    links = re.findall(r'<li><a href="(/planner/[a-z]+)"', html)
    expected = ["week", "compose", "library", "alerts", "weekly", "connections", "chat", "team"]
    assert links == [f"/planner/{name}" for name in expected], f"the nav's links: {links}"
    assert "Nowhere" not in html, "a nav link to a page that does not exist"
    assert r.headers["cache-control"] == "no-store", r.headers


async def test_the_venue_switcher_remembers_the_pick_and_refuses_other_venues(runtime: Runtime) -> None:
    crown = await factories.venue(runtime, name="The Crown")
    anchor = await factories.venue(runtime, name="The Anchor")
    elsewhere = await factories.venue(runtime, name="Somewhere Else")
    owner = await factories.person(runtime, venue_id=crown, role=Role.owner)
    await factories.join(runtime, owner, anchor, Role.editor)
    async with app_with(runtime, probe_page) as c:
        await sign_in(c, runtime, owner)
        first = await c.get("/planner/probe")
        assert '<label for="venue-switch">' in first.text, "no labelled venue switcher for a person in two venues"
        selected = re.search(r'<option value="(\d+)" selected>([^<]+)<', first.text)
        assert selected is not None and selected.group(2) == "The Anchor", "the first venue (by name) is not current"

        picked = await c.get(f"/planner/probe?venue={crown}")
        carry_cookies(c, picked)
        assert picked.status_code == 200, picked.text
        assert f'<option value="{crown}" selected>The Crown<' in picked.text, "?venue= did not switch"
        later = await c.get("/planner/probe")
        assert f'<option value="{crown}" selected>The Crown<' in later.text, "the pick was not remembered"

        refused = await c.get(f"/planner/probe?venue={elsewhere}")
        assert refused.status_code == 404, refused.text
        assert refused.headers["content-type"].startswith("text/html"), "a planner error is not a page"
        assert "venue not found" in refused.text, refused.text
        garbage = await c.get("/planner/probe?venue=abc")
        assert garbage.status_code == 404, garbage.text


async def test_a_person_without_a_venue_is_told_so(runtime: Runtime) -> None:
    loner = await factories.person(runtime)
    async with app_with(runtime, probe_page) as c:
        await sign_in(c, runtime, loner)
        r = await c.get("/planner/probe")
    assert r.status_code == 200, r.text
    assert "aren't a member of any venue" in r.text, r.text


async def test_a_form_post_needs_the_csrf_token(runtime: Runtime) -> None:
    venue = await factories.venue(runtime, name="The Crown")
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    async with app_with(runtime, probe_page, probe_post) as c:
        browser = await sign_in(c, runtime, owner)
        missing = await c.post("/planner/probe", data={"x": "1"})
        assert missing.status_code == 403, missing.text
        assert "nothing changed" in missing.text, missing.text
        wrong = await c.post("/planner/probe", data={"csrf_token": "0" * 64})
        assert wrong.status_code == 403, wrong.text
        cross = await c.post(
            "/planner/probe", data={"csrf_token": browser.csrf}, headers={"Origin": "https://evil.example"}
        )
        assert cross.status_code == 403, cross.text

        done = await c.post("/planner/probe", data={"csrf_token": browser.csrf})
        assert done.status_code == 303 and done.headers["location"] == "/planner/probe", done.text
        carry_cookies(c, done)
        shown = await c.get("/planner/probe")
        assert "Done in The Crown" in shown.text, "the flash toast was not shown after the redirect"
        carry_cookies(c, shown)
        again = await c.get("/planner/probe")
        assert "Done in The Crown" not in again.text, "the flash toast was shown twice"


async def test_htmx_posts_get_a_toast_fragment(signed_in: SignedIn, runtime: Runtime) -> None:
    async with app_with(runtime, probe_post) as c:
        browser = await sign_in(c, runtime, signed_in.person)
        r = await c.post("/planner/probe", headers={"HX-Request": "true", "X-CSRF-Token": browser.csrf})
    assert r.status_code == 200, r.text
    assert r.text.strip() == '<div class="toast toast-ok">Done in The Crown</div>', r.text


async def test_the_planner_address_opens_the_week(signed_in: SignedIn) -> None:
    r = await signed_in.get("/planner/")
    assert r.status_code == 303 and r.headers["location"] == "/planner/week", r.text


async def test_static_files_are_served(client: httpx.AsyncClient) -> None:
    css = await client.get("/static/app.css")
    assert css.status_code == 200 and ":focus-visible" in css.text, css.status_code
    js = await client.get("/static/htmx.min.js")
    assert js.status_code == 200 and "htmx" in js.text[:100], js.status_code


def test_the_wheel_ships_every_template_and_static_file() -> None:
    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["api"]
    shipped = [
        p.relative_to(root / "api").as_posix()
        for folder in ("templates", "static")
        for p in (root / "api" / folder).rglob("*")
        if p.is_file()
    ]
    missed = [
        f
        for f in shipped
        if not any(fnmatch(f, pattern) and f.count("/") == pattern.count("/") for pattern in patterns)
    ]
    assert not missed, f"pyproject's package-data leaves these out of the wheel: {missed}"


async def test_staff_may_open_any_venue_on_the_record(runtime: Runtime) -> None:
    venue = await factories.venue(runtime, name="The Crown")
    staff = await factories.person(runtime, staff=True, name="Stella Staff")
    async with app_with(runtime, probe_page) as c:
        await sign_in(c, runtime, staff)
        r = await c.get(f"/planner/probe?venue={venue}")
    assert r.status_code == 200, r.text
    assert f'<option value="{venue}" selected>The Crown (staff)<' in r.text, "the staff view does not say so"
    entries = await factories.audit_entries(runtime, "staff_access")
    assert [e.account_id for e in entries] == [venue], "staff use of a venue is not audited"
