"""The planner's Team page: the venue's people and roles for everyone; invitations (the link shown once, pending
ones withdrawn), role changes and removals for admins, through core's own rules (admins manage editors and viewers,
owners everyone; a venue keeps an owner), hidden and refused (403) for others."""

from __future__ import annotations

import re

import httpx

from core.posts.times import format_local
from core.runtime import Runtime
from storage.models import Role
from tests import factories
from tests.planner.conftest import SignedIn, carry_cookies, sign_in

HTMX = {"HX-Request": "true"}
PAGE = "/planner/team"


def actions(html: str) -> list[str]:
    return re.findall(r'data-action="([a-z_-]+)"', html)


def invitation_link(html: str) -> str:
    found = re.search(r'id="invite-link"[^>]*value="([^"]+)"', html)
    assert found, "the new invitation's link is not on the page"
    return found.group(1)


async def invite(signed_in: SignedIn, email: str, role: str = "editor") -> httpx.Response:
    return await signed_in.post_form(f"{PAGE}/invitations", {"email": email, "role": role})


async def test_everyone_sees_the_people_and_roles_but_only_admins_the_forms(
    signed_in: SignedIn, runtime: Runtime
) -> None:
    viewer = await factories.person(runtime, venue_id=signed_in.venue_id, role=Role.viewer, name="Vic Viewer")
    owner_page = await signed_in.get(PAGE)
    assert owner_page.status_code == 200, owner_page.text
    assert 'href="/planner/team" aria-current="page"' in owner_page.text, "Team is not in the nav"
    assert "Olive Owner" in owner_page.text and "Vic Viewer" in owner_page.text, "a member is missing"
    assert "invite" in actions(owner_page.text) and "Invitations waiting" in owner_page.text
    # "Since" follows the injected clock (the test's frozen day), not the machine's date.
    since = format_local(runtime.clock.now(), "Europe/London", now=runtime.clock.now())
    assert f"Since {since}" in owner_page.text, f"membership dates do not follow the clock (wanted Since {since})"
    async with factories.app_client(runtime) as client:
        browser = await sign_in(client, runtime, viewer)
        page = await client.get(PAGE)
        assert page.status_code == 200 and "Olive Owner" in page.text and "owner" in page.text, page.text
        assert actions(page.text) == [] and "Invite someone" not in page.text, actions(page.text)
        refused = await client.post(
            f"{PAGE}/invitations", data={"csrf_token": browser.csrf, "email": "x@example.com", "role": "viewer"}
        )
        assert refused.status_code == 403, refused.text
        role = await client.post(
            f"{PAGE}/members/{signed_in.person.user_id}/role", data={"csrf_token": browser.csrf, "role": "viewer"}
        )
        assert role.status_code == 403, role.text
    assert await factories.audit_entries(runtime, "member_invited") == [], "a viewer's invitation was made"


async def test_an_invitation_shows_its_link_once_and_the_link_offers_the_venue(signed_in: SignedIn) -> None:
    made = await invite(signed_in, "Sam@Example.com", "editor")
    assert made.status_code == 200, made.text
    link = invitation_link(made.text)
    assert link.startswith(f"{signed_in.runtime.settings.cheers_public_url}/invite/"), link
    assert "CheersAI does not e-mail invitations" in made.text, "the page does not say to hand the link over"
    pending = made.text.split('id="pending-title"')[1]
    assert "sam@example.com" in pending and "editor" in pending, "the invitation is not listed as waiting"
    again = await signed_in.get(PAGE)
    assert link not in again.text, "the link is shown again after the first answer"
    offer = await signed_in.get(link.removeprefix(signed_in.runtime.settings.cheers_public_url))
    assert "The Crown" in offer.text and "sam@example.com" in offer.text, offer.text
    [entry] = await factories.audit_entries(signed_in.runtime, "member_invited")
    assert (entry.actor_user_id, entry.details.get("role")) == (signed_in.person.user_id, "editor")


async def test_a_refused_invitation_explains_and_keeps_what_was_typed(signed_in: SignedIn, runtime: Runtime) -> None:
    bad = await invite(signed_in, "not an address")
    assert bad.status_code == 422 and 'role="alert"' in bad.text, bad.text
    assert "is not an e-mail address" in bad.text and 'value="not an address"' in bad.text, "the input was lost"
    await factories.person(runtime, venue_id=signed_in.venue_id, role=Role.editor, email="ed@example.com")
    member = await invite(signed_in, "ed@example.com")
    assert member.status_code == 409 and "already a member" in member.text, member.text
    assert await factories.audit_entries(runtime, "member_invited") == []


async def test_an_admin_manages_editors_and_viewers_but_not_owners(signed_in: SignedIn, runtime: Runtime) -> None:
    admin = await factories.person(runtime, venue_id=signed_in.venue_id, role=Role.admin, name="Ada Admin")
    async with factories.app_client(runtime) as client:
        browser = await sign_in(client, runtime, admin)
        page = await client.get(PAGE)
        roles = re.findall(r'name="role" value="([a-z]+)"', page.text)
        assert roles == ["viewer", "editor"], f"an admin is offered to invite as {roles}"
        owner_row = page.text.split(f'id="member-{signed_in.person.user_id}"')[1].split("</li>")[0]
        assert actions(owner_row) == [], "an admin is offered to change or remove an owner"
        refused = await client.post(
            f"{PAGE}/invitations", data={"csrf_token": browser.csrf, "email": "boss@example.com", "role": "owner"}
        )
        said = "Only an owner can invite someone as an owner."  # a sentence, and no remedy core did not name
        assert refused.status_code == 403 and said in refused.text and "None" not in refused.text, refused.text
        made = await client.post(
            f"{PAGE}/invitations", data={"csrf_token": browser.csrf, "email": "new@example.com", "role": "viewer"}
        )
        assert made.status_code == 200 and "/invite/" in made.text, made.text


async def test_withdrawing_an_invitation_ends_its_link(signed_in: SignedIn) -> None:
    link = invitation_link((await invite(signed_in, "late@example.com")).text)
    [entry] = await factories.audit_entries(signed_in.runtime, "member_invited")
    withdrawn = await signed_in.post_form(f"{PAGE}/invitations/{entry.subject_id}/revoke")
    assert (withdrawn.status_code, withdrawn.headers["location"]) == (303, PAGE), withdrawn.text
    carry_cookies(signed_in.client, withdrawn)
    page = await signed_in.get(PAGE)
    assert "Invitation withdrawn" in page.text and "late@example.com" not in page.text, "still listed as waiting"
    offer = await signed_in.get(link.removeprefix(signed_in.runtime.settings.cheers_public_url))
    assert offer.status_code == 410 and "withdrawn" in offer.text, offer.text
    twice = await signed_in.post_form(f"{PAGE}/invitations/{entry.subject_id}/revoke")
    assert twice.status_code == 404, twice.text


async def test_role_changes_are_audited_and_the_last_owner_stays(signed_in: SignedIn, runtime: Runtime) -> None:
    editor = await factories.person(runtime, venue_id=signed_in.venue_id, role=Role.editor, name="Eddie")
    changed = await signed_in.post_form(f"{PAGE}/members/{editor.user_id}/role", {"role": "viewer"}, headers=HTMX)
    assert "Eddie is now viewer here." in changed.text and "toast-ok" in changed.text, changed.text
    page = await signed_in.get(PAGE)
    assert 'id="member-' + str(editor.user_id) + '" data-role="viewer"' in page.text, "the new role is not shown"
    [entry] = await factories.audit_entries(runtime, "role_changed")
    assert (entry.details.get("before"), entry.details.get("after")) == ("editor", "viewer")
    me = signed_in.person.user_id
    last = await signed_in.post_form(f"{PAGE}/members/{me}/role", {"role": "editor"}, headers=HTMX)
    assert "toast-error" in last.text and "at least one owner" in last.text, last.text


async def test_removing_someone_asks_first_and_ends_their_access_here(signed_in: SignedIn, runtime: Runtime) -> None:
    editor = await factories.person(runtime, venue_id=signed_in.venue_id, role=Role.editor, name="Eddie")
    confirm = await signed_in.get(f"{PAGE}/members/{editor.user_id}/remove")
    assert confirm.status_code == 200 and "Remove Eddie from The Crown?" in confirm.text, confirm.text
    gone = await signed_in.post_form(f"{PAGE}/members/{editor.user_id}/remove", headers=HTMX)
    assert "Eddie no longer has access to The Crown." in gone.text, gone.text
    assert "Eddie" not in (await signed_in.get(PAGE)).text.split('id="people-title"')[1].split("</section>")[0]
    [entry] = await factories.audit_entries(runtime, "member_removed")
    assert entry.actor_user_id == signed_in.person.user_id
    stranger = await factories.person(runtime, name="Stranger")
    assert (await signed_in.get(f"{PAGE}/members/{stranger.user_id}/remove")).status_code == 404
    assert (await signed_in.post_form(f"{PAGE}/members/{stranger.user_id}/remove")).status_code == 404
