"""Names people and venues are shown by: no control characters, no text-direction tricks."""

from __future__ import annotations

import httpx
import pytest

from core.access import accounts
from core.errors import Invalid
from core.runtime import Runtime
from storage.models import Role
from tests import factories

PROBLEM = "application/problem+json"
SAYS = "names can't contain control or text-direction characters"

HIDDEN = {
    "NUL": "The\x00Crown",
    "right-to-left override": "The Crown \u202ekcab",
    "left-to-right embedding": "\u202aThe Crown",
    "first strong isolate": "The \u2068Crown\u2069",
    "zero-width space": "The\u200bCrown",
    "escape": "The \x1b[31mCrown",
    "line separator": "The\u2028Crown",
    "invisible tag": "The Crown\U000e0041",
}


def assert_refused_naming_the_field(r: httpx.Response) -> None:
    assert r.status_code == 422, f"expected 422, got {r.status_code}: {r.text}"
    assert r.headers["content-type"].startswith(PROBLEM), r.headers
    body = r.json()
    assert SAYS in body["detail"], body
    assert body["field"] == "name", f"the refusal does not name the field: {body}"


@pytest.mark.parametrize("name", HIDDEN.values(), ids=HIDDEN.keys())
async def test_a_venue_name_with_hidden_characters_is_refused(
    runtime: Runtime, client: httpx.AsyncClient, name: str
) -> None:
    someone = await factories.person(runtime)
    r = await client.post("/api/accounts", json={"name": name, "timezone": "Europe/London"}, headers=someone.headers)
    assert_refused_naming_the_field(r)
    r = await client.get("/api/me", headers=someone.headers)
    assert r.json()["venues"] == [], "a refused venue was created"


async def test_renaming_a_venue_with_a_bidi_override_is_refused(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime, name="The Crown")
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    r = await client.patch(f"/api/accounts/{venue}", json={"name": "The \u202eCrown"}, headers=owner.headers)
    assert_refused_naming_the_field(r)
    assert "U+202E" in r.json()["detail"], "the refusal does not say which character"
    assert (await client.get(f"/api/accounts/{venue}", headers=owner.headers)).json()["name"] == "The Crown"


async def test_a_persons_name_with_hidden_characters_is_refused(runtime: Runtime) -> None:
    async with runtime.uow() as uow:
        for name in HIDDEN.values():
            with pytest.raises(Invalid) as refused:
                await accounts.create_user(uow.session, runtime.clock, factories.SYSTEM, name=name)
            assert SAYS in refused.value.message and "person's name" in refused.value.message
            assert refused.value.extra["field"] == "name"


@pytest.mark.parametrize("name", ["Café Ünïcode", "مقهى الحي", "The 🍺 & 🏴󠁧󠁢󠁳󠁣󠁴󠁿 Bar", "Chef 👩‍🍳 Anna", "می‌خانه"], ids=str)
async def test_ordinary_names_in_any_script_with_emoji_are_accepted(
    runtime: Runtime, client: httpx.AsyncClient, name: str
) -> None:
    someone = await factories.person(runtime)
    r = await client.post("/api/accounts", json={"name": name, "timezone": "Europe/London"}, headers=someone.headers)
    assert r.status_code == 201, f"an ordinary name was refused: {r.text}"
    assert r.json()["name"] == name


@pytest.mark.parametrize("email", ["sam\x00@example.com", "sam@exa\u202emple.com", "sam @example.com", "sam@", "@x"])
async def test_an_invitation_to_an_address_with_hidden_characters_is_refused(
    runtime: Runtime, client: httpx.AsyncClient, email: str
) -> None:
    venue = await factories.venue(runtime)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    r = await client.post(
        f"/api/accounts/{venue}/invitations", json={"email": email, "role": "viewer"}, headers=owner.headers
    )
    assert r.status_code == 422, f"expected 422, got {r.status_code}: {r.text}"
    assert r.json()["field"] == "email" and "e-mail address" in r.json()["detail"], r.text


async def test_an_api_token_name_with_a_bidi_override_is_refused(runtime: Runtime, client: httpx.AsyncClient) -> None:
    someone = await factories.person(runtime)
    r = await client.post("/api/tokens", json={"name": "laptop \u202eyek"}, headers=someone.headers)
    assert_refused_naming_the_field(r)
    r = await client.get("/api/tokens", headers=someone.headers)
    assert [t["name"] for t in r.json()] == ["test"], "a refused token was created"
