"""Roles in a venue: viewer < editor < admin < owner, and who may grant what."""

from __future__ import annotations

from typing import Any

import httpx

from core.runtime import Runtime
from storage.models import Role
from tests import factories

PROBLEM = "application/problem+json"


def assert_forbidden(r: httpx.Response, needed: str) -> None:
    assert r.status_code == 403, f"expected 403, got {r.status_code} {r.text}"
    assert r.headers["content-type"].startswith(PROBLEM), f"403 is not problem+json: {r.headers}"
    assert needed in r.json()["detail"], f"the 403 does not name the {needed} role: {r.text}"


async def members_by_id(client: httpx.AsyncClient, venue_id: int, who: factories.Person) -> dict[int, str]:
    r = await client.get(f"/api/accounts/{venue_id}/members", headers=who.headers)
    assert r.status_code == 200, r.text
    return {m["user_id"]: m["role"] for m in r.json()}


async def test_viewer_can_read_but_not_change_the_venue(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime, name="The Crown")
    viewer = await factories.person(runtime, venue_id=venue, role=Role.viewer)

    r = await client.get(f"/api/accounts/{venue}", headers=viewer.headers)
    assert r.status_code == 200, r.text
    assert r.json()["your_role"] == "viewer"
    r = await client.get(f"/api/accounts/{venue}/members", headers=viewer.headers)
    assert r.status_code == 200, r.text

    r = await client.patch(f"/api/accounts/{venue}", json={"name": "Renamed"}, headers=viewer.headers)
    assert_forbidden(r, "admin")
    assert "viewer" in r.json()["detail"], f"the 403 does not say what role the caller has: {r.text}"
    r = await client.get(f"/api/accounts/{venue}", headers=viewer.headers)
    assert r.json()["name"] == "The Crown", "a refused rename still renamed the venue"


async def invite(client: httpx.AsyncClient, venue: int, by: factories.Person, email: str, role: str) -> httpx.Response:
    return await client.post(
        f"/api/accounts/{venue}/invitations", json={"email": email, "role": role}, headers=by.headers
    )


async def accept(client: httpx.AsyncClient, invitation: httpx.Response, who: factories.Person) -> None:
    """`who` accepts the invitation through the API, as a person with a token would."""
    assert invitation.status_code == 201, invitation.text
    token = invitation.json()["url"].rsplit("/", 1)[1]
    r = await client.post(f"/api/invitations/{token}/accept", headers=who.headers)
    assert r.status_code == 200, r.text


async def test_editor_cannot_invite_people(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    editor = await factories.person(runtime, venue_id=venue, role=Role.editor)

    assert_forbidden(await invite(client, venue, editor, "new@example.com", "viewer"), "admin")
    assert not await factories.audit_entries(runtime, "member_invited"), "a refused invitation was created"


async def test_editor_cannot_read_the_audit_log(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    editor = await factories.person(runtime, venue_id=venue, role=Role.editor)
    assert_forbidden(await client.get("/api/audit", headers=editor.headers), "admin")


async def test_admin_can_invite_editors_and_viewers(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    admin = await factories.person(runtime, venue_id=venue, role=Role.admin)
    existing = await factories.person(runtime, email="existing@example.com")
    sam = await factories.person(runtime, email="sam@example.com")

    await accept(client, await invite(client, venue, admin, "existing@example.com", "editor"), existing)
    await accept(client, await invite(client, venue, admin, "sam@example.com", "viewer"), sam)

    roles = await members_by_id(client, venue, admin)
    assert roles[existing.user_id] == "editor" and roles[sam.user_id] == "viewer", roles


async def test_admin_cannot_grant_admin_or_owner(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    admin = await factories.person(runtime, venue_id=venue, role=Role.admin)
    editor = await factories.person(runtime, venue_id=venue, role=Role.editor)

    for role in ("admin", "owner"):
        r = await invite(client, venue, admin, "newcomer@example.com", role)
        assert_forbidden(r, "owner")
        assert r.json()["detail"] == f"only an owner can invite someone as an {role}", r.text
        r = await client.patch(
            f"/api/accounts/{venue}/members/{editor.user_id}", json={"role": role}, headers=admin.headers
        )
        assert_forbidden(r, "owner")
        assert r.json()["detail"] == f"only an owner can grant the {role} role", r.text

    assert not await factories.audit_entries(runtime, "member_invited"), "a refused invitation was created"
    roles = await members_by_id(client, venue, admin)
    assert roles[editor.user_id] == "editor", "a refused promotion still changed the role"


async def test_admin_cannot_demote_or_remove_an_owner(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    await factories.person(runtime, venue_id=venue, role=Role.owner)
    admin = await factories.person(runtime, venue_id=venue, role=Role.admin)

    r = await client.patch(
        f"/api/accounts/{venue}/members/{owner.user_id}", json={"role": "viewer"}, headers=admin.headers
    )
    assert r.status_code == 403, f"an admin demoted an owner: {r.text}"
    # The refusal names what was tried, not "granting" a role nobody asked for.
    assert r.json()["detail"] == "only an owner can change an owner's role", r.text
    r = await client.delete(f"/api/accounts/{venue}/members/{owner.user_id}", headers=admin.headers)
    assert r.status_code == 403, f"an admin removed an owner: {r.text}"
    assert r.json()["detail"] == "only an owner can remove an owner", r.text
    assert (await members_by_id(client, venue, admin))[owner.user_id] == "owner"


async def test_admin_cannot_demote_or_remove_another_admin(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    await factories.person(runtime, venue_id=venue, role=Role.owner)
    admin = await factories.person(runtime, venue_id=venue, role=Role.admin)
    other_admin = await factories.person(runtime, venue_id=venue, role=Role.admin)

    r = await client.patch(
        f"/api/accounts/{venue}/members/{other_admin.user_id}", json={"role": "editor"}, headers=admin.headers
    )
    assert r.status_code == 403 and r.json()["detail"] == "only an owner can change an admin's role", r.text
    r = await client.delete(f"/api/accounts/{venue}/members/{other_admin.user_id}", headers=admin.headers)
    assert r.status_code == 403 and r.json()["detail"] == "only an owner can remove an admin", r.text


async def test_owner_can_grant_admin_and_owner(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    editor = await factories.person(runtime, venue_id=venue, role=Role.editor)
    newcomer = await factories.person(runtime, email="newcomer@example.com")

    await accept(client, await invite(client, venue, owner, "newcomer@example.com", "admin"), newcomer)
    r = await client.patch(
        f"/api/accounts/{venue}/members/{editor.user_id}", json={"role": "owner"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "owner"

    roles = await members_by_id(client, venue, owner)
    assert roles[newcomer.user_id] == "admin" and roles[editor.user_id] == "owner", roles
    r = await client.patch(f"/api/accounts/{venue}", json={"name": "Promoted"}, headers=newcomer.headers)
    assert r.status_code == 200, f"the new admin cannot act as admin: {r.text}"


async def test_the_last_owner_cannot_be_demoted_or_removed(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)

    r = await client.patch(
        f"/api/accounts/{venue}/members/{owner.user_id}", json={"role": "admin"}, headers=owner.headers
    )
    assert r.status_code == 409, f"the last owner stepped down: {r.text}"
    assert r.headers["content-type"].startswith(PROBLEM), r.headers
    assert "owner" in r.json()["detail"], r.text
    r = await client.delete(f"/api/accounts/{venue}/members/{owner.user_id}", headers=owner.headers)
    assert r.status_code == 409, f"the last owner was removed: {r.text}"
    assert (await members_by_id(client, venue, owner))[owner.user_id] == "owner"


async def test_an_owner_can_step_down_once_there_is_another_owner(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    successor = await factories.person(runtime, venue_id=venue, role=Role.owner)

    r = await client.patch(
        f"/api/accounts/{venue}/members/{owner.user_id}", json={"role": "admin"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    # Now the successor is the last owner.
    r = await client.delete(f"/api/accounts/{venue}/members/{successor.user_id}", headers=successor.headers)
    assert r.status_code == 409, f"the last remaining owner left the venue: {r.text}"


async def test_a_new_role_applies_at_the_next_request_without_ending_the_session(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue = await factories.venue(runtime)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    editor = await factories.person(runtime, venue_id=venue, role=Role.editor)
    browser = await factories.login(client, runtime, editor)
    r = await client.post("/api/tokens", json={"name": "probe"}, headers=browser.headers)
    assert r.status_code == 201, f"an editor could write before the change: {r.text}"

    r = await client.patch(
        f"/api/accounts/{venue}/members/{editor.user_id}", json={"role": "viewer"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text

    # Roles are read on every request: the same session and token now act as a viewer.
    r = await client.get(f"/api/accounts/{venue}", headers=browser.cookie)
    assert r.status_code == 200, f"the demoted person's session ended: {r.text}"
    assert r.json()["your_role"] == "viewer", r.text
    r = await client.get(f"/api/accounts/{venue}", headers=editor.headers)
    assert r.json()["your_role"] == "viewer", r.text
    assert_forbidden(await client.patch(f"/api/accounts/{venue}", json={"name": "x"}, headers=browser.headers), "admin")


async def test_removing_a_member_ends_their_access_to_the_venue_at_once(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue = await factories.venue(runtime)
    admin = await factories.person(runtime, venue_id=venue, role=Role.admin)
    editor = await factories.person(runtime, venue_id=venue, role=Role.editor)
    browser = await factories.login(client, runtime, editor)

    r = await client.delete(f"/api/accounts/{venue}/members/{editor.user_id}", headers=admin.headers)
    assert r.status_code == 204, r.text
    r = await client.get(f"/api/accounts/{venue}", headers=browser.cookie)
    assert r.status_code == 404, f"a removed member's session can still see the venue: {r.text}"
    r = await client.get(f"/api/accounts/{venue}", headers=editor.headers)
    assert r.status_code == 404, f"a removed member's token can still see the venue: {r.text}"


async def test_changes_in_one_venue_leave_sessions_and_tokens_in_other_venues_working(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    crown = await factories.venue(runtime, name="The Crown")
    anchor = await factories.venue(runtime, name="The Anchor")
    crown_owner = await factories.person(runtime, venue_id=crown, role=Role.owner)
    manager = await factories.person(runtime, venue_id=crown, role=Role.admin)
    await factories.join(runtime, manager, anchor, Role.admin)
    browser = await factories.login(client, runtime, manager)

    async def anchor_still_works(after: str) -> None:
        for how, headers in (("session", browser.headers), ("token", manager.headers)):
            r = await client.patch(f"/api/accounts/{anchor}", json={"name": "The Anchor"}, headers=headers)
            assert r.status_code == 200, f"after {after}, the {how} stopped working in the other venue: {r.text}"
            assert r.json()["your_role"] == "admin", r.text

    r = await client.patch(
        f"/api/accounts/{crown}/members/{manager.user_id}", json={"role": "viewer"}, headers=crown_owner.headers
    )
    assert r.status_code == 200, r.text
    await anchor_still_works("a demotion in the Crown")
    r = await client.get(f"/api/accounts/{crown}", headers=browser.cookie)
    assert r.json()["your_role"] == "viewer", f"the new role does not apply in the Crown: {r.text}"

    r = await client.delete(f"/api/accounts/{crown}/members/{manager.user_id}", headers=crown_owner.headers)
    assert r.status_code == 204, r.text
    await anchor_still_works("a removal from the Crown")
    assert (await client.get(f"/api/accounts/{crown}", headers=browser.cookie)).status_code == 404
    # One venue left: the token finds it without naming it again.
    r = await client.get("/api/notifications", headers=manager.headers)
    assert r.status_code == 200, f"the token needs a venue named after the removal: {r.text}"


async def test_role_change_is_audited_with_before_and_after(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    editor = await factories.person(runtime, venue_id=venue, role=Role.editor)
    await factories.login(client, runtime, editor)

    r = await client.patch(
        f"/api/accounts/{venue}/members/{editor.user_id}", json={"role": "admin"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text

    r = await client.get("/api/audit", headers=owner.headers)
    assert r.status_code == 200, r.text
    changes: list[dict[str, Any]] = [e for e in r.json() if e["action"] == "role_changed"]
    assert len(changes) == 1, f"expected one role_changed entry, got {changes}"
    entry = changes[0]
    assert entry["actor_user_id"] == owner.user_id, entry
    assert entry["subject_type"] == "user" and entry["subject_id"] == str(editor.user_id), entry
    assert entry["details"]["before"] == "editor" and entry["details"]["after"] == "admin", entry
    assert entry["staff_override"] is False, entry


async def test_setting_the_role_a_person_already_has_changes_nothing(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue = await factories.venue(runtime)
    admin = await factories.person(runtime, venue_id=venue, role=Role.admin)
    editor = await factories.person(runtime, venue_id=venue, role=Role.editor)
    browser = await factories.login(client, runtime, editor)

    r = await client.patch(
        f"/api/accounts/{venue}/members/{editor.user_id}", json={"role": "editor"}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    r = await client.get("/api/me", headers=browser.cookie)
    assert r.status_code == 200, f"a no-op role change ended the session: {r.text}"
    assert not await factories.audit_entries(runtime, "role_changed"), "a no-op role change was audited"


async def test_an_unknown_role_is_refused(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    editor = await factories.person(runtime, venue_id=venue, role=Role.editor)
    r = await client.patch(
        f"/api/accounts/{venue}/members/{editor.user_id}", json={"role": "god"}, headers=owner.headers
    )
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers
    assert (await members_by_id(client, venue, owner))[editor.user_id] == "editor"
