"""Signing in to the planner by e-mail: one answer for every address, a link for known people, rate limits."""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import unescape
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select

from core.access import sign_in
from core.clock import FrozenClock
from core.ops.devsetup import demo_login_link
from core.runtime import Runtime
from storage.models import Email, Role
from tests import factories
from tests.planner.conftest import carry_cookies


async def emails(runtime: Runtime) -> Sequence[Email]:
    async with runtime.uow() as uow:
        return (await uow.session.execute(select(Email).order_by(Email.id))).scalars().all()


async def ask(client: httpx.AsyncClient, address: str, next_url: str = "") -> httpx.Response:
    return await client.post("/planner/sign-in", data={"email": address, "next": next_url})


def link_in(email: Email) -> str:
    found = re.search(r"http://testserver\.local(/auth/login/[^\s\"?]+(\?next=[^\s\"]+)?)", email.text_body)
    assert found is not None, f"no login link in the e-mail: {email.text_body}"
    return unescape(found.group(1))


async def test_the_form_is_labelled_and_works_without_javascript(client: httpx.AsyncClient) -> None:
    r = await client.get("/planner/sign-in")
    assert r.status_code == 200, r.text
    assert '<label for="email">' in r.text and 'id="email"' in r.text, "the address field has no label"
    assert 'method="post" action="/planner/sign-in"' in r.text, "the form does not post without scripts"
    assert "Sign out" not in r.text, "a stranger is offered a sign-out button"


async def test_a_known_person_gets_a_link_that_signs_in_and_lands_where_they_were_going(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue = await factories.venue(runtime, name="The Crown")
    who = await factories.person(runtime, venue_id=venue, role=Role.owner, name="Olive", email="Olive@Crown.example")

    r = await ask(client, "  olive@crown.example ", "/planner/posts/7")
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/planner/sign-in?sent=true&next=/planner/posts/7", r.headers
    answer = await client.get(r.headers["location"])
    assert "a sign-in link is on its way" in answer.text, answer.text

    [mail] = await emails(runtime)
    assert (mail.kind, mail.to_address.lower()) == ("login_link", "olive@crown.example"), (mail.kind, mail.to_address)
    assert "Sign in to CheersAI" in mail.text_body, mail.text_body
    link = link_in(mail)
    assert link.endswith("?next=/planner/posts/7"), link

    confirm = await client.get(link)
    # The confirm page's form has no action: it posts back to the link, ?next= included.
    assert confirm.status_code == 200 and '<form method="post">' in confirm.text, confirm.text
    signed = await client.post(link)
    assert signed.status_code == 303, signed.text
    assert signed.headers["location"] == "/planner/posts/7", "the link did not land where the person was going"
    carry_cookies(client, signed)
    me = await client.get("/api/me")
    assert me.status_code == 200 and me.json()["user_id"] == who.user_id, me.text


async def test_an_unknown_address_gets_the_same_answer_and_no_email(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue = await factories.venue(runtime)
    await factories.person(runtime, venue_id=venue, email="known@crown.example")
    known = await ask(client, "known@crown.example")
    unknown = await ask(client, "nobody@crown.example")
    assert (known.status_code, known.headers["location"]) == (unknown.status_code, unknown.headers["location"]), (
        "the answer tells known and unknown addresses apart"
    )
    assert [m.to_address for m in await emails(runtime)] == ["known@crown.example"], "an unknown address got mail"


async def test_a_deactivated_person_gets_no_link(runtime: Runtime, client: httpx.AsyncClient) -> None:
    gone = await factories.person(runtime, email="gone@crown.example")
    async with runtime.uow() as uow:
        from storage.models import User

        user = await uow.session.get(User, gone.user_id)
        assert user is not None
        user.is_active = False
        await uow.commit()
    r = await ask(client, "gone@crown.example")
    assert r.status_code == 303, r.text
    assert await emails(runtime) == [], "a deactivated person was sent a link"


async def test_not_an_address_is_explained_on_the_form(client: httpx.AsyncClient) -> None:
    r = await ask(client, "olive")
    assert r.status_code == 422, r.text
    assert "look like an e-mail address" in r.text and 'aria-invalid="true"' in r.text, r.text


async def test_requests_are_limited_per_address_whether_known_or_not(
    runtime: Runtime, clock: FrozenClock, client: httpx.AsyncClient
) -> None:
    await factories.person(runtime, email="known@crown.example")
    for address in ("known@crown.example", "nobody@crown.example"):
        for _ in range(sign_in.PER_ADDRESS):
            assert (await ask(client, address)).status_code == 303
        over = await ask(client, address.upper())
        assert over.status_code == 429, f"{address}: {over.status_code} {over.text}"
        assert "Too many sign-in requests" in over.text and over.headers["retry-after"] == "900", over.text
    assert len(await emails(runtime)) == sign_in.PER_ADDRESS, "a throttled request still queued an e-mail"

    clock.advance(seconds=sign_in.WINDOW.total_seconds())
    assert (await ask(client, "known@crown.example")).status_code == 303, "the limit outlived its window"


async def test_requests_are_limited_per_client(client: httpx.AsyncClient) -> None:
    for n in range(sign_in.PER_CLIENT):
        assert (await ask(client, f"guess{n}@crown.example")).status_code == 303
    over = await ask(client, "one-more@crown.example")
    assert over.status_code == 429, over.text


async def test_another_site_cannot_make_browsers_ask_for_links(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await factories.person(runtime, email="known@crown.example")
    r = await client.post(
        "/planner/sign-in", data={"email": "known@crown.example"}, headers={"Origin": "https://evil.example"}
    )
    assert r.status_code == 403, r.text
    assert await emails(runtime) == [], "a cross-site post queued an e-mail"


async def test_next_never_leaves_the_planner(runtime: Runtime, client: httpx.AsyncClient) -> None:
    who = await factories.person(runtime, email="olive@crown.example")
    for bad in ("https://evil.example/", "//evil.example/planner/", "/api/me", "/planner/sign-in"):
        r = await ask(client, "olive@crown.example" if bad == "/api/me" else "x@crown.example", bad)
        assert r.headers["location"].endswith("next=/planner/week"), f"next={bad!r} kept: {r.headers}"
    path = await factories.login_link(runtime, who)
    signed = await client.post(path + "?next=https://evil.example/")
    assert signed.headers["location"] == "/planner/week", signed.headers
    assert urlsplit(signed.headers["location"]).netloc == "", "the login redirect left the site"


async def test_the_make_dev_banner_link_opens_the_planner(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    async with runtime.uow() as uow:
        url = await demo_login_link(uow.session, runtime.clock, runtime.settings, owner.user_id)
        await uow.commit()
    r = await client.post(url.removeprefix("http://testserver.local"))
    assert r.status_code == 303 and r.headers["location"] == "/planner/week", f"{r.status_code} {r.headers}"
