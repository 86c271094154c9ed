"""Which venue a chat acts for, alert settings by admins only, reconnect links in private, diagnose and jobs."""

from __future__ import annotations

from sqlalchemy import select

from core.runtime import Runtime
from storage.models import ChatDestination, ChatIdentity, Role
from tests import factories
from tests.bot.conftest import Pub
from tests.bot.support import link, say, shown, turn


async def _destinations(runtime: Runtime) -> list[ChatDestination]:
    async with runtime.uow() as uow:
        return list((await uow.session.execute(select(ChatDestination).order_by(ChatDestination.id))).scalars())


async def test_in_a_dm_a_person_with_one_venue_acts_for_it(runtime: Runtime, pub: Pub) -> None:
    sam = await factories.person(runtime, venue_id=pub.id, role=Role.viewer)
    await link(runtime, sam, turn("U1", dm=True))

    said = await say(runtime, turn("U1", dm=True), "week")

    assert said.title == "This week at The Red Lion: nothing scheduled", shown(said)


async def test_with_two_venues_the_person_chooses_one_by_name_and_it_is_remembered(runtime: Runtime, pub: Pub) -> None:
    crown = await factories.venue(runtime, name="The Crown")
    sam = await factories.person(runtime, venue_id=pub.id, role=Role.viewer)
    await factories.join(runtime, sam, crown, Role.editor)
    await link(runtime, sam, turn("U1", dm=True))

    asked = await say(runtime, turn("U1", dm=True), "week")
    assert asked.title == "Which venue?", shown(asked)
    assert sorted(i.text for i in asked.items) == ["`venue The Crown` (editor)", "`venue The Red Lion` (viewer)"]
    unknown = await say(runtime, turn("U1", dm=True), "venue The Ship")
    assert "is not one of your venues" in shown(unknown), shown(unknown)

    chosen = await say(runtime, turn("U1", dm=True), "venue the crown")

    assert chosen.title == "Now acting for The Crown" and chosen.private, shown(chosen)
    assert (await say(runtime, turn("U1", dm=True), "week")).title.startswith("This week at The Crown")
    async with runtime.uow() as uow:
        identity = (await uow.session.execute(select(ChatIdentity))).scalar_one()
    assert identity.current_account_id == crown


async def test_a_channel_set_up_with_alerts_here_acts_for_its_venue_for_members_only(
    runtime: Runtime, pub: Pub
) -> None:
    crown = await factories.venue(runtime, name="The Crown")
    admin = await factories.person(runtime, venue_id=pub.id, role=Role.admin)
    both = await factories.person(runtime, venue_id=crown, role=Role.editor)
    await factories.join(runtime, both, pub.id, Role.viewer)
    stranger = await factories.person(runtime, venue_id=crown, role=Role.owner)
    for who, user in ((admin, "U-admin"), (both, "U-both"), (stranger, "U-stranger")):
        await link(runtime, who, turn(user))

    done = await say(runtime, turn("U-admin", chat="C-team"), "alerts here failures")
    assert done.title == "The Red Lion's alerts go to this channel", shown(done)

    in_channel = await say(runtime, turn("U-both", chat="C-team"), "week")
    assert in_channel.title.startswith("This week at The Red Lion"), "a bound channel needs no venue choice"
    outside = await say(runtime, turn("U-stranger", chat="C-team"), "week")
    assert outside.title == "Not found" and "set up for a venue you are not a member of" in shown(outside)
    [row] = await _destinations(runtime)
    assert (row.chat_id, row.account_id, row.user_id) == ("C-team", pub.id, None)
    assert row.kinds == ["publish_failed", "publish_missed", "publish_in_doubt", "publish_needs_attention"]


async def test_alerts_are_set_by_owners_and_admins_only_mute_and_off_included(runtime: Runtime, pub: Pub) -> None:
    admin = await factories.person(runtime, venue_id=pub.id, role=Role.admin)
    editor = await factories.person(runtime, venue_id=pub.id, role=Role.editor)
    await link(runtime, admin, turn("U-admin"))
    await link(runtime, editor, turn("U-editor"))

    refused = await say(runtime, turn("U-editor", chat="C-team"), "alerts here")
    assert refused.title == "You can't do that" and "needs the admin role" in shown(refused), shown(refused)
    assert "owner or admin" in shown(refused), "the refusal says who can"
    assert await _destinations(runtime) == []

    await say(runtime, turn("U-admin", chat="C-team"), "alerts here")
    muted = await say(runtime, turn("U-admin", chat="C-team"), "alerts mute published for 2h")
    assert "Muted: publish_succeeded until Wed 25 Nov 14:00 UTC" in shown(muted), shown(muted)
    assert (await say(runtime, turn("U-editor", chat="C-team"), "alerts off")).title == "You can't do that"
    off = await say(runtime, turn("U-admin", chat="C-team"), "alerts off")
    assert off.title == "Alerts for The Red Lion are off in this channel", shown(off)
    mine = await say(runtime, turn("U-admin", chat="C-team"), "alerts me connections")
    assert mine.title == "The Red Lion's alerts go to your direct messages with CheersAI", shown(mine)

    channel, personal = await _destinations(runtime)
    assert (channel.alerts, channel.muted) == (False, {"publish_succeeded": "2026-11-25T14:00:00+00:00"})
    assert (personal.chat_id, personal.user_id, personal.alerts) == ("U-admin", admin.user_id, True)
    assert len(await factories.audit_entries(runtime, "chat_alerts_on")) == 2


async def test_reconnect_sends_the_consent_link_privately_to_an_admin_and_refuses_an_editor(
    runtime: Runtime, pub: Pub
) -> None:
    admin = await factories.person(runtime, venue_id=pub.id, role=Role.admin)
    editor = await factories.person(runtime, venue_id=pub.id, role=Role.editor)
    await link(runtime, admin, turn("U-admin"))
    await link(runtime, editor, turn("U-editor"))

    refused = await say(runtime, turn("U-editor", chat="C-team"), "reconnect facebook")
    said = await say(runtime, turn("U-admin", chat="C-team"), "reconnect facebook")

    assert refused.title == "You can't do that" and not refused.links, shown(refused)
    assert said.private, "a consent link must only reach the person who asked"
    assert said.title.startswith("Reconnect Facebook Page"), shown(said)
    assert said.links[0].url.startswith("http://testserver.local/oauth/facebook/start?state="), said.links
    [entry] = await factories.audit_entries(runtime, "reconnect_started")
    assert (entry.actor_user_id, entry.channel.value) == (admin.user_id, "slack")


async def test_diagnose_asks_the_platform_for_an_editor_and_refuses_a_viewer(runtime: Runtime, pub: Pub) -> None:
    editor = await factories.person(runtime, venue_id=pub.id, role=Role.editor)
    viewer = await factories.person(runtime, venue_id=pub.id, role=Role.viewer)
    await link(runtime, editor, turn("U-editor"))
    await link(runtime, viewer, turn("U-viewer"))

    refused = await say(runtime, turn("U-viewer"), f"diagnose {pub.connection_id}")
    assert refused.title == "You can't do that" and pub.publisher.diagnosed == 0, shown(refused)

    said = await say(runtime, turn("U-editor"), "diagnose")

    assert said.title.endswith(": healthy") and "OK: The access token is valid." in said.lines, shown(said)
    assert pub.publisher.diagnosed == 1


async def test_jobs_run_is_for_staff_only(runtime: Runtime, pub: Pub) -> None:
    owner = await factories.person(runtime, venue_id=pub.id, role=Role.owner)
    staff = await factories.person(runtime, staff=True)
    await link(runtime, owner, turn("U-owner"))
    await link(runtime, staff, turn("U-staff"))

    refused = await say(runtime, turn("U-owner"), "jobs run oauth-states-cleanup")
    ran = await say(runtime, turn("U-staff"), "jobs run oauth-states-cleanup")

    assert refused.title == "You can't do that" and "staff" in shown(refused), shown(refused)
    assert ran.title == "Ran oauth-states-cleanup", shown(ran)
    assert [r.trigger for r in await factories.job_runs(runtime, "oauth-states-cleanup")] == ["manual"]


async def test_unknown_input_from_a_linked_person_gets_the_closest_command_and_an_example(
    runtime: Runtime, pub: Pub
) -> None:
    sam = await factories.person(runtime, venue_id=pub.id, role=Role.editor)
    await link(runtime, sam, turn("U1"))

    said = await say(runtime, turn("U1"), "retyr 17")

    assert said.title == "I didn't understand that" and "Did you mean `retry`?" in shown(said), shown(said)
    assert "For example: retry 17" in said.lines, shown(said)
