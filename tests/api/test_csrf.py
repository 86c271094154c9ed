"""CSRF on cookie-authenticated writes, and bearer tokens (which need none, and can be revoked)."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from core.access import auth
from core.runtime import Runtime
from storage.models import ApiToken, Role
from tests import factories

PROBLEM = "application/problem+json"


async def token_names(client: httpx.AsyncClient, who: factories.Person) -> list[str]:
    r = await client.get("/api/tokens", headers=who.headers)
    assert r.status_code == 200, r.text
    return [t["name"] for t in r.json()]


def assert_csrf_refused(r: httpx.Response) -> None:
    assert r.status_code == 403, f"a cookie write without the right CSRF token was accepted: {r.status_code} {r.text}"
    assert r.headers["content-type"].startswith(PROBLEM), r.headers
    assert "CSRF" in r.json()["detail"], r.text
    assert "X-CSRF-Token" in r.json()["remedy"], f"the 403 does not say how to send the token: {r.text}"


async def test_cookie_write_without_csrf_token_is_refused(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime, name="The Crown")
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    browser = await factories.login(client, runtime, owner)

    assert_csrf_refused(await client.post("/api/tokens", json={"name": "sneaky"}, headers=browser.cookie))
    assert_csrf_refused(await client.patch(f"/api/accounts/{venue}", json={"name": "Pwned"}, headers=browser.cookie))

    assert "sneaky" not in await token_names(client, owner), "a refused write still created a token"
    r = await client.get(f"/api/accounts/{venue}", headers=owner.headers)
    assert r.json()["name"] == "The Crown", "a refused write still renamed the venue"


async def test_cookie_write_with_a_wrong_csrf_token_is_refused(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    browser = await factories.login(client, runtime, owner)

    for wrong in ("nope", browser.csrf[:-1] + ("0" if browser.csrf[-1] != "0" else "1"), browser.session):
        r = await client.post("/api/tokens", json={"name": "x"}, headers={**browser.cookie, "X-CSRF-Token": wrong})
        assert_csrf_refused(r)


async def test_csrf_token_of_another_session_is_refused(runtime: Runtime, client: httpx.AsyncClient) -> None:
    # The token is bound to the session: one leaked from another browser (or person) does not work.
    venue = await factories.venue(runtime)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    mine = await factories.login(client, runtime, owner)
    other = await factories.login(client, runtime, owner)
    r = await client.post("/api/tokens", json={"name": "x"}, headers={**mine.cookie, "X-CSRF-Token": other.csrf})
    assert_csrf_refused(r)


async def test_cookie_write_with_the_csrf_cookie_value_succeeds(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    browser = await factories.login(client, runtime, owner)

    r = await client.post("/api/tokens", json={"name": "from the planner"}, headers=browser.headers)
    assert r.status_code == 201, r.text
    r = await client.patch(f"/api/accounts/{venue}", json={"name": "Renamed"}, headers=browser.headers)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Renamed"
    assert "from the planner" in await token_names(client, owner)


async def test_csrf_token_from_api_me_works_for_writes(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    browser = await factories.login(client, runtime, owner)

    r = await client.get("/api/me", headers={"Cookie": f"cheers_session={browser.session}"})
    assert r.status_code == 200, r.text
    csrf = r.json()["csrf_token"]
    assert csrf, "/api/me gives a cookie session no CSRF token"
    r = await client.patch(
        f"/api/accounts/{venue}",
        json={"timezone": "Europe/Dublin"},
        headers={"Cookie": f"cheers_session={browser.session}", "X-CSRF-Token": csrf},
    )
    assert r.status_code == 200, r.text
    assert r.json()["timezone"] == "Europe/Dublin"


async def test_cookie_reads_need_no_csrf_token(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    browser = await factories.login(client, runtime, owner)

    for path in ("/api/me", "/api/tokens", f"/api/accounts/{venue}", f"/api/accounts/{venue}/members", "/api/audit"):
        r = await client.get(path, headers=browser.cookie)
        assert r.status_code == 200, f"GET {path} with a cookie: {r.text}"


async def test_bearer_writes_need_no_csrf_token(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)

    r = await client.post("/api/tokens", json={"name": "ci"}, headers=owner.headers)
    assert r.status_code == 201, r.text
    r = await client.patch(f"/api/accounts/{venue}", json={"name": "Via API"}, headers=owner.headers)
    assert r.status_code == 200, r.text
    r = await client.get("/api/me", headers=owner.headers)
    assert r.json()["csrf_token"] is None, "a bearer caller was handed a CSRF token"


async def test_a_revoked_bearer_token_gets_401(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    r = await client.post("/api/tokens", json={"name": "laptop"}, headers=owner.headers)
    assert r.status_code == 201, r.text
    laptop = {"Authorization": f"Bearer {r.json()['token']}"}
    token_id = r.json()["id"]
    assert (await client.get("/api/me", headers=laptop)).status_code == 200

    r = await client.delete(f"/api/tokens/{token_id}", headers=owner.headers)
    assert r.status_code == 204, r.text

    r = await client.get("/api/me", headers=laptop)
    assert r.status_code == 401, f"a revoked token still works: {r.text}"
    assert r.headers["content-type"].startswith(PROBLEM), r.headers
    assert r.headers["www-authenticate"] == "Bearer", r.headers
    r = await client.patch(f"/api/accounts/{venue}", json={"name": "x"}, headers=laptop)
    assert r.status_code == 401, f"a revoked token can still write: {r.text}"
    assert (await client.get("/api/me", headers=owner.headers)).status_code == 200, "revoking one token revoked all"

    r = await client.get("/api/tokens", headers=owner.headers)
    revoked = {t["id"]: t["revoked_at"] for t in r.json()}
    assert revoked[token_id] is not None, "the token list does not show the revocation"


async def test_nobody_can_revoke_someone_elses_token(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    editor = await factories.person(runtime, venue_id=venue, role=Role.editor)
    r = await client.get("/api/tokens", headers=editor.headers)
    editor_token_id = r.json()[0]["id"]

    r = await client.delete(f"/api/tokens/{editor_token_id}", headers=owner.headers)
    assert r.status_code == 404, f"one person revoked another's token: {r.text}"
    assert (await client.get("/api/me", headers=editor.headers)).status_code == 200


async def test_unknown_or_malformed_bearer_tokens_get_401(runtime: Runtime, client: httpx.AsyncClient) -> None:
    for authorization in ("Bearer cheers_pat_made-up", "Bearer not-even-ours", "Basic dXNlcjpwYXNz", "Bearer "):
        r = await client.get("/api/me", headers={"Authorization": authorization})
        assert r.status_code == 401, f"{authorization!r}: {r.text}"
        assert r.headers["content-type"].startswith(PROBLEM), r.headers


async def test_api_tokens_are_stored_hashed(runtime: Runtime, client: httpx.AsyncClient) -> None:
    owner = await factories.person(runtime, venue_id=await factories.venue(runtime), role=Role.owner)
    r = await client.post("/api/tokens", json={"name": "stored"}, headers=owner.headers)
    assert r.status_code == 201, r.text
    raw = r.json()["token"]
    assert raw.startswith(auth.API_TOKEN_PREFIX), raw

    async with runtime.uow() as uow:
        rows = (await uow.session.execute(select(ApiToken))).scalars().all()
    stored = [str(getattr(row, column.key)) for row in rows for column in ApiToken.__table__.columns]
    secrets = {raw, owner.token}
    assert not [value for value in stored for secret in secrets if secret in value], "a raw API token is in api_tokens"
    assert {row.token_hash for row in rows} >= {auth.hash_token(raw), auth.hash_token(owner.token)}

    r = await client.get("/api/tokens", headers=owner.headers)
    listed = r.text
    assert raw not in listed and owner.token not in listed, "the token list shows a raw token"
