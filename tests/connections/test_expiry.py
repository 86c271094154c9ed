"""The expiry watch: warnings 7, 3 and 1 days before Meta access lapses, and flags for lapsed access.

Connections are made through the real consent flow against the twins, so the lapse moments are the
ones Meta's debug_token reported; the test then moves our clock towards them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from core.clock import FrozenClock
from core.ops.jobs import run_job
from core.runtime import Runtime
from storage.models import ConnectionStatus, Role, Severity
from tests import factories
from tests.connections.conftest import Twins
from tests.connections.support_lifecycle import connect, connect_one, notes, row, secret

WATCH = "connections-expiry-watch"


async def sweep(runtime: Runtime) -> dict[str, Any]:
    return await run_job(runtime, WATCH, trigger="manual")


def move_to(clock: FrozenClock, moment: datetime) -> None:
    clock.advance(seconds=(moment - clock.now()).total_seconds())


async def admin_of_new_venue(runtime: Runtime) -> tuple[int, factories.Person]:
    venue = await factories.venue(runtime)
    return venue, await factories.person(runtime, venue_id=venue, role=Role.admin)


async def test_facebook_access_warns_7_3_and_1_days_ahead_then_asks_for_a_reconnect_once(
    runtime: Runtime, client: httpx.AsyncClient, clock: FrozenClock, twins: Twins
) -> None:
    venue, admin = await admin_of_new_venue(runtime)
    page = await connect_one(client, admin, venue, "facebook")
    connected = await row(runtime, page)
    lapse = connected.user_token_expires_at
    assert lapse is not None, "Meta's long-lived user token lapses, so its expiry is stored"
    assert connected.data_access_expires_at is not None and connected.data_access_expires_at > lapse, vars(connected)

    move_to(clock, lapse - timedelta(days=30))
    quiet = await sweep(runtime)
    assert quiet["warned"] == 0, quiet
    assert await notes(runtime, "connection_expiring") == [], "a month ahead is too early to warn"
    assert (await row(runtime, page)).status is ConnectionStatus.active

    move_to(clock, lapse - timedelta(days=6))
    first = await sweep(runtime)
    assert (first["checked"], first["warned"]) == (1, 1), first
    [warning] = await notes(runtime, "connection_expiring", connection_id=page)
    assert (warning.account_id, warning.severity, warning.payload["days"]) == (venue, Severity.warning, 7), vars(
        warning
    )
    assert warning.payload["lapses_at"] == lapse.isoformat(), warning.payload
    assert "7 days" in warning.title and "The Red Lion" in warning.title, warning.title
    assert warning.payload["remedy"], "a warning says what to do"
    flagged = await row(runtime, page)
    assert flagged.status is ConnectionStatus.expiring, flagged.status
    assert flagged.status_reason == f"access lapses on {lapse:%Y-%m-%d}", flagged.status_reason

    clock.advance(hours=6)  # the next scheduled sweep, the same day
    again = await sweep(runtime)
    assert again["warned"] == 0, again
    assert len(await notes(runtime, "connection_expiring")) == 1, "running again the same day records nothing new"

    move_to(clock, lapse - timedelta(days=2))
    await sweep(runtime)
    move_to(clock, lapse - timedelta(hours=12))
    await sweep(runtime)
    await sweep(runtime)
    warnings = await notes(runtime, "connection_expiring", connection_id=page)
    assert [(n.payload["days"], n.severity) for n in warnings] == [
        (7, Severity.warning),
        (3, Severity.warning),
        (1, Severity.error),
    ], [vars(n) for n in warnings]
    assert "1 day" in warnings[-1].title and "days" not in warnings[-1].title, warnings[-1].title
    assert await notes(runtime, "connection_needs_reconnect") == [], "not lapsed yet"

    move_to(clock, lapse + timedelta(minutes=1))
    await twins.meta.advance_clock((lapse + timedelta(minutes=1) - twins.meta_state.now()).total_seconds())
    lapsed = await sweep(runtime)
    assert lapsed["needs_reconnect"] == 1, lapsed
    for _ in range(3):
        clock.advance(hours=6)
        await sweep(runtime)
    [alert] = await notes(runtime, "connection_needs_reconnect", connection_id=page)
    assert (alert.account_id, alert.severity) == (venue, Severity.error), vars(alert)
    assert "lapsed" in alert.payload["reason"] and alert.payload["remedy"], alert.payload
    stored = await row(runtime, page)
    assert stored.status is ConnectionStatus.needs_reconnect, stored.status
    assert len(await notes(runtime, "connection_expiring")) == 3, "no more warnings once it has lapsed"


async def test_data_access_ending_first_is_what_the_watch_warns_about(
    runtime: Runtime, client: httpx.AsyncClient, clock: FrozenClock, twins: Twins
) -> None:
    venue, admin = await admin_of_new_venue(runtime)
    page = await connect_one(client, admin, venue, "facebook")
    user_token_lapse = (await row(runtime, page)).user_token_expires_at
    assert user_token_lapse is not None and user_token_lapse - clock.now() > timedelta(days=50)
    # Meta's 90-day data access was granted long ago: it now ends before the 60-day user token.
    data_access_end = clock.now() + timedelta(days=2, hours=3)
    await factories.connection_lapses(runtime, page, data_access_expires_at=data_access_end)

    await sweep(runtime)
    [warning] = await notes(runtime, "connection_expiring", connection_id=page)
    assert warning.payload["days"] == 3, warning.payload
    assert warning.payload["lapses_at"] == data_access_end.isoformat(), "whichever comes first"
    assert (await row(runtime, page)).status is ConnectionStatus.expiring

    move_to(clock, data_access_end + timedelta(hours=1))
    await sweep(runtime)
    assert (await row(runtime, page)).status is ConnectionStatus.needs_reconnect
    assert len(await notes(runtime, "connection_needs_reconnect", connection_id=page)) == 1


async def test_page_tokens_and_hourly_google_access_tokens_raise_no_warnings(
    runtime: Runtime, client: httpx.AsyncClient, clock: FrozenClock, twins: Twins
) -> None:
    venue, admin = await admin_of_new_venue(runtime)
    page = await connect_one(client, admin, venue, "facebook")
    instagram = await connect_one(client, admin, venue, "instagram")
    location = await connect_one(client, admin, venue, "google_business")
    for meta in (page, instagram):
        assert (await row(runtime, meta)).token_expires_at is None, "Page tokens from a long-lived login never expire"
    google = await row(runtime, location)
    assert google.token_expires_at is not None and google.token_expires_at - clock.now() < timedelta(days=1)

    clock.advance(minutes=55)  # the Google access token has minutes left; nobody needs warning about that
    result = await sweep(runtime)
    assert (result["checked"], result["warned"], result["needs_reconnect"]) == (3, 0, 0), result
    assert await notes(runtime, "connection_expiring") == []
    assert await notes(runtime, "connection_needs_reconnect") == []
    statuses = {cid: (await row(runtime, cid)).status for cid in (page, instagram, location)}
    assert set(statuses.values()) == {ConnectionStatus.active}, statuses


async def test_a_healthy_google_connection_gets_a_fresh_access_token(
    runtime: Runtime, client: httpx.AsyncClient, clock: FrozenClock, twins: Twins
) -> None:
    venue, admin = await admin_of_new_venue(runtime)
    location = await connect_one(client, admin, venue, "google_business")
    old_token = await secret(runtime, location)
    refresh_token = await secret(runtime, location, "refresh_token")
    old_expiry = (await row(runtime, location)).token_expires_at
    assert old_expiry is not None
    await twins.google.advance_clock(2 * 3600)  # the access token from the consent has expired at Google
    clock.advance(hours=2)

    result = await sweep(runtime)
    assert result["refreshed"] == 1, result
    stored = await row(runtime, location)
    new_token = await secret(runtime, location)
    assert new_token != old_token, "a new access token is stored"
    assert await secret(runtime, location, "refresh_token") == refresh_token, "the refresh token is kept"
    assert stored.token_expires_at is not None and stored.token_expires_at > old_expiry, stored.token_expires_at
    assert stored.status is ConnectionStatus.active
    snapshot = await twins.google.snapshot()
    [issued] = [t for t in snapshot.tokens if t.token == new_token]
    assert issued.kind == "access" and not issued.revoked, issued
    assert issued.expires_at is not None and issued.expires_at > snapshot.now, "Google accepts the stored token"
    assert await notes(runtime, "connection_expiring") == []


async def test_a_google_refresh_token_killed_at_google_means_reconnect_with_one_alert(
    runtime: Runtime, client: httpx.AsyncClient, clock: FrozenClock, twins: Twins
) -> None:
    venue, admin = await admin_of_new_venue(runtime)
    [location, other] = await connect(
        client,
        admin,
        venue,
        "google_business",
        pick=["accounts/1000/locations/2001", "accounts/1000/locations/2002"],
    )
    assert await twins.google.kill_refresh_token(await secret(runtime, location, "refresh_token")) == 1

    result = await sweep(runtime)
    assert result["needs_reconnect"] == 2, "both locations were connected with the same (now dead) grant"
    clock.advance(hours=6)
    await sweep(runtime)
    for cid in (location, other):
        stored = await row(runtime, cid)
        assert stored.status is ConnectionStatus.needs_reconnect, stored.status
        [alert] = await notes(runtime, "connection_needs_reconnect", connection_id=cid)
        assert alert.account_id == venue and alert.payload["remedy"], vars(alert)
    assert await notes(runtime, "connection_expiring") == []
