"""One-time login links, the browser sessions they open, and logging out."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select

from core.access import auth
from core.clock import FrozenClock
from core.runtime import Runtime, build_runtime
from storage.models import Channel, LoginLink, Role, WebSession
from tests import factories
from tests.conftest import make_settings


class _SignedAnHourAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 3600


def nonce_of(runtime: Runtime, path: str) -> str:
    token = path.rsplit("/", 1)[1]
    payload = URLSafeTimedSerializer(runtime.settings.cheers_secret_key, salt=auth.LOGIN_SALT).loads(token)
    return str(payload["n"])


async def count(runtime: Runtime, model: type[LoginLink] | type[WebSession]) -> int:
    async with runtime.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


def assert_link_page(r: httpx.Response, status: int, says: str) -> None:
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text}"
    assert r.headers["content-type"].startswith("text/html"), f"the refusal is not a plain page: {r.headers}"
    assert says in r.text, f"the page does not say '{says}': {r.text}"
    assert not r.headers.get_list("set-cookie"), "a refused link set cookies"


async def test_admin_issues_a_login_link_for_a_member(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    admin = await factories.person(runtime, venue_id=venue, role=Role.admin)
    editor = await factories.person(runtime, venue_id=venue, role=Role.editor)

    r = await client.post(f"/api/accounts/{venue}/members/{editor.user_id}/login-link", headers=admin.headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["url"].startswith("http://testserver.local/auth/login/"), body
    assert body["expires_in_minutes"] == runtime.settings.login_link_ttl_minutes, body

    r = await client.post(urlsplit(body["url"]).path)
    assert r.status_code == 303, r.text
    cookies = factories.set_cookies(r)
    session = cookies["cheers_session"]["cheers_session"].value
    r = await client.get("/api/me", headers={"Cookie": f"cheers_session={session}"})
    assert r.status_code == 200, r.text
    assert r.json()["user_id"] == editor.user_id, "the link logged in someone else"


async def test_editor_cannot_issue_login_links(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    editor = await factories.person(runtime, venue_id=venue, role=Role.editor)
    viewer = await factories.person(runtime, venue_id=venue, role=Role.viewer)
    r = await client.post(f"/api/accounts/{venue}/members/{viewer.user_id}/login-link", headers=editor.headers)
    assert r.status_code == 403, r.text
    assert await count(runtime, LoginLink) == 0, "a refused request still issued a link"


async def test_admin_cannot_get_a_login_link_for_an_owner_or_another_admin(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    # The link is handed to the issuer: a link for a stronger role would let an admin become that person.
    venue = await factories.venue(runtime)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    admin = await factories.person(runtime, venue_id=venue, role=Role.admin)
    other_admin = await factories.person(runtime, venue_id=venue, role=Role.admin)

    for target in (owner, other_admin):
        r = await client.post(f"/api/accounts/{venue}/members/{target.user_id}/login-link", headers=admin.headers)
        assert r.status_code == 403, f"an admin got a login link for {target.name}: {r.text}"
    assert await count(runtime, LoginLink) == 0, "a refused request still issued a link"

    r = await client.post(f"/api/accounts/{venue}/members/{admin.user_id}/login-link", headers=owner.headers)
    assert r.status_code == 201, f"an owner could not issue a link for an admin: {r.text}"
    r = await client.post(f"/api/accounts/{venue}/members/{admin.user_id}/login-link", headers=admin.headers)
    assert r.status_code == 201, f"an admin could not issue a link for themselves: {r.text}"


async def test_venue_admin_cannot_get_a_login_link_for_staff(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    admin = await factories.person(runtime, venue_id=venue, role=Role.admin)
    operator = await factories.person(runtime, venue_id=venue, role=Role.viewer, staff=True)
    r = await client.post(f"/api/accounts/{venue}/members/{operator.user_id}/login-link", headers=admin.headers)
    assert r.status_code == 403, f"a venue admin got a login link that signs in as staff: {r.text}"
    assert await count(runtime, LoginLink) == 0


async def test_login_link_preview_does_not_burn_it(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    who = await factories.person(runtime, venue_id=venue)
    path = await factories.login_link(runtime, who)

    for _ in range(3):  # chat unfurlers, mail scanners, the person's own preview
        r = await client.get(path)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/html"), r.headers
        assert '<form method="post">' in r.text, "the confirm page has no sign-in button"
        assert not r.headers.get_list("set-cookie"), "opening the link logged someone in"
        assert r.headers["cache-control"] == "no-store", r.headers
    assert await count(runtime, WebSession) == 0, "a GET opened a session"

    r = await client.post(path)
    assert r.status_code == 303, f"the previews used the link up: {r.text}"


async def test_using_a_login_link_sets_a_safe_session_cookie(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    who = await factories.person(runtime, venue_id=venue)
    path = await factories.login_link(runtime, who)

    r = await client.post(path)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/planner/week", "signing in does not land in the planner"
    cookies = factories.set_cookies(r)
    session = cookies["cheers_session"]["cheers_session"]
    assert session["httponly"] is True, "the session cookie is readable by scripts"
    assert str(session["samesite"]).lower() == "lax", session.OutputString()
    assert session["secure"] is True, "outside dev the session cookie must be Secure"
    assert session["path"] == "/", session.OutputString()
    assert int(session["max-age"]) == runtime.settings.session_ttl_hours * 3600, session.OutputString()
    csrf = cookies["cheers_csrf"]["cheers_csrf"]
    assert not csrf["httponly"], "the planner's scripts cannot read the CSRF cookie"
    assert csrf["secure"] is True and str(csrf["samesite"]).lower() == "lax", csrf.OutputString()

    r = await client.get("/api/me", headers={"Cookie": f"cheers_session={session.value}"})
    assert r.status_code == 200, r.text
    assert r.json()["user_id"] == who.user_id
    assert r.json()["csrf_token"] == csrf.value, "/api/me and the cookie disagree on the CSRF token"


async def test_session_cookie_has_no_secure_flag_in_dev(database_url: str, tmp_path: Path, clock: FrozenClock) -> None:
    runtime = build_runtime(make_settings(database_url, tmp_path, cheers_env="dev"), clock=clock)
    try:
        assert runtime.settings.secure_cookies is False
        who = await factories.person(runtime, venue_id=await factories.venue(runtime))
        path = await factories.login_link(runtime, who)
        async with factories.app_client(runtime) as client:
            r = await client.post(path)
        assert r.status_code == 303, r.text
        cookies = factories.set_cookies(r)
        for name in ("cheers_session", "cheers_csrf"):
            morsel = cookies[name][name]
            assert not morsel["secure"], f"{name} is Secure in dev, so it would not work over http://localhost"
            assert str(morsel["samesite"]).lower() == "lax", morsel.OutputString()
        assert cookies["cheers_session"]["cheers_session"]["httponly"] is True
    finally:
        await runtime.db.dispose()


async def test_a_script_can_use_a_login_link_and_get_json(runtime: Runtime, client: httpx.AsyncClient) -> None:
    who = await factories.person(runtime, venue_id=await factories.venue(runtime))
    path = await factories.login_link(runtime, who)
    r = await client.post(path, headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["user_id"] == who.user_id
    assert r.json()["csrf_token"] == factories.set_cookies(r)["cheers_csrf"]["cheers_csrf"].value


async def test_a_login_link_works_only_once(runtime: Runtime, client: httpx.AsyncClient) -> None:
    who = await factories.person(runtime, venue_id=await factories.venue(runtime))
    path = await factories.login_link(runtime, who)

    r = await client.post(path)
    assert r.status_code == 303, r.text
    client.cookies.clear()
    r = await client.post(path)
    assert_link_page(r, 410, "already been used")
    r = await client.get(path)
    assert_link_page(r, 410, "already been used")
    assert await count(runtime, WebSession) == 1, "the second POST opened another session"


async def test_a_used_link_tells_a_script_why_in_problem_json(runtime: Runtime, client: httpx.AsyncClient) -> None:
    who = await factories.person(runtime, venue_id=await factories.venue(runtime))
    path = await factories.login_link(runtime, who)
    assert (await client.post(path)).status_code == 303
    client.cookies.clear()
    r = await client.post(path, headers={"Accept": "application/json"})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    assert r.json()["link_state"] == "used", r.text


async def test_an_expired_login_link_is_refused(
    runtime: Runtime, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    who = await factories.person(runtime, venue_id=await factories.venue(runtime))
    path = await factories.login_link(runtime, who)

    clock.advance(minutes=runtime.settings.login_link_ttl_minutes - 1)
    r = await client.get(path)
    assert r.status_code == 200, f"the link expired early: {r.text}"

    clock.advance(minutes=2)
    assert_link_page(await client.get(path), 410, "expired")
    assert_link_page(await client.post(path), 410, "expired")
    assert await count(runtime, WebSession) == 0, "an expired link opened a session"


async def test_a_link_whose_signature_is_too_old_is_refused(runtime: Runtime, client: httpx.AsyncClient) -> None:
    # The signed token carries its own (real-time) timestamp, checked independently of the database row.
    who = await factories.person(runtime, venue_id=await factories.venue(runtime))
    path = await factories.login_link(runtime, who)
    stale = URLSafeTimedSerializer(
        runtime.settings.cheers_secret_key, salt=auth.LOGIN_SALT, signer=_SignedAnHourAgo
    ).dumps({"n": nonce_of(runtime, path)})

    assert_link_page(await client.get(f"/auth/login/{stale}"), 410, "expired")
    assert_link_page(await client.post(f"/auth/login/{stale}"), 410, "expired")
    assert await count(runtime, WebSession) == 0, "a stale signature opened a session"


async def test_a_tampered_login_link_is_refused_and_changes_nothing(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    who = await factories.person(runtime, venue_id=await factories.venue(runtime))
    path = await factories.login_link(runtime, who)
    flipped = "A" if path[-5] != "A" else "B"
    tampered = path[:-5] + flipped + path[-4:]
    forged = URLSafeTimedSerializer("not-the-secret", salt=auth.LOGIN_SALT).dumps({"n": nonce_of(runtime, path)})

    for bad in (tampered, f"/auth/login/{forged}", "/auth/login/not-a-token"):
        assert_link_page(await client.get(bad), 400, "not valid")
        assert_link_page(await client.post(bad), 400, "not valid")

    assert await count(runtime, WebSession) == 0, "a tampered link opened a session"
    assert not await factories.audit_entries(runtime, "login_link_used"), "a tampered link was recorded as used"
    r = await client.post(path)
    assert r.status_code == 303, f"the genuine link stopped working after tampered attempts: {r.text}"


async def test_login_rotates_the_session_the_browser_already_had(runtime: Runtime, client: httpx.AsyncClient) -> None:
    who = await factories.person(runtime, venue_id=await factories.venue(runtime))
    before = await factories.login(client, runtime, who)
    r = await client.get("/api/me", headers=before.cookie)
    assert r.status_code == 200, r.text

    after = await factories.login(client, runtime, who, previous=before)
    assert after.session != before.session, "login reused the old session token"
    r = await client.get("/api/me", headers=before.cookie)
    assert r.status_code == 401, f"the session the browser had before login still works: {r.text}"
    r = await client.get("/api/me", headers=after.cookie)
    assert r.status_code == 200, r.text


async def test_login_keeps_sessions_on_other_devices(runtime: Runtime, client: httpx.AsyncClient) -> None:
    who = await factories.person(runtime, venue_id=await factories.venue(runtime))
    phone = await factories.login(client, runtime, who)
    laptop = await factories.login(client, runtime, who)
    for device in (phone, laptop):
        r = await client.get("/api/me", headers=device.cookie)
        assert r.status_code == 200, r.text


async def test_sessions_expire(runtime: Runtime, client: httpx.AsyncClient, clock: FrozenClock) -> None:
    who = await factories.person(runtime, venue_id=await factories.venue(runtime))
    browser = await factories.login(client, runtime, who)

    clock.advance(hours=runtime.settings.session_ttl_hours, minutes=-1)
    r = await client.get("/api/me", headers=browser.cookie)
    assert r.status_code == 200, f"the session expired early: {r.text}"
    clock.advance(minutes=2)
    r = await client.get("/api/me", headers=browser.cookie)
    assert r.status_code == 401, f"the session outlived its lifetime: {r.text}"
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers


async def test_an_unknown_session_cookie_gets_401(runtime: Runtime, client: httpx.AsyncClient) -> None:
    r = await client.get("/api/me", headers={"Cookie": "cheers_session=made-up"})
    assert r.status_code == 401, r.text
    r = await client.get("/api/me")
    assert r.status_code == 401, r.text


async def test_logout_needs_csrf_and_ends_the_session(runtime: Runtime, client: httpx.AsyncClient) -> None:
    who = await factories.person(runtime, venue_id=await factories.venue(runtime))
    browser = await factories.login(client, runtime, who)

    r = await client.post("/auth/logout", headers=browser.cookie)
    assert r.status_code == 403, f"logout without the CSRF token was accepted: {r.text}"
    r = await client.post("/auth/logout", headers={**browser.cookie, "X-CSRF-Token": "wrong"})
    assert r.status_code == 403, f"logout with a wrong CSRF token was accepted: {r.text}"
    r = await client.get("/api/me", headers=browser.cookie)
    assert r.status_code == 200, f"a refused logout ended the session: {r.text}"

    r = await client.post("/auth/logout", headers=browser.headers)
    assert r.status_code == 204, r.text
    cleared = factories.set_cookies(r)
    assert {"cheers_session", "cheers_csrf"} <= cleared.keys(), "logout did not clear the cookies"
    r = await client.get("/api/me", headers=browser.cookie)
    assert r.status_code == 401, f"the session still works after logout (a copied cookie would too): {r.text}"


async def test_login_link_issue_and_use_are_audited(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    admin = await factories.person(runtime, venue_id=venue, role=Role.admin)
    editor = await factories.person(runtime, venue_id=venue, role=Role.editor)

    r = await client.post(f"/api/accounts/{venue}/members/{editor.user_id}/login-link", headers=admin.headers)
    assert r.status_code == 201, r.text
    issued = await factories.audit_entries(runtime, "login_link_issued")
    assert len(issued) == 1, issued
    assert issued[0].actor_user_id == admin.user_id and issued[0].account_id == venue, issued[0]
    assert issued[0].subject_id == str(editor.user_id), issued[0]

    r = await client.get(urlsplit(r.json()["url"]).path)
    assert r.status_code == 200, r.text
    assert not await factories.audit_entries(runtime, "login_link_used"), "a preview was audited as a login"
    r = await client.post(urlsplit(r.url.path).path)
    assert r.status_code == 303, r.text
    used = await factories.audit_entries(runtime, "login_link_used")
    assert len(used) == 1, used
    assert used[0].actor_user_id == editor.user_id and used[0].channel is Channel.web, used[0]
    assert used[0].subject_id == str(editor.user_id), used[0]

    r = await client.get("/api/audit", headers=admin.headers)
    assert "login_link_issued" in {e["action"] for e in r.json()}, "the venue's log does not show the issued link"
