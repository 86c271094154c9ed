"""Bad input an attacker (or a slip of the hand) sends answers a plain 4xx, never a 500 with a traceback."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from core.runtime import Runtime
from core.settings import Settings
from storage.models import Role
from tests import factories
from tests.conftest import make_settings

BEYOND_64_BITS = 99999999999999999999
APP_SECRET = "app-secret-for-bad-input"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, cheers_facebook_app_secret=APP_SECRET)


@pytest.fixture
async def editor(runtime: Runtime) -> factories.Person:
    venue = await factories.venue(runtime)
    return await factories.person(runtime, venue_id=venue, role=Role.editor)


def assert_plain_4xx(r: httpx.Response, status: int, says: str) -> None:
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:300]}"
    assert "Traceback" not in r.text and "Error(" not in r.text, f"the answer leaks internals: {r.text[:300]}"
    assert says in r.text, f"the answer does not say '{says}': {r.text[:300]}"


@pytest.mark.parametrize(
    "form", [{}, {"state_id": "1"}, {"state_id": ""}], ids=["empty-body", "every-box-unticked", "blank-state"]
)
async def test_the_oauth_pick_with_nothing_ticked_is_refused_plainly(
    client: httpx.AsyncClient, form: dict[str, str]
) -> None:
    r = await client.post("/oauth/facebook/pick", data=form)
    assert_plain_4xx(r, 400, "Not connected")


@pytest.mark.parametrize(
    "where",
    ["path", "query", "json", "header", "pick"],
)
async def test_an_id_beyond_64_bits_is_refused_wherever_it_is_sent(
    client: httpx.AsyncClient, editor: factories.Person, where: str
) -> None:
    h = editor.headers
    requests: dict[str, tuple[str, str, dict[str, Any]]] = {
        "path": ("GET", f"/api/posts/{BEYOND_64_BITS}", {"headers": h}),
        "query": ("GET", f"/api/posts?connection_id={BEYOND_64_BITS}", {"headers": h}),
        "json": (
            "POST",
            "/api/posts",
            {"headers": h, "json": {"text": "x", "when": "2026-12-24T19:30", "connection_ids": [10**30]}},
        ),
        "header": ("GET", "/api/posts", {"headers": {**h, "X-Cheers-Account": str(BEYOND_64_BITS)}}),
        "pick": ("POST", "/oauth/facebook/pick", {"data": {"state_id": str(BEYOND_64_BITS), "external_ids": "1"}}),
    }
    method, url, kwargs = requests[where]
    r = await client.request(method, url, **kwargs)
    assert 400 <= r.status_code < 500, f"an id beyond 64 bits in the {where} gave {r.status_code}: {r.text[:300]}"
    assert "too large" in r.text or "Not connected" in r.text, r.text[:300]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("payload", [b"[1, 2]", b'"user"', b"42", b"null", b"[" * 100_000 + b"]" * 100_000])
@pytest.mark.parametrize("callback", ["/meta/deauthorize", "/meta/data-deletion"])
async def test_a_meta_signed_request_whose_payload_is_not_an_object_is_refused(
    client: httpx.AsyncClient, callback: str, payload: bytes
) -> None:
    r = await client.post(callback, data={"signed_request": "c2ln." + _b64(payload)})
    assert_plain_4xx(r, 422, "signed_request is malformed")


async def test_deeply_nested_json_is_refused_as_malformed(client: httpx.AsyncClient, editor: factories.Person) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    r = await client.post("/api/posts", content=body, headers={**editor.headers, "Content-Type": "application/json"})
    assert_plain_4xx(r, 400, "nested too deeply")
    # The refused request left nothing behind: the next one is served as usual.
    r = await client.get("/api/posts", headers=editor.headers)
    assert r.status_code == 200, f"the request after a deeply nested body failed: {r.status_code} {r.text[:300]}"


async def test_a_post_for_the_last_minute_of_year_9999_names_the_field(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue = await factories.venue(runtime)
    editor = await factories.person(runtime, venue_id=venue, role=Role.editor)
    connection_id = await factories.connection(runtime, venue, access_token="page-token")
    body = {"text": "x", "when": "9999-12-31T23:59", "connection_ids": [connection_id]}
    r = await client.post("/api/posts", json=body, headers=editor.headers)
    assert_plain_4xx(r, 422, "scheduled_at")


async def test_a_week_at_the_end_of_the_calendar_names_the_field(
    client: httpx.AsyncClient, editor: factories.Person
) -> None:
    r = await client.get("/api/posts?week=9999-12-31", headers=editor.headers)
    assert_plain_4xx(r, 422, "week")


@pytest.mark.parametrize(
    "refusal", ["venue-beyond-64-bits", "another-venue", "viewer-renames-venue", "cookie-write-without-csrf"]
)
async def test_a_refused_request_gives_its_database_connection_back_at_once(
    runtime: Runtime, client: httpx.AsyncClient, refusal: str
) -> None:
    # Found by the OpenAPI fuzz: a refusal raised while resolving who is calling left the request's transaction
    # (and its pooled connection) open until garbage collection; a stream of them could drain the pool.
    venue = await factories.venue(runtime)
    other = await factories.venue(runtime)
    viewer = await factories.person(runtime, venue_id=venue, role=Role.viewer)
    browser = await factories.login(client, runtime, viewer)
    requests: dict[str, tuple[str, str, dict[str, Any]]] = {
        "venue-beyond-64-bits": ("GET", f"/api/accounts/{BEYOND_64_BITS}", {"headers": viewer.headers}),
        "another-venue": ("GET", f"/api/accounts/{other}", {"headers": viewer.headers}),
        "viewer-renames-venue": ("PATCH", f"/api/accounts/{venue}", {"headers": viewer.headers, "json": {"name": "x"}}),
        "cookie-write-without-csrf": ("PATCH", f"/api/accounts/{venue}", {"headers": browser.cookie, "json": {}}),
    }
    checked_out: list[int] = []
    pool = runtime.db.engine.sync_engine.pool
    event.listen(pool, "checkout", lambda *_: checked_out.append(1))
    event.listen(pool, "checkin", lambda *_: checked_out.pop())

    method, url, kwargs = requests[refusal]
    r = await client.request(method, url, **kwargs)

    assert 400 <= r.status_code < 500, f"{refusal} gave {r.status_code}: {r.text[:300]}"
    assert checked_out == [], f"{refusal} ({r.status_code}) still holds {len(checked_out)} database connection(s)"


async def test_venue_zero_in_the_path_is_not_your_own_venue(
    client: httpx.AsyncClient, editor: factories.Person
) -> None:
    # Found while triaging the OpenAPI fuzz: id 0 read as "no venue named", so /api/accounts/0 showed your own.
    r = await client.get("/api/accounts/0", headers=editor.headers)
    assert_plain_4xx(r, 404, "not found")
