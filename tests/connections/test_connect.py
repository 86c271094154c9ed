"""Connecting each provider end to end: our API, a scripted browser, the twins over real HTTP."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from core.runtime import Runtime
from sandbox.google.state import s256
from sandbox.google.twin import BUSINESS_MANAGE
from tests.connections.browser import ConsentBrowser
from tests.connections.conftest import Twins
from tests.connections.helpers import (
    GOOGLE_LOCATION_1,
    GOOGLE_LOCATION_2,
    META_IG_1,
    META_PAGE_1,
    META_PAGE_2,
    META_USER,
    choices_in,
    connect,
    consent,
    listed,
    meta_tokens,
    page_text,
    query_of,
    reveal,
    state_row,
    venue_with_admin,
)

FACEBOOK_SCOPES = ["business_management", "pages_manage_posts", "pages_read_engagement", "pages_show_list"]


def when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def to_second(value: str | None) -> datetime | None:
    """A twin timestamp as Graph reports it (epoch seconds)."""
    parsed = when(value)
    return parsed.replace(microsecond=0) if parsed else None


async def three_pages(twins: Twins) -> None:
    """One person managing three Pages; the first two have Instagram accounts linked."""
    await twins.meta.scenario(
        [
            {
                "id": META_USER,
                "name": "Group Owner",
                "pages": [
                    {"id": "201", "name": "The Anchor", "instagram": {"id": "301", "username": "theanchor"}},
                    {"id": "202", "name": "The Bell", "instagram": {"id": "302", "username": "thebell"}},
                    {"id": "203", "name": "The Crown"},
                ],
            }
        ]
    )


# --- Facebook -------------------------------------------------------------------------------------------------------


async def test_facebook_with_several_pages_offers_a_choice_the_api_lists_too(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    venue = await venue_with_admin(runtime)

    attempt = await consent(client, browser, venue.admin, "facebook")

    assert attempt.page.status_code == 200, attempt.text
    assert attempt.choosing, attempt.text
    assert "You granted 2 places" in attempt.text
    assert choices_in(attempt.page) == [META_PAGE_1, META_PAGE_2]
    assert "The Red Lion" in attempt.text and "The Red Lion Kitchen" in attempt.text
    r = await client.get(f"/api/connections/pending/{attempt.state_id}", headers=venue.admin.headers)
    assert r.status_code == 200, r.text
    pending = r.json()
    assert [(c["external_id"], c["name"]) for c in pending] == [
        (META_PAGE_1, "The Red Lion"),
        (META_PAGE_2, "The Red Lion Kitchen"),
    ]
    assert all(c["details"] == {"page_id": c["external_id"]} for c in pending), pending
    assert "EAA" not in r.text, "the pending choice must not carry Page tokens"
    assert await listed(client, venue.admin) == [], "nothing is connected until the person chooses"


async def test_facebook_pick_in_the_page_form_creates_one_connection_per_page_with_what_meta_reported(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    venue = await venue_with_admin(runtime)

    attempt = await connect(
        client, browser, venue.admin, "facebook", pick=[META_PAGE_1, META_PAGE_2], pick_in_browser=True
    )

    assert attempt.text.startswith("Connected"), attempt.text
    assert "Connected Facebook Page The Red Lion." in attempt.text
    assert "Connected Facebook Page The Red Lion Kitchen." in attempt.text
    rows = await listed(client, venue.admin)
    assert [(c["provider"], c["external_id"], c["page_id"], c["name"]) for c in rows] == [
        ("facebook", META_PAGE_1, META_PAGE_1, "The Red Lion"),
        ("facebook", META_PAGE_2, META_PAGE_2, "The Red Lion Kitchen"),
    ]
    state = await twins.meta.state()
    (long_lived,) = [t for t in state["tokens"] if t["kind"] == "USER" and t["long_lived"]]
    (grant,) = state["grants"]
    for row in rows:
        assert row["status"] == "active"
        assert row["scopes"] == sorted(grant["scopes"]) and set(FACEBOOK_SCOPES) <= set(row["scopes"]), row
        assert when(row["user_token_expires_at"]) == to_second(long_lived["expires_at"]), row
        assert when(row["data_access_expires_at"]) == to_second(grant["data_access_expires_at"]), row
        assert row["token_expires_at"] is None, "a Page token from a long-lived login never expires"
        assert row["ig_business_id"] is None and row["location_name"] is None


async def test_facebook_pick_through_the_api_connects_only_the_chosen_page_with_its_own_token(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    venue = await venue_with_admin(runtime)

    attempt = await connect(client, browser, venue.admin, "facebook", pick=[META_PAGE_2])

    assert [(c["created"], c["summary"]) for c in attempt.changes] == [
        (True, "Connected Facebook Page The Red Lion Kitchen.")
    ]
    (row,) = await listed(client, venue.admin)
    assert (row["id"], row["page_id"]) == (attempt.changes[0]["connection_id"], META_PAGE_2)
    (page_token,) = await meta_tokens(twins, kind="PAGE", page_id=META_PAGE_2)
    r = await reveal(client, venue.admin, row["id"])
    assert r.json()["token"] == page_token["value"], "the Page's own token is what we publish with"
    (long_lived,) = [t for t in await meta_tokens(twins, kind="USER") if t["long_lived"]]
    r = await reveal(client, venue.admin, row["id"], "user_token")
    assert r.json()["token"] == long_lived["value"], "the long-lived user token is kept beside it"
    # The choice is spent: asking again finds nothing to choose.
    again = await client.get(f"/api/connections/pending/{attempt.state_id}", headers=venue.admin.headers)
    assert again.status_code == 404, again.text
    repeat = await client.post(
        f"/api/connections/pending/{attempt.state_id}",
        headers=venue.admin.headers,
        json={"external_ids": [META_PAGE_1]},
    )
    assert repeat.status_code == 404, repeat.text
    assert len(await listed(client, venue.admin)) == 1


async def test_only_the_pages_ticked_in_the_dialog_are_offered(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    await three_pages(twins)
    await twins.meta.consent(page_ids=["201", "203"])
    venue = await venue_with_admin(runtime)

    attempt = await consent(client, browser, venue.admin, "facebook")

    assert choices_in(attempt.page) == ["201", "203"], attempt.text
    assert "The Bell" not in attempt.text
    r = await client.get(f"/api/connections/pending/{attempt.state_id}", headers=venue.admin.headers)
    assert [c["external_id"] for c in r.json()] == ["201", "203"]
    refused = await client.post(
        f"/api/connections/pending/{attempt.state_id}",
        headers=venue.admin.headers,
        json={"external_ids": ["201", "202"]},
    )
    assert refused.status_code == 422, refused.text
    assert "not among the places you granted: 202" in refused.json()["detail"]
    assert await listed(client, venue.admin) == [], "a refused pick connects nothing, not even the valid half"


async def test_a_single_ticked_page_connects_without_a_choice(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    await twins.meta.consent(page_ids=[META_PAGE_2])
    venue = await venue_with_admin(runtime)

    attempt = await consent(client, browser, venue.admin, "facebook")

    assert attempt.page.status_code == 200
    assert attempt.text.startswith("Connected") and "The Red Lion Kitchen" in attempt.text, attempt.text
    assert [c["page_id"] for c in await listed(client, venue.admin)] == [META_PAGE_2]
    r = await client.get(f"/api/connections/pending/{attempt.state_id}", headers=venue.admin.headers)
    assert r.status_code == 404, "nothing waits for a choice"


# --- Instagram ------------------------------------------------------------------------------------------------------


async def test_instagram_connects_one_connection_per_linked_account_through_its_page(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    await three_pages(twins)
    venue = await venue_with_admin(runtime)

    attempt = await consent(client, browser, venue.admin, "instagram")
    assert attempt.choosing, attempt.text
    assert choices_in(attempt.page) == ["301", "302"], "The Crown has no Instagram account, so it is not offered"
    r = await client.get(f"/api/connections/pending/{attempt.state_id}", headers=venue.admin.headers)
    assert [(c["name"], c["details"]) for c in r.json()] == [
        ("@theanchor", {"page_id": "201", "ig_business_id": "301"}),
        ("@thebell", {"page_id": "202", "ig_business_id": "302"}),
    ]
    r = await browser.post_form(
        "/oauth/instagram/pick", {"state_id": str(attempt.state_id), "external_ids": ["301", "302"]}
    )
    assert r.status_code == 200, page_text(r)
    assert "Connected Instagram account @theanchor." in page_text(r)

    rows = await listed(client, venue.admin)
    assert [(c["provider"], c["external_id"], c["ig_business_id"], c["name"], c["page_id"]) for c in rows] == [
        ("instagram", "301", "301", "@theanchor", "201"),
        ("instagram", "302", "302", "@thebell", "202"),
    ]
    for row in rows:
        (page_token,) = await meta_tokens(twins, kind="PAGE", page_id=row["page_id"])
        revealed = await reveal(client, venue.admin, row["id"])
        assert revealed.json()["token"] == page_token["value"], f"{row['name']} publishes with its Page's token"
        assert {"instagram_basic", "instagram_content_publish"} <= set(row["scopes"])
        assert row["user_token_expires_at"] is not None and row["data_access_expires_at"] is not None


async def test_instagram_with_one_linked_account_connects_it_directly(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    venue = await venue_with_admin(runtime)

    attempt = await consent(client, browser, venue.admin, "instagram")

    assert attempt.text.startswith("Connected") and "@theredlion" in attempt.text, attempt.text
    (row,) = await listed(client, venue.admin)
    assert (row["ig_business_id"], row["page_id"], row["name"]) == (META_IG_1, META_PAGE_1, "@theredlion")


# --- Google Business Profile ----------------------------------------------------------------------------------------


async def test_google_offers_locations_by_full_name_and_proves_pkce(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    venue = await venue_with_admin(runtime)

    attempt = await consent(client, browser, venue.admin, "google_business")

    assert attempt.choosing, attempt.text
    assert choices_in(attempt.page) == [GOOGLE_LOCATION_1, GOOGLE_LOCATION_2]
    r = await client.get(f"/api/connections/pending/{attempt.state_id}", headers=venue.admin.headers)
    assert [(c["name"], c["details"]) for c in r.json()] == [
        ("The Red Lion", {"location_name": GOOGLE_LOCATION_1}),
        ("The Red Lion Kitchen", {"location_name": GOOGLE_LOCATION_2}),
    ]
    # PKCE: the consent URL carried an S256 challenge of the verifier we keep (encrypted) on the state.
    (dialog,) = [u for u in browser.visited if "/o/oauth2/v2/auth" in u]
    asked = query_of(dialog)
    assert asked["code_challenge_method"] == "S256" and asked["access_type"] == "offline", asked
    state = await state_row(runtime, attempt.state_id)
    assert state is not None and state.code_verifier_ciphertext is not None
    assert asked["code_challenge"] == s256(runtime.cipher().decrypt(state.code_verifier_ciphertext))
    token_calls = [c for c in (await twins.google.snapshot()).calls if c.path == "/token"]
    assert [c.status for c in token_calls] == [200], "the twin checks the verifier before issuing tokens"


async def test_google_pick_stores_the_location_name_and_the_refresh_token(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    venue = await venue_with_admin(runtime)

    attempt = await connect(client, browser, venue.admin, "google_business", pick=[GOOGLE_LOCATION_2])

    assert [c["summary"] for c in attempt.changes] == [
        "Connected Google Business Profile location The Red Lion Kitchen."
    ]
    (row,) = await listed(client, venue.admin)
    expected: dict[str, Any] = {
        "provider": "google_business",
        "external_id": GOOGLE_LOCATION_2,
        "location_name": GOOGLE_LOCATION_2,
        "name": "The Red Lion Kitchen",
        "page_id": None,
        "scopes": [BUSINESS_MANAGE],
    }
    assert {k: row[k] for k in expected} == expected
    snapshot = await twins.google.snapshot()
    (refresh,) = [t for t in snapshot.tokens if t.kind == "refresh"]
    revealed = await reveal(client, venue.admin, row["id"], "refresh_token")
    assert revealed.json()["token"] == refresh.token, "the refresh token is the lasting credential"
    assert row["token_expires_at"] is not None, "the access token's expiry is kept to refresh ahead of it"


async def test_a_pick_started_from_the_planner_ends_with_a_link_back_there(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    venue = await venue_with_admin(runtime)
    r = await client.post(
        "/api/connections/facebook/authorize", headers=venue.admin.headers, json={"return_to": "/planner/connections"}
    )
    assert r.status_code == 200, r.text
    link = r.json()
    page = await browser.open_link(link["url"])
    assert choices_in(page), f"Meta's sandbox grants two Pages, so a choice is offered: {page_text(page)}"

    done = await browser.post_form(
        "/oauth/facebook/pick", {"state_id": str(link["state_id"]), "external_ids": [META_PAGE_1]}
    )

    assert done.status_code == 200, page_text(done)
    assert '<a href="/planner/connections">Back to CheersAI</a>' in done.text, page_text(done)
    assert "close this tab" not in done.text, "a flow started in the planner should lead back to it"
