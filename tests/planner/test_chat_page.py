"""The planner's Chat page: link codes and linked accounts, the person's alert choice, and the venue's alert chats
(kinds, mute, quiet hours, off) changed through the chat commands' own core calls, by owners and admins only."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from core.chat import linking
from core.chat.people import ChatTurn
from core.notifications import fanout
from core.runtime import Runtime
from storage.models import ChatDestination, ChatPlatform, Role, User
from tests import factories
from tests.planner.conftest import SignedIn, carry_cookies, sign_in

CHAT = "/planner/chat"


async def chat_row(
    runtime: Runtime,
    venue_id: int,
    chat_id: str,
    *,
    user_id: int | None = None,
    muted: dict[str, Any] | None = None,
    disabled: str | None = None,
) -> int:
    """A chat bound to the venue's alerts, as `alerts here` (or `alerts me` with `user_id`) leaves it."""
    now = runtime.clock.now()
    async with runtime.uow() as uow:
        row = ChatDestination(
            platform=ChatPlatform.slack, workspace_id="T1", chat_id=chat_id, chat_name=f"#{chat_id.lower()}",
            account_id=venue_id, user_id=user_id, alerts=True, kinds=None, muted=muted or {},
            created_at=now, updated_at=now, disabled_at=now if disabled else None, disabled_reason=disabled,
        )  # fmt: skip
        uow.session.add(row)
        await uow.commit()
        return row.id


async def stored(runtime: Runtime, destination_id: int) -> ChatDestination:
    async with runtime.db.session() as session:
        row = await session.get(ChatDestination, destination_id)
        assert row is not None
        return row


async def audited(runtime: Runtime, action: str) -> Sequence[Any]:
    return await factories.audit_entries(runtime, action)


async def posted(signed_in: SignedIn, path: str, data: dict[str, Any]) -> httpx.Response:
    """A form post without JavaScript, keeping the flash toast for the next page as a browser would."""
    r = await signed_in.client.post(path, data={"csrf_token": signed_in.csrf, **data})
    carry_cookies(signed_in.client, r)
    return r


async def test_a_link_code_links_telegram_and_the_page_lists_the_linked_account(
    signed_in: SignedIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = signed_in.runtime
    monkeypatch.setattr(runtime.settings, "cheers_telegram_bot_username", "cheers_test_bot")
    page = await signed_in.get(CHAT)
    assert page.status_code == 200, page.text
    assert "None yet" in page.text, "a person with no linked chat account should be told so"

    r = await signed_in.post_form(f"{CHAT}/link-code")
    assert r.status_code == 200, r.text
    code = re.search(r'class="code">([2-9A-Z]{4}-[2-9A-Z]{4})<', r.text)
    assert code, "the page should show the new code once"
    assert f"/cheers link {code[1]}" in r.text, "Slack's instruction should name the code"
    assert f"https://t.me/cheers_test_bot?start={code[1]}" in r.text, "the Telegram deep link should carry the code"
    assert await audited(runtime, "chat_link_code_created"), "issuing a code is audited by core"

    turn = ChatTurn(ChatPlatform.telegram, "777", "4242", "Olive T", "4242", is_direct_message=True)
    async with runtime.uow() as uow:
        outcome = await linking.redeem_code(uow.session, runtime.clock, turn, code[1])
        await uow.commit()
    assert outcome.linked, outcome.message
    page = await signed_in.get(CHAT)
    assert "Telegram" in page.text and "as Olive T" in page.text, "the linked Telegram account should be listed"


async def test_without_a_bot_username_the_code_still_says_how_to_link_in_telegram(signed_in: SignedIn) -> None:
    r = await signed_in.post_form(f"{CHAT}/link-code")
    assert "t.me/" not in r.text, "no deep link without the bot's username in settings"
    assert re.search(r"/link [2-9A-Z]{4}-[2-9A-Z]{4}", r.text), "the /link CODE instruction should be shown"


async def test_a_link_code_needs_the_pages_csrf_token(signed_in: SignedIn) -> None:
    r = await signed_in.client.post(f"{CHAT}/link-code", data={})
    assert r.status_code == 403, "a post without the CSRF token must be refused"
    assert not await audited(signed_in.runtime, "chat_link_code_created"), "no code may be issued"


async def test_the_person_chooses_email_for_their_own_alerts(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime, name="The Crown")
    viewer = await factories.person(runtime, venue_id=venue, role=Role.viewer, email="vera@example.com")
    browser = await sign_in(client, runtime, viewer)
    r = await client.post(f"{CHAT}/alert-via", data={"csrf_token": browser.csrf, "alert_via": "email"})
    assert r.status_code == 303, "without JavaScript the choice redirects back to the page"
    carry_cookies(client, r)
    page = await client.get(CHAT)
    assert "Your own alerts now come: by e-mail only." in page.text, "the flash toast should say what changed"
    assert re.search(r'value="email"\s+checked', page.text), "the page should show the choice made"
    async with runtime.db.session() as session:
        user = await session.get(User, viewer.user_id)
        assert user is not None and user.alert_via == "email", "core should have stored the choice"
    entries = await audited(runtime, "alert_via_changed")
    assert [e.channel.value for e in entries] == ["web"], "the change is audited as made on the web"


async def test_email_is_refused_without_an_address_and_nothing_changes(signed_in: SignedIn) -> None:
    r = await signed_in.post_form(f"{CHAT}/alert-via", {"alert_via": "email"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "toast-error" in r.text, "htmx gets an error toast"
    assert "no e-mail address" in r.text, "the toast should say why, from core"
    assert not await audited(signed_in.runtime, "alert_via_changed"), "nothing may change"


async def test_the_page_lists_the_venues_chats_but_not_other_peoples_own_or_other_venues(
    signed_in: SignedIn,
) -> None:
    runtime = signed_in.runtime
    colleague = await factories.person(runtime, venue_id=signed_in.venue_id, role=Role.admin)
    bar = await chat_row(runtime, signed_in.venue_id, "CBAR")
    mine = await chat_row(runtime, signed_in.venue_id, "UOLIVE", user_id=signed_in.person.user_id)
    theirs = await chat_row(runtime, signed_in.venue_id, "UCOLL", user_id=colleague.user_id)
    elsewhere = await chat_row(runtime, await factories.venue(runtime, name="The Swan"), "CSWAN")
    page = await signed_in.get(CHAT)
    shown = {int(i) for i in re.findall(r'id="chat-(\d+)"', page.text)}
    assert shown == {bar, mine}, "the venue's channels and the person's own DMs only"
    assert "Slack chat #cbar" in page.text and "Your own Slack messages from CheersAI" in page.text
    for other in (theirs, elsewhere):
        r = await signed_in.post_form(f"{CHAT}/destinations/{other}/off")
        assert r.status_code == 404, "another person's own chat or another venue's chat is not found"
        assert (await stored(runtime, other)).alerts, "and stays as it was"


async def test_an_admin_chooses_the_kinds_which_clears_the_mutes_like_alerts_here(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    row = await chat_row(runtime, signed_in.venue_id, "CBAR", muted={"publish_succeeded": None})
    r = await posted(signed_in, f"{CHAT}/destinations/{row}/alerts", {"kind": ["publish_failed", "publish_missed"]})
    assert r.status_code == 303
    saved = await stored(runtime, row)
    assert saved.kinds == ["publish_failed", "publish_missed"] and saved.muted == {}, "kinds replaced, mutes cleared"
    page = await signed_in.get(CHAT)
    assert "Alerts are on for Slack chat #cbar: publish failed, publish missed." in page.text
    assert "<dd>publish failed, publish missed</dd>" in page.text, "the chat's card should list its kinds"
    entries = await audited(runtime, "chat_alerts_on")
    assert [(e.channel.value, e.account_id) for e in entries] == [("web", signed_in.venue_id)]


async def test_muting_holds_kinds_back_until_a_time_shown_in_the_venues_zone(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    row = await chat_row(runtime, signed_in.venue_id, "CBAR")
    r = await posted(signed_in, f"{CHAT}/destinations/{row}/mute", {"kind": "publish_succeeded", "for": "2h"})
    assert r.status_code == 303
    until = runtime.clock.now() + timedelta(hours=2)
    assert (await stored(runtime, row)).muted == {"publish_succeeded": until.isoformat()}
    page = await signed_in.get(CHAT)
    local = until.astimezone(ZoneInfo("Europe/London")).strftime("%H:%M")
    assert re.search(rf"publish succeeded until \w{{3}} \d+ \w{{3}}.* {local} ", page.text), "until, in venue time"
    r = await signed_in.post_form(f"{CHAT}/destinations/{row}/mute", {"for": "2h"}, headers={"HX-Request": "true"})
    assert "choose at least one kind" in r.text.lower(), "muting nothing is refused with what to do"


async def test_quiet_hours_are_saved_as_the_fan_out_reads_them_and_can_be_cleared(signed_in: SignedIn) -> None:
    runtime = signed_in.runtime
    row = await chat_row(runtime, signed_in.venue_id, "CBAR")
    r = await posted(signed_in, f"{CHAT}/destinations/{row}/quiet", {"quiet_start": "22:00", "quiet_end": "07:00"})
    assert r.status_code == 303
    saved = await stored(runtime, row)
    assert (saved.quiet_start, saved.quiet_end) == ("22:00", "07:00")
    london = ZoneInfo("Europe/London")
    now = runtime.clock.now().astimezone(london)
    late = now.replace(hour=23, minute=30, second=0, microsecond=0)
    held = fanout.quiet_until(saved, london, late)
    assert held is not None and held.astimezone(london).strftime("%H:%M") == "07:00", "the fan-out holds till 07:00"
    assert (await audited(runtime, "chat_quiet_hours_set"))[0].details["start"] == "22:00"
    page = await signed_in.get(CHAT)
    assert "22:00 to 07:00 (Europe/London)" in page.text

    r = await posted(signed_in, f"{CHAT}/destinations/{row}/quiet", {"quiet_start": "22:00", "quiet_end": "22:00"})
    assert (await stored(runtime, row)).quiet_end == "07:00", "a refused change keeps the old quiet hours"
    page = await signed_in.get(CHAT)
    assert "different times" in page.text, "the refusal's toast should say why"
    await posted(signed_in, f"{CHAT}/destinations/{row}/quiet", {"quiet_start": "", "quiet_end": "", "clear": "true"})
    cleared = await stored(runtime, row)
    assert (cleared.quiet_start, cleared.quiet_end) == (None, None), "No quiet hours clears both"


async def test_a_bad_time_of_day_is_refused_with_what_to_do(signed_in: SignedIn) -> None:
    row = await chat_row(signed_in.runtime, signed_in.venue_id, "CBAR")
    r = await signed_in.post_form(
        f"{CHAT}/destinations/{row}/quiet",
        {"quiet_start": "25:99", "quiet_end": "07:00"},
        headers={"HX-Request": "true"},
    )
    assert "toast-error" in r.text and "HH:MM" in r.text, "the toast should say how to write a time"
    assert (await stored(signed_in.runtime, row)).quiet_start is None


async def test_turning_alerts_off_keeps_the_chat_and_says_so_with_htmx(signed_in: SignedIn) -> None:
    row = await chat_row(signed_in.runtime, signed_in.venue_id, "CBAR")
    r = await signed_in.post_form(f"{CHAT}/destinations/{row}/off", headers={"HX-Request": "true"})
    assert r.status_code == 200 and "cheers:outcome" in r.headers.get("hx-trigger", ""), "htmx gets a toast event"
    assert "Alerts are off for Slack chat #cbar." in r.text
    saved = await stored(signed_in.runtime, row)
    assert saved.alerts is False and saved.disabled_at is None, "off, still bound to the venue"
    page = await signed_in.get(CHAT)
    assert 'data-state="off"' in page.text and "Turn alerts on" in page.text, "an off chat offers to turn it on"


async def test_a_stopped_chat_says_why_and_what_to_do_and_is_not_turned_on_from_here(signed_in: SignedIn) -> None:
    row = await chat_row(signed_in.runtime, signed_in.venue_id, "CBAR", disabled="the bot was removed from #bar")
    page = await signed_in.get(CHAT)
    assert "the bot was removed from #bar" in page.text and "/cheers alerts here" in page.text
    assert f"/destinations/{row}/alerts" not in page.text, "no forms for a chat CheersAI cannot reach"
    r = await signed_in.post_form(f"{CHAT}/destinations/{row}/alerts", headers={"HX-Request": "true"})
    assert "toast-error" in r.text and "cannot reach this chat" in r.text
    assert (await stored(signed_in.runtime, row)).disabled_at is not None, "still stopped"


async def test_an_editor_sees_the_settings_but_cannot_change_them(runtime: Runtime, client: httpx.AsyncClient) -> None:
    venue = await factories.venue(runtime, name="The Crown")
    editor = await factories.person(runtime, venue_id=venue, role=Role.editor)
    browser = await sign_in(client, runtime, editor)
    row = await chat_row(runtime, venue, "CBAR")
    page = await client.get(CHAT)
    assert f'id="chat-{row}"' in page.text and "Venue owners and admins can change these settings." in page.text
    assert "/destinations/" not in page.text, "no forms below admin"
    for change in ("alerts", "mute", "quiet", "off"):
        r = await client.post(f"{CHAT}/destinations/{row}/{change}", data={"csrf_token": browser.csrf})
        assert r.status_code == 403, f"{change} needs an owner or admin, as `alerts …` in chat"
    saved = await stored(runtime, row)
    assert saved.alerts and saved.kinds is None and saved.quiet_start is None, "nothing changed"
