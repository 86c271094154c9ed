"""Tenancy: a venue's data is invisible to other venues' people, and a person in several venues
acts in each with the role they hold there."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from core.runtime import Runtime
from storage.models import LoginLink, Role
from tests import factories

PROBLEM = "application/problem+json"


def assert_not_found(r: httpx.Response, what: str) -> None:
    assert r.status_code == 404, f"{what}: expected 404, got {r.status_code} {r.text}"
    assert r.headers["content-type"].startswith(PROBLEM), f"{what}: 404 is not problem+json: {r.headers}"


async def test_another_venues_account_answers_404_for_reads_and_writes(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    mine = await factories.venue(runtime)
    theirs = await factories.venue(runtime, name="The Other Arms")
    me = await factories.person(runtime, venue_id=mine, role=Role.owner)

    assert_not_found(await client.get(f"/api/accounts/{theirs}", headers=me.headers), "reading another venue")
    r = await client.patch(f"/api/accounts/{theirs}", json={"name": "Hijacked"}, headers=me.headers)
    assert_not_found(r, "renaming another venue")

    owner = await factories.person(runtime, venue_id=theirs, role=Role.owner)
    r = await client.get(f"/api/accounts/{theirs}", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "The Other Arms", "another venue's owner renamed a venue that is not theirs"


async def test_another_venue_looks_exactly_like_a_venue_that_does_not_exist(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    mine = await factories.venue(runtime)
    theirs = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=mine, role=Role.owner)

    foreign = await client.get(f"/api/accounts/{theirs}", headers=me.headers)
    missing = await client.get("/api/accounts/999999", headers=me.headers)
    assert foreign.status_code == missing.status_code == 404, (foreign.text, missing.text)
    assert foreign.json()["detail"] == missing.json()["detail"], "the answer reveals that the other venue exists"


async def test_another_venues_members_answer_404(runtime: Runtime, client: httpx.AsyncClient) -> None:
    mine = await factories.venue(runtime)
    theirs = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=mine, role=Role.owner)
    them = await factories.person(runtime, venue_id=theirs, role=Role.editor)

    assert_not_found(
        await client.get(f"/api/accounts/{theirs}/members", headers=me.headers), "listing another venue's members"
    )
    r = await client.post(
        f"/api/accounts/{theirs}/invitations", json={"email": "me@example.com", "role": "owner"}, headers=me.headers
    )
    assert_not_found(r, "inviting yourself to another venue")
    r = await client.delete(f"/api/accounts/{theirs}/members/{them.user_id}", headers=me.headers)
    assert_not_found(r, "removing another venue's member")

    owner = await factories.person(runtime, venue_id=theirs, role=Role.owner)
    r = await client.get(f"/api/accounts/{theirs}/members", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert {m["user_id"] for m in r.json()} == {them.user_id, owner.user_id}, "another venue's members changed"


async def test_changing_a_role_in_another_venue_answers_404(runtime: Runtime, client: httpx.AsyncClient) -> None:
    mine = await factories.venue(runtime)
    theirs = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=mine, role=Role.owner)
    them = await factories.person(runtime, venue_id=theirs, role=Role.viewer)

    r = await client.patch(f"/api/accounts/{theirs}/members/{them.user_id}", json={"role": "owner"}, headers=me.headers)
    assert_not_found(r, "changing a role in another venue")
    # Naming my own venue with their person's id does not reach them either.
    r = await client.patch(f"/api/accounts/{mine}/members/{them.user_id}", json={"role": "owner"}, headers=me.headers)
    assert_not_found(r, "changing the role of a person who is not in my venue")

    r = await client.get(f"/api/accounts/{theirs}", headers=them.headers)
    assert r.status_code == 200, r.text
    assert r.json()["your_role"] == "viewer", "a role in another venue was changed"


async def test_login_link_for_another_venues_member_answers_404_and_issues_nothing(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    mine = await factories.venue(runtime)
    theirs = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=mine, role=Role.owner)
    them = await factories.person(runtime, venue_id=theirs, role=Role.owner)

    r = await client.post(f"/api/accounts/{theirs}/members/{them.user_id}/login-link", headers=me.headers)
    assert_not_found(r, "issuing a login link in another venue")
    r = await client.post(f"/api/accounts/{mine}/members/{them.user_id}/login-link", headers=me.headers)
    assert_not_found(r, "issuing a login link, through my venue, for a person who is not in it")

    async with runtime.uow() as uow:
        links = await uow.session.scalar(select(func.count()).select_from(LoginLink))
    assert links == 0, "a login link was issued for another venue's person"
    assert not await factories.audit_entries(runtime, "login_link_issued"), "a refused login link was audited"


async def test_admin_cannot_get_a_login_link_for_someone_who_owns_another_venue(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    # A login link signs in as the person everywhere: an admin here must not become an owner there.
    crown = await factories.venue(runtime)
    anchor = await factories.venue(runtime)
    crown_admin = await factories.person(runtime, venue_id=crown, role=Role.admin)
    manager = await factories.person(runtime, venue_id=anchor, role=Role.owner)
    await factories.join(runtime, manager, crown, Role.editor)

    r = await client.post(f"/api/accounts/{crown}/members/{manager.user_id}/login-link", headers=crown_admin.headers)
    assert r.status_code == 403, f"an admin of one venue got a login link for another venue's owner: {r.text}"
    assert not await factories.audit_entries(runtime, "login_link_issued"), "a refused login link was audited"

    # An owner of both venues may.
    r = await client.post(f"/api/accounts/{anchor}/members/{manager.user_id}/login-link", headers=manager.headers)
    assert r.status_code == 201, r.text
    group_owner = await factories.person(runtime, venue_id=crown, role=Role.owner)
    await factories.join(runtime, group_owner, anchor, Role.owner)
    r = await client.post(f"/api/accounts/{crown}/members/{manager.user_id}/login-link", headers=group_owner.headers)
    assert r.status_code == 201, f"an owner of every venue the person is in could not issue a link: {r.text}"


async def test_another_venues_notifications_answer_404_whichever_way_the_venue_is_named(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    mine = await factories.venue(runtime)
    theirs = await factories.venue(runtime)
    await factories.notification(runtime, mine, title="Ours")
    await factories.notification(runtime, theirs, title="Their secret")
    me = await factories.person(runtime, venue_id=mine, role=Role.owner)

    r = await client.get("/api/notifications", headers={**me.headers, "X-Cheers-Account": str(theirs)})
    assert_not_found(r, "notifications of another venue named in X-Cheers-Account")
    r = await client.get(f"/api/notifications?account={theirs}", headers=me.headers)
    assert_not_found(r, "notifications of another venue named in ?account=")
    r = await client.post(
        "/api/notifications/read", json={"all": True}, headers={**me.headers, "X-Cheers-Account": str(theirs)}
    )
    assert_not_found(r, "marking another venue's notifications read")
    r = await client.get(f"/api/notifications/export?account={theirs}", headers=me.headers)
    assert_not_found(r, "exporting another venue's notifications")

    r = await client.get(f"/api/notifications?account={mine}", headers=me.headers)
    assert r.status_code == 200, r.text
    assert [n["title"] for n in r.json()["items"]] == ["Ours"], "the feed mixes in another venue's notifications"


async def test_another_venues_audit_log_answers_404(runtime: Runtime, client: httpx.AsyncClient) -> None:
    mine = await factories.venue(runtime)
    theirs = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=mine, role=Role.owner)

    r = await client.get("/api/audit", headers={**me.headers, "X-Cheers-Account": str(theirs)})
    assert_not_found(r, "reading another venue's audit log via X-Cheers-Account")
    r = await client.get(f"/api/audit?account={theirs}", headers=me.headers)
    assert_not_found(r, "reading another venue's audit log via ?account=")

    r = await client.get("/api/audit", headers=me.headers)
    assert r.status_code == 200, r.text
    assert r.json(), "my own venue's audit log is empty"
    assert all(e["subject_id"] != str(theirs) for e in r.json() if e["subject_type"] == "account"), (
        "my audit log shows another venue's entries"
    )


async def test_pub_group_manager_acts_in_both_venues_with_the_role_held_in_each(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    crown = await factories.venue(runtime, name="The Crown")
    anchor = await factories.venue(runtime, name="The Anchor")
    manager = await factories.person(runtime, venue_id=crown, role=Role.owner)
    await factories.join(runtime, manager, anchor, Role.editor)

    r = await client.get("/api/me", headers=manager.headers)
    assert r.status_code == 200, r.text
    assert {v["name"]: v["role"] for v in r.json()["venues"]} == {"The Crown": "owner", "The Anchor": "editor"}

    for venue_id, role in ((crown, "owner"), (anchor, "editor")):
        r = await client.get(f"/api/accounts/{venue_id}", headers=manager.headers)
        assert r.status_code == 200, r.text
        assert r.json()["your_role"] == role, f"wrong role reported in venue {venue_id}"

    r = await client.patch(f"/api/accounts/{crown}", json={"name": "The Crown & Sceptre"}, headers=manager.headers)
    assert r.status_code == 200, f"the owner could not rename their venue: {r.text}"
    r = await client.patch(f"/api/accounts/{anchor}", json={"name": "Renamed"}, headers=manager.headers)
    assert r.status_code == 403, f"an editor renamed a venue because they own another one: {r.text}"

    for venue_id in (crown, anchor):
        r = await client.get("/api/notifications", headers={**manager.headers, "X-Cheers-Account": str(venue_id)})
        assert r.status_code == 200, f"venue {venue_id}: {r.text}"


async def test_notifications_with_several_venues_and_none_named_asks_to_pick_one(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    crown = await factories.venue(runtime)
    anchor = await factories.venue(runtime)
    await factories.notification(runtime, crown, title="Crown news")
    await factories.notification(runtime, anchor, title="Anchor news")
    manager = await factories.person(runtime, venue_id=crown, role=Role.owner)
    await factories.join(runtime, manager, anchor, Role.viewer)

    r = await client.get("/api/notifications", headers=manager.headers)
    assert r.status_code == 422, f"with two venues the feed guessed one: {r.text}"
    assert r.headers["content-type"].startswith(PROBLEM), r.headers
    detail = r.json()["detail"]
    assert "X-Cheers-Account" in detail and "?account=" in detail, f"the error does not say how to pick: {detail}"

    r = await client.get("/api/notifications", headers={**manager.headers, "X-Cheers-Account": str(anchor)})
    assert r.status_code == 200, r.text
    assert [n["title"] for n in r.json()["items"]] == ["Anchor news"]
    r = await client.get(f"/api/notifications?account={crown}", headers=manager.headers)
    assert r.status_code == 200, r.text
    assert [n["title"] for n in r.json()["items"]] == ["Crown news"]


async def test_notifications_default_to_the_only_venue(runtime: Runtime, client: httpx.AsyncClient) -> None:
    mine = await factories.venue(runtime)
    other = await factories.venue(runtime)
    await factories.notification(runtime, mine, title="Mine")
    await factories.notification(runtime, other, title="Not mine")
    me = await factories.person(runtime, venue_id=mine, role=Role.viewer)

    r = await client.get("/api/notifications", headers=me.headers)
    assert r.status_code == 200, f"a one-venue person had to name their venue: {r.text}"
    assert [n["title"] for n in r.json()["items"]] == ["Mine"]


async def test_notifications_for_a_person_with_no_venue_ask_to_pick_one(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    await factories.venue(runtime)
    loner = await factories.person(runtime)
    r = await client.get("/api/notifications", headers=loner.headers)
    assert r.status_code == 422, r.text
    assert "X-Cheers-Account" in r.json()["detail"], r.text


async def test_a_venue_id_that_is_not_a_number_is_refused(runtime: Runtime, client: httpx.AsyncClient) -> None:
    mine = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=mine, role=Role.viewer)
    r = await client.get("/api/notifications", headers={**me.headers, "X-Cheers-Account": "the-crown"})
    assert r.status_code == 422, r.text
    assert "the-crown" in r.json()["detail"], f"the error does not quote the bad value: {r.text}"
