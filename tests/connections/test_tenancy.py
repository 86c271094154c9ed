"""Another venue's connections and consent attempts do not exist for you: 404, and nothing changes."""

from __future__ import annotations

import httpx
import pytest

from core.runtime import Runtime
from storage.models import Role
from tests import factories
from tests.connections.browser import ConsentBrowser
from tests.connections.conftest import Twins
from tests.connections.helpers import (
    META_PAGE_1,
    META_PAGE_2,
    Venue,
    authorize,
    connect,
    connection_rows,
    consent,
    page_text,
    venue_with_admin,
)


async def two_venues(runtime: Runtime) -> tuple[Venue, Venue]:
    return await venue_with_admin(runtime), await venue_with_admin(runtime)


@pytest.mark.parametrize("action", ["reconnect", "diagnose", "disconnect"])
async def test_another_venues_connection_is_not_found(
    action: str, runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    ours, theirs = await two_venues(runtime)
    await twins.meta.consent(page_ids=[META_PAGE_1])
    await connect(client, browser, ours.admin, "facebook")
    (before,) = await connection_rows(runtime)
    calls_before = len(await twins.meta.calls())

    r = await client.post(f"/api/connections/{before.id}/{action}", headers=theirs.admin.headers)
    named = await client.post(
        f"/api/connections/{before.id}/{action}",
        headers={**theirs.admin.headers, "X-Cheers-Account": str(ours.id)},
    )

    assert r.status_code == 404, r.text
    assert r.json()["detail"] == f"connection {before.id} not found"
    assert named.status_code == 404 and named.json()["detail"] == "venue not found", named.text
    (after,) = await connection_rows(runtime)
    assert (after.status, after.access_token_ciphertext, after.updated_at) == (
        before.status,
        before.access_token_ciphertext,
        before.updated_at,
    )
    assert len(await twins.meta.calls()) == calls_before, "nothing reaches the provider"


async def test_another_venues_pending_choice_is_not_found(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    ours, theirs = await two_venues(runtime)
    attempt = await consent(client, browser, ours.admin, "facebook")
    assert attempt.choosing, attempt.text
    path = f"/api/connections/pending/{attempt.state_id}"

    looked = await client.get(path, headers=theirs.admin.headers)
    picked = await client.post(path, headers=theirs.admin.headers, json={"external_ids": [META_PAGE_1]})

    assert looked.status_code == 404 and picked.status_code == 404, (looked.text, picked.text)
    assert "The Red Lion" not in looked.text
    assert await connection_rows(runtime) == []
    still = await client.get(path, headers=ours.admin.headers)
    assert [c["external_id"] for c in still.json()] == [META_PAGE_1, META_PAGE_2], "ours is untouched"


async def test_the_pick_form_from_another_browser_is_refused(
    runtime: Runtime,
    client: httpx.AsyncClient,
    network: httpx.AsyncClient,
    twins: Twins,
    browser: ConsentBrowser,
) -> None:
    ours, theirs = await two_venues(runtime)
    attempt = await consent(client, browser, ours.admin, "facebook")
    stranger = ConsentBrowser(client, network)
    await stranger.open_link((await authorize(client, theirs.admin, "facebook"))["url"])  # their own cookie

    r = await stranger.post_form(
        "/oauth/facebook/pick", {"state_id": str(attempt.state_id), "external_ids": [META_PAGE_1]}
    )

    assert r.status_code == 400 and "belongs to another browser" in page_text(r), page_text(r)
    assert await connection_rows(runtime) == []


async def test_an_editor_may_diagnose_but_not_reconnect_or_disconnect(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    ours = await venue_with_admin(runtime)
    await twins.meta.consent(page_ids=[META_PAGE_1])
    await connect(client, browser, ours.admin, "facebook")
    (row,) = await connection_rows(runtime)
    editor = await factories.person(runtime, venue_id=ours.id, role=Role.editor)

    assert (await client.post(f"/api/connections/{row.id}/diagnose", headers=editor.headers)).status_code == 200
    for action in ("reconnect", "disconnect"):
        r = await client.post(f"/api/connections/{row.id}/{action}", headers=editor.headers)
        assert r.status_code == 403, f"{action}: {r.text}"
    assert (await client.post("/api/connections/facebook/authorize", headers=editor.headers)).status_code == 403
    (after,) = await connection_rows(runtime)
    assert after.status.value == "active"
