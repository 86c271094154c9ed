"""Venue people's own alerts by e-mail: alert_via "email" or "both" gets one e-mail per notification the kind's
audience includes them in; "email" alone stops their private chat copy; "chat" gets no e-mail. set_alert_via checks
its value and the person's address, and is audited."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from core.access.audit import Actor
from core.access.people_alerts import set_alert_via
from core.chat import delivery
from core.email import outbox
from core.errors import Invalid
from core.notifications.kinds import NotificationKind
from core.runtime import Runtime
from storage.enums import Channel, ChatPlatform, Role, Severity
from tests import factories
from tests.chat_alerts.conftest import FakeSender, delivered_to, destination
from tests.sandbox_resend.conftest import ResendTwin


@dataclass
class Team:
    venue_id: int
    by_email: factories.Person  # admin, alert_via email
    by_both: factories.Person  # editor, alert_via both
    by_chat: factories.Person  # admin, alert_via chat (the default)
    chats: dict[str, int]  # each person's `alerts me` private chat


async def choose(runtime: Runtime, who: factories.Person, via: str) -> str:
    async with runtime.uow() as uow:
        chosen = await set_alert_via(uow.session, runtime.clock, Actor(who.user_id, Channel.api), via)
        await uow.commit()
    return chosen


@pytest.fixture
async def team(mail_runtime: Runtime, clock: object) -> Team:
    mail_runtime.chat_senders[ChatPlatform.slack] = FakeSender(clock)
    venue_id = await factories.venue(mail_runtime, name="The Anchor")
    by_email = await factories.person(
        mail_runtime, venue_id=venue_id, role=Role.admin, name="Ada", email="ada@anchor.test"
    )
    by_both = await factories.person(
        mail_runtime, venue_id=venue_id, role=Role.editor, name="Ed", email="ed@anchor.test"
    )
    by_chat = await factories.person(
        mail_runtime, venue_id=venue_id, role=Role.admin, name="Cy", email="cy@anchor.test"
    )
    assert await choose(mail_runtime, by_email, "email") == "email"
    assert await choose(mail_runtime, by_both, "both") == "both"
    chats = {
        who.name: await destination(mail_runtime, venue_id, f"D{who.user_id}", user_id=who.user_id)
        for who in (by_email, by_both, by_chat)
    }
    return Team(venue_id, by_email, by_both, by_chat, chats)


async def alert(runtime: Runtime, venue_id: int, kind: NotificationKind, title: str) -> int:
    recorded = await factories.record_notification(
        runtime, venue_id, kind=kind, severity=Severity.error, title=title,
        payload={"reason": "The Page's token expired.", "remedy": "Reconnect the Page."},
    )  # fmt: skip
    assert recorded is not None
    return recorded.id


async def test_a_team_alert_is_mailed_to_email_and_both_and_chatted_to_both_and_chat(
    mail_runtime: Runtime, team: Team, resend: ResendTwin
) -> None:
    failed = await alert(mail_runtime, team.venue_id, NotificationKind.publish_failed, "Failed on Page 1: Quiz night")
    await delivery.run(mail_runtime)  # the fan-out queues the e-mails beside the chat deliveries
    assert (await outbox.run(mail_runtime)).get("sent") == 2
    mails = await resend.control.emails()
    assert sorted(m["to"][0] for m in mails) == ["ada@anchor.test", "ed@anchor.test"], "email and both, not chat"
    assert all(m["subject"] == "[The Anchor] Failed on Page 1: Quiz night" for m in mails), mails
    assert all("Reconnect the Page." in m["text"] and "Reconnect the Page." in m["html"] for m in mails)
    assert await delivered_to(mail_runtime, team.chats["Ada"]) == [], "email only: no private chat copy"
    assert await delivered_to(mail_runtime, team.chats["Ed"]) == [failed], "both: the chat copy too"
    assert await delivered_to(mail_runtime, team.chats["Cy"]) == [failed], "chat: the chat copy only"
    await delivery.run(mail_runtime)
    assert await outbox.run(mail_runtime) == {}, "one e-mail per notification and person, never again"
    assert len(await resend.control.emails()) == 2


async def test_an_admins_alert_is_not_mailed_to_an_editor(
    mail_runtime: Runtime, team: Team, resend: ResendTwin
) -> None:
    await alert(mail_runtime, team.venue_id, NotificationKind.connection_needs_reconnect, "Reconnect Page 1")
    await delivery.run(mail_runtime)
    await outbox.run(mail_runtime)
    assert [m["to"] for m in await resend.control.emails()] == [["ada@anchor.test"]], "the audience is admins"


async def test_published_receipts_are_not_mailed(mail_runtime: Runtime, team: Team, resend: ResendTwin) -> None:
    await factories.record_notification(mail_runtime, team.venue_id, kind=NotificationKind.publish_succeeded)
    await delivery.run(mail_runtime)
    await outbox.run(mail_runtime)
    assert await resend.control.emails() == []


async def test_set_alert_via_refuses_bad_values_and_email_without_an_address(mail_runtime: Runtime) -> None:
    venue_id = await factories.venue(mail_runtime)
    nobody = await factories.person(mail_runtime, venue_id=venue_id, role=Role.editor)  # no e-mail address
    with pytest.raises(Invalid) as bad:
        await choose(mail_runtime, nobody, "pigeon")
    assert bad.value.remedy and "chat, email, both" in bad.value.remedy, bad.value.remedy
    with pytest.raises(Invalid) as no_address:
        await choose(mail_runtime, nobody, "both")
    assert "no e-mail address" in no_address.value.message and no_address.value.remedy, no_address.value.message
    assert await choose(mail_runtime, nobody, "chat") == "chat"


async def test_set_alert_via_is_audited(mail_runtime: Runtime) -> None:
    someone = await factories.person(mail_runtime, email="someone@anchor.test")
    await choose(mail_runtime, someone, "EMAIL")
    await choose(mail_runtime, someone, "email")  # no change: no second entry
    [entry] = await factories.audit_entries(mail_runtime, "alert_via_changed")
    assert entry.actor_user_id == someone.user_id and entry.details == {"before": "chat", "after": "email"}, entry
