"""Reconnecting renews the same connection row (identity and history kept), records what changed, and refuses
a consent that granted another place than the one being reconnected."""

from __future__ import annotations

from typing import Any

import httpx

from core.clock import FrozenClock
from core.runtime import Runtime
from storage.models import Connection, OAuthPurpose
from tests.connections.browser import ConsentBrowser
from tests.connections.conftest import Twins
from tests.connections.helpers import (
    GOOGLE_LOCATION_1,
    META_PAGE_1,
    META_PAGE_2,
    audit,
    connect,
    connection_row,
    connection_rows,
    listed,
    meta_tokens,
    notifications_of,
    page_text,
    reconnect_link,
    reveal,
    state_row,
    venue_with_admin,
)

DAY = 86_400


def iso(row: Connection, name: str) -> Any:
    value = getattr(row, name)
    return value.isoformat() if value is not None else None


async def reconnect(
    client: httpx.AsyncClient, network: httpx.AsyncClient, who: Any, connection_id: int
) -> tuple[dict[str, Any], httpx.Response]:
    """Ask for a reconnect link and walk it in a fresh browser; (the link, the callback's page)."""
    link = await reconnect_link(client, who, connection_id)
    page = await ConsentBrowser(client, network).open_link(link["url"])
    return link, page


async def test_reconnect_updates_the_same_row_and_records_the_expiry_diff(
    runtime: Runtime,
    client: httpx.AsyncClient,
    network: httpx.AsyncClient,
    twins: Twins,
    browser: ConsentBrowser,
) -> None:
    venue = await venue_with_admin(runtime)
    await connect(client, browser, venue.admin, "facebook", pick=[META_PAGE_1])
    (before,) = await connection_rows(runtime)
    await twins.meta.advance_clock(3 * DAY)  # a later login lasts until later

    link, page = await reconnect(client, network, venue.admin, before.id)

    assert page.status_code == 200, page_text(page)
    assert "Reconnected Facebook Page The Red Lion." in page_text(page)
    state = await state_row(runtime, link["state_id"])
    assert state is not None and state.purpose is OAuthPurpose.reconnect and state.connection_id == before.id
    (after,) = await connection_rows(runtime)
    assert after.id == before.id, "a reconnect keeps the row (and with it history and scheduled posts)"
    assert after.created_at == before.created_at
    assert before.user_token_expires_at is not None and after.user_token_expires_at is not None
    assert (after.user_token_expires_at - before.user_token_expires_at).days == 3
    assert after.access_token_ciphertext != before.access_token_ciphertext, "the Page token is derived afresh"
    newest_page_token = (await meta_tokens(twins, kind="PAGE", page_id=META_PAGE_1))[-1]
    assert (await reveal(client, venue.admin, after.id)).json()["token"] == newest_page_token["value"]

    (entry,) = await audit(runtime, "connection_metadata_updated")
    assert (entry.subject_type, entry.subject_id, entry.account_id) == ("connection", str(before.id), venue.id)
    diff = entry.details["diff"]
    assert diff["user_token_expires_at"] == [iso(before, "user_token_expires_at"), iso(after, "user_token_expires_at")]
    assert diff["data_access_expires_at"] == [
        iso(before, "data_access_expires_at"),
        iso(after, "data_access_expires_at"),
    ]
    assert not {"external_id", "page_id", "display_name", "scopes", "status"} & set(diff), diff
    (note,) = await notifications_of(runtime, "connection_metadata_updated")
    assert note.account_id == venue.id and note.subject == {"connection_id": before.id}
    assert note.title == "Facebook Page The Red Lion reconnected"
    assert note.payload == {"diff": diff}


async def test_reconnect_of_one_page_ignores_the_other_pages_granted(
    runtime: Runtime,
    client: httpx.AsyncClient,
    network: httpx.AsyncClient,
    twins: Twins,
    browser: ConsentBrowser,
) -> None:
    venue = await venue_with_admin(runtime)
    attempt = await connect(client, browser, venue.admin, "facebook", pick=[META_PAGE_2])
    connection_id = attempt.changes[0]["connection_id"]

    _, page = await reconnect(client, network, venue.admin, connection_id)  # the dialog grants both Pages

    assert page.status_code == 200 and "Reconnected Facebook Page The Red Lion Kitchen." in page_text(page)
    assert "Choose" not in page_text(page), "a reconnect is for one place: no choice"
    assert [(c["id"], c["page_id"]) for c in await listed(client, venue.admin)] == [(connection_id, META_PAGE_2)]


async def test_reconnect_records_scopes_granted_since(
    runtime: Runtime,
    client: httpx.AsyncClient,
    network: httpx.AsyncClient,
    twins: Twins,
    browser: ConsentBrowser,
) -> None:
    await twins.meta.consent(page_ids=[META_PAGE_1], denied_scopes=["business_management"])
    venue = await venue_with_admin(runtime)
    await connect(client, browser, venue.admin, "facebook")
    (before,) = await connection_rows(runtime)
    await twins.meta.consent(page_ids=[META_PAGE_1])

    _, page = await reconnect(client, network, venue.admin, before.id)

    assert page.status_code == 200, page_text(page)
    (after,) = await connection_rows(runtime)
    assert after.id == before.id and "business_management" in after.scopes
    (entry,) = await audit(runtime, "connection_metadata_updated")
    assert entry.details["diff"]["scopes"] == [before.scopes, after.scopes]
    (note,) = await notifications_of(runtime, "connection_metadata_updated")
    assert note.payload["diff"]["scopes"] == [before.scopes, after.scopes]


async def test_reconnect_brings_a_broken_connection_back_to_active(
    runtime: Runtime,
    client: httpx.AsyncClient,
    network: httpx.AsyncClient,
    twins: Twins,
    browser: ConsentBrowser,
) -> None:
    venue = await venue_with_admin(runtime)
    await connect(client, browser, venue.admin, "instagram")
    (row,) = await connection_rows(runtime)
    await twins.meta.password_change()
    r = await client.post(f"/api/connections/{row.id}/diagnose", headers=venue.admin.headers)
    assert r.status_code == 200, r.text
    assert (await connection_row(runtime, row.id)).status.value == "needs_reconnect"

    _, page = await reconnect(client, network, venue.admin, row.id)

    assert page.status_code == 200 and "Reconnected Instagram account @theredlion." in page_text(page)
    after = await connection_row(runtime, row.id)
    assert (after.status.value, after.status_reason) == ("active", None)
    (entry,) = await audit(runtime, "connection_metadata_updated")
    assert entry.details["diff"]["status"] == ["needs_reconnect", "active"]
    assert (await listed(client, venue.admin))[0]["status"] == "active"


async def test_google_reconnect_keeps_the_row_and_stores_the_new_refresh_token(
    runtime: Runtime,
    client: httpx.AsyncClient,
    network: httpx.AsyncClient,
    twins: Twins,
    browser: ConsentBrowser,
    clock: FrozenClock,
) -> None:
    venue = await venue_with_admin(runtime)
    await connect(client, browser, venue.admin, "google_business", pick=[GOOGLE_LOCATION_1])
    (before,) = await connection_rows(runtime)
    clock.advance(minutes=20)  # reconnected later: Google's new access token lapses later

    _, page = await reconnect(client, network, venue.admin, before.id)

    assert page.status_code == 200, page_text(page)
    assert "Reconnected Google Business Profile location The Red Lion." in page_text(page)
    (after,) = await connection_rows(runtime)
    assert (after.id, after.external_id, after.location_name) == (before.id, GOOGLE_LOCATION_1, GOOGLE_LOCATION_1)
    refresh = [t for t in (await twins.google.snapshot()).tokens if t.kind == "refresh"]
    assert len(refresh) == 2, "prompt=consent makes Google send a fresh refresh token"
    revealed = await reveal(client, venue.admin, after.id, "refresh_token")
    assert revealed.json()["token"] == refresh[-1].token
    (entry,) = await audit(runtime, "connection_metadata_updated")
    assert "token_expires_at" in entry.details["diff"], entry.details
    assert len(await notifications_of(runtime, "connection_metadata_updated")) == 1


async def test_reconnect_granting_another_page_is_refused_naming_the_expected_one(
    runtime: Runtime,
    client: httpx.AsyncClient,
    network: httpx.AsyncClient,
    twins: Twins,
    browser: ConsentBrowser,
) -> None:
    await twins.meta.consent(page_ids=[META_PAGE_1])
    venue = await venue_with_admin(runtime)
    await connect(client, browser, venue.admin, "facebook")
    (before,) = await connection_rows(runtime)
    await twins.meta.advance_clock(DAY)
    await twins.meta.consent(page_ids=[META_PAGE_2])

    link, page = await reconnect(client, network, venue.admin, before.id)

    text = page_text(page)
    assert page.status_code == 400, text
    assert (
        f"This reconnects The Red Lion ({META_PAGE_1}), but you granted The Red Lion Kitchen ({META_PAGE_2})." in text
    )
    assert "select The Red Lion when asked which to share" in text
    (after,) = await connection_rows(runtime)
    unchanged = (
        "id",
        "external_id",
        "page_id",
        "display_name",
        "status",
        "scopes",
        "access_token_ciphertext",
        "user_token_ciphertext",
        "user_token_expires_at",
        "data_access_expires_at",
        "updated_at",
    )
    assert {k: getattr(after, k) for k in unchanged} == {k: getattr(before, k) for k in unchanged}
    assert await audit(runtime, "connection_metadata_updated") == []
    assert await notifications_of(runtime, "connection_metadata_updated") == []
    state = await state_row(runtime, link["state_id"])
    assert state is not None and state.used_at is not None and state.outcome["error"] == "wrong_target"
    assert state.pending_ciphertext is None, "the other Page is not left waiting to be picked"


async def break_and_diagnose(client: httpx.AsyncClient, twins: Twins, who: Any, connection_id: int) -> None:
    """The user changes their Facebook password; a diagnose (what a failing post also does) finds it."""
    await twins.meta.password_change()
    r = await client.post(f"/api/connections/{connection_id}/diagnose", headers=who.headers)
    assert r.status_code == 200, r.text


async def test_a_connection_that_breaks_again_after_a_reconnect_alerts_again(
    runtime: Runtime,
    client: httpx.AsyncClient,
    network: httpx.AsyncClient,
    twins: Twins,
    browser: ConsentBrowser,
) -> None:
    venue = await venue_with_admin(runtime)
    await connect(client, browser, venue.admin, "instagram")
    (row,) = await connection_rows(runtime)
    await break_and_diagnose(client, twins, venue.admin, row.id)
    _, page = await reconnect(client, network, venue.admin, row.id)
    assert (await connection_row(runtime, row.id)).status.value == "active", page_text(page)

    await break_and_diagnose(client, twins, venue.admin, row.id)  # same day: inside the old 24-hour window

    assert (await connection_row(runtime, row.id)).status.value == "needs_reconnect"
    alerts = await notifications_of(runtime, "connection_needs_reconnect")
    assert len(alerts) == 2, f"the second break raised no alert: {[a.title for a in alerts]}"


async def test_a_connection_still_broken_alerts_once(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    venue = await venue_with_admin(runtime)
    await connect(client, browser, venue.admin, "instagram")
    (row,) = await connection_rows(runtime)

    await break_and_diagnose(client, twins, venue.admin, row.id)
    await break_and_diagnose(client, twins, venue.admin, row.id)

    alerts = await notifications_of(runtime, "connection_needs_reconnect")
    assert len(alerts) == 1, f"a connection still waiting for its reconnect alerted again: {[a.title for a in alerts]}"
