"""Staff (the service's operators) may read and act in any venue; every such use is audited."""

from __future__ import annotations

import httpx

from core.runtime import Runtime
from storage.models import Channel, Role
from tests import factories


async def test_staff_without_membership_can_read_any_venue(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime, name="The Crown")
    await factories.notification(runtime, venue, title="Crown news")
    member = await factories.person(runtime, venue_id=venue, role=Role.owner)
    staff = await factories.person(runtime, staff=True)

    r = await client.get(f"/api/accounts/{venue}", headers=staff.headers)
    assert r.status_code == 200, f"staff could not read a venue: {r.text}"
    assert r.json()["name"] == "The Crown"
    r = await client.get(f"/api/accounts/{venue}/members", headers=staff.headers)
    assert r.status_code == 200, r.text
    assert [m["user_id"] for m in r.json()] == [member.user_id], "staff show up as members of the venue"
    r = await client.get(f"/api/notifications?account={venue}", headers=staff.headers)
    assert r.status_code == 200, r.text
    assert [n["title"] for n in r.json()["items"]] == ["Crown news"]
    r = await client.get("/api/audit", headers={**staff.headers, "X-Cheers-Account": str(venue)})
    assert r.status_code == 200, r.text


async def test_staff_without_membership_can_act_in_any_venue(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    staff = await factories.person(runtime, staff=True)

    r = await client.patch(f"/api/accounts/{venue}", json={"name": "Fixed by support"}, headers=staff.headers)
    assert r.status_code == 200, f"staff could not rename a venue: {r.text}"
    r = await client.post(
        f"/api/accounts/{venue}/invitations", json={"email": "ad@example.com", "role": "admin"}, headers=staff.headers
    )
    assert r.status_code == 201, f"staff could not invite an admin: {r.text}"
    r = await client.post(f"/api/accounts/{venue}/members/{owner.user_id}/login-link", headers=staff.headers)
    assert r.status_code == 201, f"staff could not issue a login link: {r.text}"

    r = await client.get(f"/api/accounts/{venue}", headers=owner.headers)
    assert r.json()["name"] == "Fixed by support"
    # What staff did is marked as a staff override in the venue's own log.
    r = await client.get("/api/audit", headers=owner.headers)
    by_action = {e["action"]: e for e in r.json() if e["actor_user_id"] == staff.user_id}
    assert by_action["account_updated"]["staff_override"] is True, by_action
    assert by_action["member_invited"]["staff_override"] is True, by_action


async def test_every_staff_request_writes_a_staff_access_audit_entry(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue = await factories.venue(runtime)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    staff = await factories.person(runtime, staff=True)

    requests = [
        ("GET", f"/api/accounts/{venue}"),
        ("GET", f"/api/accounts/{venue}"),
        ("GET", f"/api/accounts/{venue}/members"),
        ("PATCH", f"/api/accounts/{venue}"),
    ]
    for method, path in requests:
        r = await client.request(
            method, path, headers=staff.headers, json={"name": "Audited"} if method == "PATCH" else None
        )
        assert r.status_code == 200, f"{method} {path}: {r.text}"

    entries = await factories.audit_entries(runtime, "staff_access")
    assert len(entries) == len(requests), f"expected one staff_access entry per request, got {len(entries)}"
    for entry, (method, path) in zip(entries, requests, strict=True):
        assert entry.staff_override is True, entry.details
        assert entry.actor_user_id == staff.user_id and entry.account_id == venue, entry
        assert entry.channel is Channel.api, entry.channel
        assert entry.details["purpose"] == f"{method} {path}", entry.details

    # The venue's owner sees them in the venue's log.
    r = await client.get("/api/audit", headers=owner.headers)
    assert r.status_code == 200, r.text
    seen = [e for e in r.json() if e["action"] == "staff_access"]
    assert len(seen) == len(requests), f"the owner does not see every staff access: {seen}"
    assert all(e["staff_override"] is True and e["actor_user_id"] == staff.user_id for e in seen), seen


async def test_staff_access_through_a_browser_session_is_audited_too(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue = await factories.venue(runtime)
    staff = await factories.person(runtime, staff=True)
    browser = await factories.login(client, runtime, staff)

    r = await client.get(f"/api/accounts/{venue}", headers=browser.cookie)
    assert r.status_code == 200, r.text
    entries = await factories.audit_entries(runtime, "staff_access")
    assert [(e.channel, e.staff_override) for e in entries] == [(Channel.web, True)], entries


async def test_members_using_their_own_venue_write_no_staff_access_entries(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue = await factories.venue(runtime)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    r = await client.get(f"/api/accounts/{venue}", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert not await factories.audit_entries(runtime, "staff_access"), "an ordinary member's read was a staff access"


async def test_staff_holding_a_weaker_role_may_act_beyond_it_and_it_is_audited(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue = await factories.venue(runtime, name="The Plough")
    operator = await factories.person(runtime, venue_id=venue, role=Role.viewer, staff=True)
    r = await client.patch(f"/api/accounts/{venue}", json={"name": "The Plough Inn"}, headers=operator.headers)
    assert r.status_code == 200, f"staff should not be held to the viewer role they also hold: {r.text}"
    entries = await factories.audit_entries(runtime, "staff_access")
    assert [e.account_id for e in entries] == [venue], "the override should be on the venue's record"
    assert entries[0].staff_override is True


async def test_non_staff_without_membership_gets_404(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    stranger = await factories.person(runtime)
    member_of_another = await factories.person(runtime, venue_id=await factories.venue(runtime), role=Role.owner)

    for who in (stranger, member_of_another):
        for method, path in (
            ("GET", f"/api/accounts/{venue}"),
            ("GET", f"/api/accounts/{venue}/members"),
            ("PATCH", f"/api/accounts/{venue}"),
            ("GET", f"/api/notifications?account={venue}"),
            ("GET", f"/api/audit?account={venue}"),
        ):
            r = await client.request(
                method, path, headers=who.headers, json={"name": "x"} if method == "PATCH" else None
            )
            assert r.status_code == 404, f"{who.name}: {method} {path} answered {r.status_code} {r.text}"
    assert not await factories.audit_entries(runtime, "staff_access"), "a refused request was logged as staff access"


async def test_staff_asking_for_a_venue_that_does_not_exist_gets_404_and_no_audit(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    staff = await factories.person(runtime, staff=True)
    r = await client.get("/api/accounts/424242", headers=staff.headers)
    assert r.status_code == 404, r.text
    assert not await factories.audit_entries(runtime, "staff_access"), "a missing venue was logged as staff access"
