"""Joining a venue: only by an invitation the invited person accepts themselves, once, before it expires."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from core.access.invitations import INVITATION_TTL
from core.clock import FrozenClock
from core.runtime import Runtime
from core.settings import Settings
from storage.models import Invitation, Role, User
from tests import factories
from tests.test_cli import acheers, as_json, succeeded

PROBLEM = "application/problem+json"
OUR_PAGE = {"Origin": "http://testserver.local"}


async def invite(
    client: httpx.AsyncClient, venue: int, by: factories.Person, email: str, role: str = "editor"
) -> dict[str, Any]:
    r = await client.post(f"/api/accounts/{venue}/invitations", json={"email": email, "role": role}, headers=by.headers)
    assert r.status_code == 201, f"inviting {email} failed: {r.status_code} {r.text}"
    body: dict[str, Any] = r.json()
    return body


def path_of(invitation: dict[str, Any]) -> str:
    return urlsplit(str(invitation["url"])).path


async def members(client: httpx.AsyncClient, venue: int, who: factories.Person) -> dict[int, str]:
    r = await client.get(f"/api/accounts/{venue}/members", headers=who.headers)
    assert r.status_code == 200, r.text
    return {m["user_id"]: m["role"] for m in r.json()}


async def count(runtime: Runtime, model: type[User] | type[Invitation]) -> int:
    async with runtime.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


def assert_page(r: httpx.Response, status: int, *says: str) -> None:
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text}"
    assert r.headers["content-type"].startswith("text/html"), f"not a plain page: {r.headers}"
    for words in says:
        assert words in r.text, f"the page does not say {words!r}: {r.text}"


def assert_no_cookies(r: httpx.Response) -> None:
    assert not r.headers.get_list("set-cookie"), "a refused invitation set cookies"


async def venue_with_owner(runtime: Runtime, name: str = "The Crown") -> tuple[int, factories.Person]:
    venue = await factories.venue(runtime, name=name)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner, name="Olive Owner")
    return venue, owner


# --- the attack this replaces ---


async def test_anyone_can_no_longer_pull_an_existing_person_into_their_own_venue(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    home = await factories.venue(runtime, name="The Victim's Local")
    victim = await factories.person(runtime, venue_id=home, role=Role.owner, name="Vic Tim", email="vic@example.com")
    attacker = await factories.person(runtime, name="Mallory")

    r = await client.post(
        "/api/accounts", json={"name": "Trap Bar", "timezone": "Europe/London"}, headers=attacker.headers
    )
    assert r.status_code == 201, r.text
    trap = r.json()["id"]
    r = await client.post(
        f"/api/accounts/{trap}/members", json={"user_id": victim.user_id, "role": "viewer"}, headers=attacker.headers
    )
    assert r.status_code == 410, f"adding a person by id still works: {r.status_code} {r.text}"
    assert r.headers["content-type"].startswith(PROBLEM), r.headers
    assert "invitation" in r.json()["detail"] and "/invitations" in r.json()["remedy"], r.text
    assert "vic@example.com" not in r.text and "Vic Tim" not in r.text, f"the answer leaks the person: {r.text}"

    assert victim.user_id not in await members(client, trap, attacker), "the victim was pulled into the venue"
    # The victim's token still finds their only venue by itself (no "you belong to several venues").
    r = await client.get("/api/notifications", headers=victim.headers)
    assert r.status_code == 200, f"the victim's token broke: {r.text}"


# --- creating invitations ---


async def test_inviting_answers_the_same_for_a_known_and_an_unknown_address(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue, owner = await venue_with_owner(runtime)
    await factories.person(runtime, name="Kim Known", email="known@example.com")

    known = await invite(client, venue, owner, "known@example.com")
    unknown = await invite(client, venue, owner, "nobody@example.com")

    assert set(known) == set(unknown) == {"id", "email", "role", "expires_at", "url"}, (known, unknown)
    assert "Kim Known" not in str(known), f"the answer names the person: {known}"
    for answer, email in ((known, "known@example.com"), (unknown, "nobody@example.com")):
        assert answer["email"] == email and answer["role"] == "editor", answer
        assert answer["expires_at"] == known["expires_at"], "the expiry differs between the two"
        assert answer["url"].startswith("http://testserver.local/invite/"), answer
    assert len(path_of(known)) == len(path_of(unknown)), "the links differ in shape"
    entries = await factories.audit_entries(runtime, "member_invited")
    assert [(e.account_id, e.details["email"]) for e in entries] == [
        (venue, "known@example.com"),
        (venue, "nobody@example.com"),
    ], "creating an invitation is not in the venue's audit log"


async def test_the_invitation_lasts_seven_days_and_only_its_hash_is_stored(
    runtime: Runtime, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    venue, owner = await venue_with_owner(runtime)
    invitation = await invite(client, venue, owner, "Sam@Example.com ")
    assert invitation["email"] == "sam@example.com", "the address is not normalised"
    token = path_of(invitation).rsplit("/", 1)[1]
    async with runtime.uow() as uow:
        row = await uow.session.get(Invitation, invitation["id"])
        assert row is not None
        assert token not in row.token_hash, "the raw token is stored"
        assert row.expires_at == clock.now() + INVITATION_TTL == clock.now() + timedelta(days=7), row.expires_at

    r = await client.get(f"/api/accounts/{venue}/invitations", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert [(i["id"], i["email"]) for i in r.json()] == [(invitation["id"], "sam@example.com")], r.json()
    assert "url" not in r.json()[0], "the list shows links it cannot have (only hashes are kept)"


async def test_inviting_someone_already_in_the_venue_says_change_their_role(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue, owner = await venue_with_owner(runtime)
    await factories.person(runtime, venue_id=venue, role=Role.viewer, email="already@example.com")
    r = await client.post(
        f"/api/accounts/{venue}/invitations",
        json={"email": "already@example.com", "role": "admin"},
        headers=owner.headers,
    )
    assert r.status_code == 409, r.text
    assert "already a member" in r.json()["detail"] and "role" in r.json()["remedy"], r.text


async def test_a_new_invitation_to_the_same_address_replaces_the_old_link(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue, owner = await venue_with_owner(runtime)
    first = await invite(client, venue, owner, "sam@example.com", "viewer")
    second = await invite(client, venue, owner, "sam@example.com", "editor")

    assert_page(await client.get(path_of(first)), 410, "withdrawn")
    r = await client.get(f"/api/accounts/{venue}/invitations", headers=owner.headers)
    assert [i["id"] for i in r.json()] == [second["id"]], r.json()


async def test_who_may_invite_follows_the_granting_rules(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue, owner = await venue_with_owner(runtime)
    admin = await factories.person(runtime, venue_id=venue, role=Role.admin)
    editor = await factories.person(runtime, venue_id=venue, role=Role.editor)

    r = await client.post(
        f"/api/accounts/{venue}/invitations", json={"email": "a@example.com", "role": "viewer"}, headers=editor.headers
    )
    assert r.status_code == 403 and "admin" in r.json()["detail"], r.text
    for role in ("admin", "owner"):
        r = await client.post(
            f"/api/accounts/{venue}/invitations", json={"email": "a@example.com", "role": role}, headers=admin.headers
        )
        assert r.status_code == 403, r.text
        assert r.json()["detail"] == f"only an owner can invite someone as an {role}", r.text
    await invite(client, venue, admin, "a@example.com", "editor")
    await invite(client, venue, owner, "b@example.com", "owner")

    # An admin cannot withdraw an owner's offer either, but can withdraw an editor's.
    pending = {
        i["email"]: i["id"]
        for i in (await client.get(f"/api/accounts/{venue}/invitations", headers=admin.headers)).json()
    }
    r = await client.delete(f"/api/accounts/{venue}/invitations/{pending['b@example.com']}", headers=admin.headers)
    assert r.status_code == 403 and r.json()["detail"] == "only an owner can withdraw an invitation to join as an owner"
    r = await client.delete(f"/api/accounts/{venue}/invitations/{pending['a@example.com']}", headers=admin.headers)
    assert r.status_code == 204, r.text


async def test_another_venues_invitations_answer_404(runtime: Runtime, client: httpx.AsyncClient) -> None:
    mine, me = await venue_with_owner(runtime)
    theirs, them = await venue_with_owner(runtime, "The Other Arms")
    theirs_invitation = await invite(client, theirs, them, "guest@example.com")

    r = await client.post(
        f"/api/accounts/{theirs}/invitations", json={"email": "me@example.com", "role": "owner"}, headers=me.headers
    )
    assert r.status_code == 404, f"invited into another venue: {r.text}"
    assert (await client.get(f"/api/accounts/{theirs}/invitations", headers=me.headers)).status_code == 404
    r = await client.delete(f"/api/accounts/{mine}/invitations/{theirs_invitation['id']}", headers=me.headers)
    assert r.status_code == 404, f"withdrew another venue's invitation through mine: {r.text}"
    assert_page(await client.get(path_of(theirs_invitation)), 200, "The Other Arms")


# --- accepting in the browser ---


async def test_a_signed_in_person_accepts_and_joins_with_the_invited_role(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue, owner = await venue_with_owner(runtime)
    home = await factories.venue(runtime, name="The Anchor")
    sam = await factories.person(runtime, venue_id=home, role=Role.owner, name="Sam", email="sam@example.com")
    browser = await factories.login(client, runtime, sam)
    invitation = await invite(client, venue, owner, "sam@example.com", "editor")

    r = await client.get(path_of(invitation), headers=browser.cookie)
    assert_page(r, 200, "The Crown", "editor", "Olive Owner", "<button")
    r = await client.post(path_of(invitation), headers={**browser.cookie, **OUR_PAGE})
    assert_page(r, 200, "You joined", "The Crown", "editor")
    assert_no_cookies(r)

    assert (await members(client, venue, owner))[sam.user_id] == "editor"
    r = await client.get("/api/me", headers=browser.cookie)
    assert {v["name"]: v["role"] for v in r.json()["venues"]} == {"The Crown": "editor", "The Anchor": "owner"}
    accepted = await factories.audit_entries(runtime, "invitation_accepted")
    assert [(e.account_id, e.actor_user_id, e.details["role"]) for e in accepted] == [(venue, sam.user_id, "editor")]
    r = await client.get("/api/audit", headers=owner.headers)
    assert {"member_invited", "invitation_accepted"} <= {e["action"] for e in r.json()}, r.json()


async def test_a_new_person_gives_their_name_joins_and_is_signed_in(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue, owner = await venue_with_owner(runtime)
    invitation = await invite(client, venue, owner, "newbie@example.com", "viewer")
    people = await count(runtime, User)

    assert_page(await client.get(path_of(invitation)), 200, 'name="name"', "Sign in first")
    r = await client.post(path_of(invitation), headers=OUR_PAGE, data={"name": "  "})
    assert_page(r, 422, "tell us your name")
    assert_no_cookies(r)
    assert await count(runtime, User) == people, "a nameless person was created"

    r = await client.post(path_of(invitation), headers=OUR_PAGE, data={"name": "Nia Newbie"})
    assert_page(r, 200, "You joined", "The Crown", "viewer")
    cookies = factories.set_cookies(r)
    session = cookies["cheers_session"]["cheers_session"]
    assert session["httponly"], "the new session cookie is readable by scripts"
    client.cookies.clear()
    r = await client.get("/api/me", headers={"Cookie": f"cheers_session={session.value}"})
    assert r.status_code == 200, f"the new person is not signed in: {r.text}"
    me = r.json()
    assert (me["name"], me["email"]) == ("Nia Newbie", "newbie@example.com"), me
    assert [(v["account_id"], v["role"]) for v in me["venues"]] == [(venue, "viewer")], me


async def test_an_address_with_a_sign_in_is_told_to_sign_in_first(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue, owner = await venue_with_owner(runtime)
    sam = await factories.person(runtime, email="sam@example.com")
    invitation = await invite(client, venue, owner, "sam@example.com")
    people = await count(runtime, User)

    r = await client.post(path_of(invitation), headers=OUR_PAGE, data={"name": "Impostor"})
    assert_page(r, 401, "already has a CheersAI sign-in", "sign in first", "open this invitation link again")
    assert_no_cookies(r)
    assert await count(runtime, User) == people, "a second person with the same address was created"

    # Signed in, the same link still works for them.
    browser = await factories.login(client, runtime, sam)
    r = await client.post(path_of(invitation), headers={**browser.cookie, **OUR_PAGE})
    assert_page(r, 200, "You joined")


async def test_the_wrong_signed_in_person_is_refused_plainly(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue, owner = await venue_with_owner(runtime)
    other = await factories.person(runtime, email="c@d.example")
    browser = await factories.login(client, runtime, other)
    invitation = await invite(client, venue, owner, "a@b.example")

    says = "this invitation is for a@b.example; you are signed in as c@d.example"
    r = await client.get(path_of(invitation), headers=browser.cookie)
    assert_page(r, 200, says.capitalize())
    assert "<button" not in r.text, "the page offers a button that can only be refused"
    r = await client.post(path_of(invitation), headers={**browser.cookie, **OUR_PAGE})
    assert_page(r, 403, says)
    assert other.user_id not in await members(client, venue, owner), "the wrong person joined"
    # Still usable by the right person.
    assert_page(await client.post(path_of(invitation), headers=OUR_PAGE, data={"name": "A B"}), 200, "You joined")


async def test_a_member_opening_an_invitation_to_their_own_venue_keeps_their_role(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue, owner = await venue_with_owner(runtime)
    sam = await factories.person(runtime, email="sam@example.com")
    invitation = await invite(client, venue, owner, "sam@example.com", "viewer")
    await factories.join(runtime, sam, venue, Role.admin)  # joined some other way meanwhile
    browser = await factories.login(client, runtime, sam)

    r = await client.post(path_of(invitation), headers={**browser.cookie, **OUR_PAGE})
    assert_page(r, 409, "you already belong to The Crown as admin", "another role")
    assert (await members(client, venue, owner))[sam.user_id] == "admin", "the invitation changed an existing role"


async def test_an_expired_invitation_says_so_and_what_to_do(
    runtime: Runtime, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    venue, owner = await venue_with_owner(runtime)
    invitation = await invite(client, venue, owner, "late@example.com")

    clock.advance(days=7, minutes=-1)
    assert_page(await client.get(path_of(invitation)), 200, "Join The Crown")
    clock.advance(minutes=2)
    for r in (
        await client.get(path_of(invitation)),
        await client.post(path_of(invitation), headers=OUR_PAGE, data={"name": "L"}),
    ):
        assert_page(r, 410, "expired", "ask the person who invited you for a new invitation")
        assert_no_cookies(r)
    assert await factories.audit_entries(runtime, "invitation_accepted") == [], "an expired invitation was accepted"
    r = await client.get(f"/api/accounts/{venue}/invitations", headers=owner.headers)
    assert r.json() == [], "an expired invitation is still listed as pending"


async def test_an_invitation_works_once(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue, owner = await venue_with_owner(runtime)
    invitation = await invite(client, venue, owner, "once@example.com")
    assert_page(await client.post(path_of(invitation), headers=OUR_PAGE, data={"name": "First"}), 200, "You joined")

    client.cookies.clear()
    r = await client.post(path_of(invitation), headers=OUR_PAGE, data={"name": "Second"})
    assert_page(r, 410, "already been used", "new invitation")
    assert_no_cookies(r)
    assert_page(await client.get(path_of(invitation)), 410, "already been used")
    assert len(await members(client, venue, owner)) == 2, "the link was used twice"


async def test_a_withdrawn_invitation_says_so(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue, owner = await venue_with_owner(runtime)
    invitation = await invite(client, venue, owner, "gone@example.com")
    r = await client.delete(f"/api/accounts/{venue}/invitations/{invitation['id']}", headers=owner.headers)
    assert r.status_code == 204, r.text

    assert_page(await client.get(path_of(invitation)), 410, "withdrawn", "new invitation")
    r = await client.post(path_of(invitation), headers=OUR_PAGE, data={"name": "Gone"})
    assert_page(r, 410, "withdrawn")
    assert (await client.get(f"/api/accounts/{venue}/invitations", headers=owner.headers)).json() == []
    r = await client.delete(f"/api/accounts/{venue}/invitations/{invitation['id']}", headers=owner.headers)
    assert r.status_code == 404, "withdrawing twice should say there is no pending invitation"


async def test_a_made_up_link_is_refused_plainly(client: httpx.AsyncClient) -> None:
    assert_page(await client.get("/invite/not-a-real-token"), 400, "not valid", "new invitation")
    assert_page(await client.post("/invite/not-a-real-token", headers=OUR_PAGE), 400, "not valid")


async def test_opening_the_link_changes_nothing(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue, owner = await venue_with_owner(runtime)
    sam = await factories.person(runtime, email="sam@example.com")
    browser = await factories.login(client, runtime, sam)
    invitation = await invite(client, venue, owner, "sam@example.com")
    people = await count(runtime, User)

    # Link previews, chat unfurlers and mail scanners fetch with GET, signed in or not.
    for headers in ({}, browser.cookie, {"User-Agent": "Slackbot-LinkExpanding 1.0"}):
        assert_page(await client.get(path_of(invitation), headers=headers), 200, "The Crown")
    assert sam.user_id not in await members(client, venue, owner), "opening the link joined the venue"
    assert await count(runtime, User) == people, "opening the link created a person"
    assert await factories.audit_entries(runtime, "invitation_accepted") == []
    assert_page(await client.post(path_of(invitation), headers={**browser.cookie, **OUR_PAGE}), 200, "You joined")


@pytest.mark.parametrize(
    "headers", [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}]
)
async def test_an_invitation_posted_from_another_site_is_refused(
    runtime: Runtime, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    venue, owner = await venue_with_owner(runtime)
    sam = await factories.person(runtime, email="sam@example.com")
    browser = await factories.login(client, runtime, sam)
    invitation = await invite(client, venue, owner, "sam@example.com")

    r = await client.post(path_of(invitation), headers={**browser.cookie, **headers})
    assert r.status_code == 403 and "another website" in r.json()["detail"], r.text
    assert sam.user_id not in await members(client, venue, owner), "a cross-site post joined the venue"
    assert_page(await client.post(path_of(invitation), headers={**browser.cookie, **OUR_PAGE}), 200, "You joined")


async def test_a_new_persons_name_with_text_direction_characters_is_refused(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue, owner = await venue_with_owner(runtime)
    invitation = await invite(client, venue, owner, "sly@example.com")
    people = await count(runtime, User)
    r = await client.post(path_of(invitation), headers=OUR_PAGE, data={"name": "Sly \u202egnp.exe"})
    assert_page(r, 422, "control or text-direction characters", "U+202E")
    assert await count(runtime, User) == people
    assert_page(await client.get(path_of(invitation)), 200, "Join The Crown")


# --- accepting through the API ---


async def test_an_api_token_holder_accepts_through_the_api(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue, owner = await venue_with_owner(runtime)
    sam = await factories.person(runtime, email="sam@example.com")
    invitation = await invite(client, venue, owner, "sam@example.com", "editor")
    token = path_of(invitation).rsplit("/", 1)[1]

    stranger = await factories.person(runtime, email="other@example.com")
    r = await client.post(f"/api/invitations/{token}/accept", headers=stranger.headers)
    assert r.status_code == 403, r.text
    assert r.json()["detail"] == "this invitation is for sam@example.com; you are signed in as other@example.com"

    r = await client.post(f"/api/invitations/{token}/accept", headers=sam.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"account_id": venue, "account_name": "The Crown", "role": "editor", "user_id": sam.user_id}
    r = await client.post(f"/api/invitations/{token}/accept", headers=sam.headers)
    assert r.status_code == 422 and r.json()["invitation_state"] == "accepted", r.text
    r = await client.post("/api/invitations/made-up/accept", headers=sam.headers)
    assert r.status_code == 422 and r.json()["invitation_state"] == "invalid", r.text


# --- the operator's command ---


async def test_cheers_invite_prints_a_link_the_person_accepts(
    settings: Settings, runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    venue = await factories.venue(runtime, name="The Crown")
    out = succeeded(
        await acheers(
            settings, "invite", "--account", str(venue), "--email", "boss@example.com", "--role", "owner", cwd=tmp_path
        )
    )
    url, note = out.splitlines()
    assert url.startswith(f"{settings.cheers_public_url}/invite/"), out
    assert "boss@example.com" in note and "owner" in note, note
    r = await client.get(urlsplit(url).path)
    assert_page(r, 200, "the CheersAI team", "owner")
    r = await client.post(urlsplit(url).path, headers=OUR_PAGE, data={"name": "Bo Boss"})
    assert_page(r, 200, "You joined", "owner")

    issued = as_json(
        await acheers(
            settings,
            "--json",
            "invite",
            "--account",
            str(venue),
            "--email",
            "sous@example.com",
            "--role",
            "editor",
            cwd=tmp_path,
        )
    )
    assert issued["email"] == "sous@example.com" and issued["role"] == "editor" and issued["url"].startswith("http")
