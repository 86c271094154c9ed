"""Disconnecting revokes at the provider (unless another live connection still uses that login), keeps the row
for history and drops every secret."""

from __future__ import annotations

from typing import Any

import httpx

from core.clock import FrozenClock
from core.runtime import Runtime
from storage.models import Connection
from tests.connections.browser import ConsentBrowser
from tests.connections.conftest import Twins
from tests.connections.helpers import (
    GOOGLE_LOCATION_1,
    GOOGLE_LOCATION_2,
    META_PAGE_1,
    META_PAGE_2,
    META_USER,
    audit,
    connect,
    connection_row,
    connection_rows,
    disconnect,
    listed,
    meta_tokens,
    venue_with_admin,
)

SECRET_COLUMNS = (
    "access_token_ciphertext",
    "access_token_hint",
    "refresh_token_ciphertext",
    "refresh_token_hint",
    "user_token_ciphertext",
    "user_token_hint",
)


def assert_disconnected_without_secrets(row: Connection, clock: FrozenClock) -> None:
    assert row.status.value == "disconnected" and row.disconnected_at == clock.now()
    kept = {c: getattr(row, c) for c in SECRET_COLUMNS if getattr(row, c) is not None}
    assert kept == {}, f"a disconnected connection keeps no secrets: {sorted(kept)}"


async def meta_revocations(twins: Twins) -> list[dict[str, Any]]:
    revocations: list[dict[str, Any]] = (await twins.meta.state())["revocations"]
    return revocations


async def permission_deletes(twins: Twins) -> list[dict[str, Any]]:
    return [c for c in await twins.meta.calls() if c["method"] == "DELETE" and c["path"].endswith("/me/permissions")]


async def test_facebook_disconnect_revokes_only_when_the_last_page_of_that_login_goes(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser, clock: FrozenClock
) -> None:
    venue = await venue_with_admin(runtime)
    attempt = await connect(client, browser, venue.admin, "facebook", pick=[META_PAGE_1, META_PAGE_2])
    first, second = (c["connection_id"] for c in attempt.changes)

    message = await disconnect(client, venue.admin, first)

    assert message == (
        "Disconnected The Red Lion. "
        "Access kept at the provider: 1 other connection in this venue uses the same Facebook login."
    )
    assert await permission_deletes(twins) == [] and await meta_revocations(twins) == []
    assert all(t["valid"] for t in await meta_tokens(twins, kind="PAGE")), "the other Page keeps working"
    assert_disconnected_without_secrets(await connection_row(runtime, first), clock)
    assert (await connection_row(runtime, second)).status.value == "active"

    message = await disconnect(client, venue.admin, second)

    assert message == "Disconnected The Red Lion Kitchen. Access revoked at the provider."
    (call,) = await permission_deletes(twins)
    assert (call["token_source"], call["status"], call["secret_in_url"]) == ("header", 200, False)
    assert [(r["user_id"], r["via"]) for r in await meta_revocations(twins)] == [(META_USER, "api")]
    assert not any(t["valid"] for t in await meta_tokens(twins)), "Facebook ended every token of that login"
    assert_disconnected_without_secrets(await connection_row(runtime, second), clock)
    rows = await listed(client, venue.admin)
    assert [(c["id"], c["status"]) for c in rows] == [(first, "disconnected"), (second, "disconnected")]
    notes = [e.details["note"] for e in await audit(runtime, "connection_disconnected")]
    assert notes == [
        "Access kept at the provider: 1 other connection in this venue uses the same Facebook login.",
        "Access revoked at the provider.",
    ]


async def test_an_instagram_connection_on_the_same_facebook_login_keeps_access(
    runtime: Runtime,
    client: httpx.AsyncClient,
    network: httpx.AsyncClient,
    twins: Twins,
    browser: ConsentBrowser,
    clock: FrozenClock,
) -> None:
    venue = await venue_with_admin(runtime)
    await connect(client, browser, venue.admin, "facebook", pick=[META_PAGE_1])
    await connect(client, ConsentBrowser(client, network), venue.admin, "instagram")
    facebook, instagram = await connection_rows(runtime)
    assert facebook.provider_user_id == instagram.provider_user_id == META_USER

    message = await disconnect(client, venue.admin, instagram.id)

    assert "Access kept at the provider: 1 other connection in this venue uses the same Facebook login." in message
    assert await permission_deletes(twins) == []
    assert_disconnected_without_secrets(await connection_row(runtime, instagram.id), clock)
    assert (await connection_row(runtime, facebook.id)).status.value == "active"


async def test_a_login_shared_with_another_venue_is_not_counted_or_named_to_this_one(
    runtime: Runtime,
    client: httpx.AsyncClient,
    network: httpx.AsyncClient,
    twins: Twins,
    browser: ConsentBrowser,
) -> None:
    ours, theirs = await venue_with_admin(runtime), await venue_with_admin(runtime)
    await connect(client, browser, ours.admin, "facebook", pick=[META_PAGE_1, META_PAGE_2])
    await connect(client, ConsentBrowser(client, network), theirs.admin, "facebook", pick=[META_PAGE_1])
    await connect(client, ConsentBrowser(client, network), theirs.admin, "instagram")
    mine = [c for c in await connection_rows(runtime) if c.account_id == ours.id]
    assert len({c.provider_user_id for c in await connection_rows(runtime)}) == 1, "one Facebook login, two venues"

    first = await disconnect(client, ours.admin, mine[0].id)
    last = await disconnect(client, ours.admin, mine[1].id)

    # Two connections of the other venue use that login too: venue A hears only of its own.
    assert first.endswith("Access kept at the provider: 1 other connection in this venue uses the same Facebook login.")
    assert last.endswith("Access kept at the provider: the same Facebook login is still in use outside this venue.")
    assert not any(ch.isdigit() for ch in last), last
    assert await permission_deletes(twins) == [], "the other venue's connections keep working"


async def test_several_other_connections_are_counted_in_plain_plural(
    runtime: Runtime, client: httpx.AsyncClient, network: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    venue = await venue_with_admin(runtime)
    await connect(client, browser, venue.admin, "facebook", pick=[META_PAGE_1, META_PAGE_2])
    await connect(client, ConsentBrowser(client, network), venue.admin, "instagram")
    facebook = [c for c in await connection_rows(runtime) if c.provider.value == "facebook"]

    message = await disconnect(client, venue.admin, facebook[0].id)

    assert message.endswith(
        "Access kept at the provider: 2 other connections in this venue use the same Facebook login."
    )


async def test_google_disconnect_revokes_the_grant(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser, clock: FrozenClock
) -> None:
    venue = await venue_with_admin(runtime)
    await connect(client, browser, venue.admin, "google_business", pick=[GOOGLE_LOCATION_1])
    (row,) = await connection_rows(runtime)

    message = await disconnect(client, venue.admin, row.id)

    assert message == "Disconnected The Red Lion. Access revoked at the provider."
    snapshot = await twins.google.snapshot()
    (call,) = [c for c in snapshot.calls if c.path == "/revoke"]
    assert (call.method, call.host, call.status, call.query) == ("POST", "oauth2.googleapis.com", 200, "")
    assert all(t.revoked for t in snapshot.tokens), "Google revokes the whole grant"
    assert_disconnected_without_secrets(await connection_row(runtime, row.id), clock)
    (entry,) = await audit(runtime, "connection_disconnected")
    assert (entry.subject_id, entry.details["note"]) == (str(row.id), "Access revoked at the provider.")


async def test_google_disconnect_keeps_access_while_another_location_uses_the_login(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser, clock: FrozenClock
) -> None:
    venue = await venue_with_admin(runtime)
    await connect(client, browser, venue.admin, "google_business", pick=[GOOGLE_LOCATION_1, GOOGLE_LOCATION_2])
    first, second = await connection_rows(runtime)

    message = await disconnect(client, venue.admin, first.id)

    assert "Access kept at the provider: 1 other connection in this venue uses the same Google login." in message
    snapshot = await twins.google.snapshot()
    assert [c for c in snapshot.calls if c.path == "/revoke"] == []
    assert not any(t.revoked for t in snapshot.tokens)
    assert_disconnected_without_secrets(await connection_row(runtime, first.id), clock)
    assert (await connection_row(runtime, second.id)).status.value == "active"


async def test_disconnecting_twice_does_not_call_the_provider_again(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, browser: ConsentBrowser
) -> None:
    await twins.meta.consent(page_ids=[META_PAGE_1])
    venue = await venue_with_admin(runtime)
    await connect(client, browser, venue.admin, "facebook")
    (row,) = await connection_rows(runtime)
    await disconnect(client, venue.admin, row.id)

    assert await disconnect(client, venue.admin, row.id) == "The Red Lion was already disconnected."

    assert len(await permission_deletes(twins)) == 1
    assert len(await audit(runtime, "connection_disconnected")) == 1
    r = await client.post(f"/api/connections/{row.id}/diagnose", headers=venue.admin.headers)
    assert r.status_code == 409 and "connect it again first" in r.json()["detail"], r.text


async def test_connecting_a_disconnected_page_again_revives_the_same_row(
    runtime: Runtime,
    client: httpx.AsyncClient,
    network: httpx.AsyncClient,
    twins: Twins,
    browser: ConsentBrowser,
) -> None:
    await twins.meta.consent(page_ids=[META_PAGE_1])
    venue = await venue_with_admin(runtime)
    await connect(client, browser, venue.admin, "facebook")
    (row,) = await connection_rows(runtime)
    await disconnect(client, venue.admin, row.id)

    attempt = await connect(client, ConsentBrowser(client, network), venue.admin, "facebook")

    assert "Reconnected Facebook Page The Red Lion." in attempt.text
    (again,) = await connection_rows(runtime)
    assert (again.id, again.status.value, again.disconnected_at) == (row.id, "active", None)
    assert again.access_token_ciphertext is not None and again.user_token_ciphertext is not None
