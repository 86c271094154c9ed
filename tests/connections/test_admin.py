"""The admin view: masked tokens only; revealing a raw token is for admins, audited and rate limited."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from core.clock import FrozenClock
from core.connections.lifecycle import REVEALS_PER_HOUR
from core.runtime import Runtime
from storage.models import Role
from tests import factories
from tests.connections.browser import ConsentBrowser
from tests.connections.conftest import Twins
from tests.connections.helpers import (
    GOOGLE_LOCATION_1,
    META_PAGE_1,
    META_PAGE_2,
    Venue,
    audit,
    connect,
    connection_rows,
    google_secrets,
    meta_secrets,
    meta_tokens,
    reveal,
    venue_with_admin,
)


async def facebook_page(runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, twins: Twins) -> Venue:
    """A venue with The Red Lion connected."""
    await twins.meta.consent(page_ids=[META_PAGE_1])
    venue = await venue_with_admin(runtime)
    await connect(client, browser, venue.admin, "facebook")
    return venue


async def test_the_admin_list_shows_masked_tokens_and_no_raw_one(
    runtime: Runtime,
    client: httpx.AsyncClient,
    network: httpx.AsyncClient,
    twins: Twins,
    browser: ConsentBrowser,
) -> None:
    venue = await venue_with_admin(runtime)
    await connect(client, browser, venue.admin, "facebook", pick=[META_PAGE_1, META_PAGE_2])
    await connect(client, ConsentBrowser(client, network), venue.admin, "google_business", pick=[GOOGLE_LOCATION_1])

    r = await client.get("/api/admin/connections", headers=venue.admin.headers)

    assert r.status_code == 200, r.text
    rows = r.json()
    assert [row["provider"] for row in rows] == ["facebook", "facebook", "google_business"]
    secrets = [*await meta_secrets(twins), *await google_secrets(twins)]
    leaked = [s[:8] + "…" for s in secrets if s in r.text]
    assert leaked == [], f"raw tokens in the admin list: {leaked}"
    for token in secrets:
        assert token[4:-4] not in r.text, "the hidden middle of a token must not be shown"
    for row in rows[:2]:
        (page_token,) = await meta_tokens(twins, kind="PAGE", page_id=row["page_id"])
        assert row["access_token"] == f"{page_token['value'][:4]}…{page_token['value'][-4:]}"
        assert row["user_token"].startswith("EAAU…") and row["refresh_token"] is None
        assert row["provider_user_id"] == "100000000000001"
    google = rows[2]
    assert google["refresh_token"].startswith("1//0…") and google["access_token"].startswith("ya29…")
    assert google["location_name"] == GOOGLE_LOCATION_1 and google["user_token"] is None


async def test_an_admin_reveals_the_raw_token_and_it_is_audited(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser, clock: FrozenClock
) -> None:
    venue = await facebook_page(runtime, client, browser, twins)
    (row,) = await connection_rows(runtime)

    r = await reveal(client, venue.admin, row.id, "user_token")

    assert r.status_code == 200, r.text
    (long_lived,) = [t for t in await meta_tokens(twins, kind="USER") if t["long_lived"]]
    assert r.json() == {"connection_id": row.id, "which": "user_token", "token": long_lived["value"]}
    (entry,) = await audit(runtime, "token_revealed")
    assert (entry.actor_user_id, entry.account_id, entry.subject_type, entry.subject_id) == (
        venue.admin.user_id,
        venue.id,
        "connection",
        str(row.id),
    )
    assert entry.details == {"which": "user_token"} and entry.at == clock.now()
    assert long_lived["value"] not in str(entry.details), "the audit names the token, never holds it"


@pytest.mark.parametrize("role", [Role.editor, Role.viewer])
async def test_reveal_and_the_admin_list_are_refused_below_admin(
    role: Role, runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    venue = await facebook_page(runtime, client, browser, twins)
    (row,) = await connection_rows(runtime)
    member = await factories.person(runtime, venue_id=venue.id, role=role)

    r = await reveal(client, member, row.id)
    listing = await client.get("/api/admin/connections", headers=member.headers)

    assert r.status_code == 403, r.text
    assert "EAA" not in r.text and f"you are {role.value}" in r.json()["detail"]
    assert listing.status_code == 403, listing.text
    assert await audit(runtime, "token_revealed") == []


async def test_reveal_of_another_venues_connection_is_not_found(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    await facebook_page(runtime, client, browser, twins)
    (row,) = await connection_rows(runtime)
    elsewhere = await venue_with_admin(runtime)

    r = await reveal(client, elsewhere.admin, row.id)

    assert r.status_code == 404, r.text
    assert "EAA" not in r.text
    assert await audit(runtime, "token_revealed") == []
    listing = await client.get("/api/admin/connections", headers=elsewhere.admin.headers)
    assert listing.status_code == 200 and listing.json() == []


async def test_reveal_of_a_token_the_connection_does_not_have(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    venue = await facebook_page(runtime, client, browser, twins)
    (row,) = await connection_rows(runtime)

    missing = await reveal(client, venue.admin, row.id, "refresh_token")
    unknown = await reveal(client, venue.admin, row.id, "app_secret")

    assert missing.status_code == 404 and "has no refresh token" in missing.json()["detail"], missing.text
    assert unknown.status_code == 422, unknown.text
    assert await audit(runtime, "token_revealed") == []


async def test_the_eleventh_reveal_within_an_hour_is_refused(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser, clock: FrozenClock
) -> None:
    venue = await facebook_page(runtime, client, browser, twins)
    (row,) = await connection_rows(runtime)
    for i in range(REVEALS_PER_HOUR):
        r = await reveal(client, venue.admin, row.id, "access_token" if i % 2 else "user_token")
        assert r.status_code == 200, f"reveal {i + 1}: {r.text}"
        clock.advance(minutes=5)

    refused = await reveal(client, venue.admin, row.id)

    assert refused.status_code == 429, refused.text
    problem = refused.json()
    assert problem["detail"] == "you have revealed 10 tokens in the last hour; try again later"
    assert "token" not in problem or problem.get("token") is None
    assert "EAA" not in refused.text
    assert len(await audit(runtime, "token_revealed")) == REVEALS_PER_HOUR, "a refused reveal is not a reveal"
    # An hour after the first reveal, one more is allowed again.
    clock.advance(minutes=10, seconds=1)
    assert (await reveal(client, venue.admin, row.id)).status_code == 200


async def test_thirty_concurrent_reveals_yield_exactly_the_hourly_limit(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    venue = await facebook_page(runtime, client, browser, twins)
    (row,) = await connection_rows(runtime)

    # Each request runs in its own task with its own database connection (SQLite: a serialised writer).
    answers = await asyncio.gather(*(reveal(client, venue.admin, row.id) for _ in range(30)))

    statuses = sorted(r.status_code for r in answers)
    assert statuses.count(200) == REVEALS_PER_HOUR, f"concurrent reveals must share one limit: {statuses}"
    assert statuses.count(429) == 30 - REVEALS_PER_HOUR, f"the rest are refused as too many: {statuses}"
    refused = next(r for r in answers if r.status_code == 429)
    assert refused.json()["detail"] == "you have revealed 10 tokens in the last hour; try again later", refused.text
    assert "EAA" not in refused.text, "a refused reveal must not carry the token"
    assert len(await audit(runtime, "token_revealed")) == REVEALS_PER_HOUR, "one audit entry per granted reveal"
