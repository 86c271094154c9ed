"""The weekly plan in chat (through bot.dispatch, as Slack and Telegram call it): `weekly` lists the slots with
their next posts, `weekly pause|resume SLOT` by number or a part of the name, as the linked person with their role;
another venue's slot is not found."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from bot.commands import CommandUnclear, WeeklyPause, WeeklyPlan, WeeklyResume, parse_command
from core.runtime import Runtime
from storage.enums import ChatPlatform
from storage.models import Role
from storage.queries import weekly as weekly_q
from tests import factories
from tests.bot.support import link, say, shown, turn


@dataclass(frozen=True)
class Pub:
    id: int
    connection_id: int


@pytest.fixture
async def pub(runtime: Runtime) -> Pub:
    """The Red Lion with a Facebook connection (nothing is published here: slots only)."""
    venue_id = await factories.venue(runtime, name="The Red Lion")
    return Pub(venue_id, await factories.connection(runtime, venue_id, access_token="page-token-1"))


async def _member(runtime: Runtime, pub: Pub, role: Role, user: str) -> factories.Person:
    who = await factories.person(runtime, venue_id=pub.id, role=role)
    await link(runtime, who, turn(user))
    return who


async def _paused(runtime: Runtime, venue_id: int, slot_id: int) -> bool:
    async with runtime.uow() as uow:
        slot = await weekly_q.get_slot(uow.session, venue_id, slot_id)
        assert slot is not None
        return slot.paused


@pytest.mark.parametrize(
    ("typed", "command"),
    [
        ("weekly", WeeklyPlan()),
        ("/cheers weekly", WeeklyPlan()),
        ("/weekly@CheersBot pause quiz", WeeklyPause("quiz")),
        ('weekly pause "Sunday roast"', WeeklyPause("Sunday roast")),
        ("weekly RESUME 12", WeeklyResume("12")),
        ("week", None),  # `week` is still the week's posts, not the plan
    ],
)
def test_weekly_is_read_from_what_people_type(typed: str, command: object) -> None:
    parsed = parse_command(typed)
    if command is None:
        assert type(parsed).__name__ == "Week"
    else:
        assert parsed == command


@pytest.mark.parametrize(("typed", "says"), [("weekly pause", "say which slot to pause"), ("weekly stop 3", "got")])
def test_a_weekly_command_without_its_slot_says_what_works(typed: str, says: str) -> None:
    with pytest.raises(CommandUnclear) as caught:
        parse_command(typed)
    assert says in caught.value.message and "weekly pause SLOT" in caught.value.message, caught.value.message


async def test_weekly_lists_the_slots_with_their_next_posts_in_week_order(runtime: Runtime, pub: Pub) -> None:
    await _member(runtime, pub, Role.viewer, "U1")
    empty = await say(runtime, turn("U1"), "weekly")
    assert empty.title == "Weekly plan at The Red Lion: no slots", shown(empty)
    await factories.weekly_slot(runtime, pub.id, [pub.connection_id], name="Sunday roast", weekday=6,
                                local_time="12:00", text_template="Roast from noon, {date:%d %B}")  # fmt: skip
    quiz = await factories.weekly_slot(runtime, pub.id, [pub.connection_id], name="Quiz night")

    listed = await say(runtime, turn("U1"), "weekly")

    assert listed.title == "Weekly plan at The Red Lion: 2 slots", shown(listed)
    first, second = (item.text for item in listed.items)
    assert first.startswith(f"Quiz night (slot {quiz}): Tuesday 20:00 on Facebook Page"), first
    assert "next Tue 1 Dec 20:00 GMT" in first and "Quiz night tonight, Tuesday 01 December" in first, first
    assert second.startswith("Sunday roast") and "Roast from noon, 29 November" in second, second
    assert "`weekly pause SLOT`" in listed.lines[0], shown(listed)


async def test_an_editor_pauses_and_resumes_a_slot_by_name_or_number(runtime: Runtime, pub: Pub) -> None:
    editor = await _member(runtime, pub, Role.editor, "U2")
    quiz = await factories.weekly_slot(runtime, pub.id, [pub.connection_id], name="Quiz night")
    await factories.weekly_slot(runtime, pub.id, [pub.connection_id], name="Quiet Sunday", weekday=6)

    paused = await say(runtime, turn("U2"), "weekly pause quiz night")
    assert paused.title.startswith("Paused Quiz night"), shown(paused)
    assert paused.items[0].text.endswith("; paused"), shown(paused)
    assert await _paused(runtime, pub.id, quiz)
    [entry] = await factories.audit_entries(runtime, "weekly_slot_paused")
    assert entry.actor_user_id == editor.user_id and entry.channel.value == "slack", entry

    ambiguous = await say(runtime, turn("U2"), "weekly resume qui")
    assert "'qui' matches 2 slots: Quiz night (slot " in shown(ambiguous), shown(ambiguous)
    assert "Say more of the name, or the id" in shown(ambiguous), shown(ambiguous)
    resumed = await say(runtime, turn("U2"), f"weekly resume {quiz}")
    assert resumed.title == "Resumed Quiz night. Next: Tue 1 Dec 20:00 GMT.", shown(resumed)
    assert not await _paused(runtime, pub.id, quiz)


async def test_a_viewer_is_refused_and_nothing_changes(runtime: Runtime, pub: Pub) -> None:
    await _member(runtime, pub, Role.viewer, "U3")
    quiz = await factories.weekly_slot(runtime, pub.id, [pub.connection_id], name="Quiz night")
    refused = await say(runtime, turn("U3"), f"weekly pause {quiz}")
    assert "editor" in shown(refused), shown(refused)
    assert not await _paused(runtime, pub.id, quiz)
    assert await factories.audit_entries(runtime, "weekly_slot_paused") == []


async def test_another_venues_slot_is_not_found_by_number_or_name(runtime: Runtime, pub: Pub) -> None:
    await _member(runtime, pub, Role.editor, "U4")
    other = await factories.venue(runtime, name="The Crown")
    theirs = await factories.weekly_slot(
        runtime, other, [await factories.connection(runtime, other, access_token="t")], name="Crown quiz"
    )
    for typed in (f"weekly pause {theirs}", "weekly pause crown"):
        answer = await say(runtime, turn("U4"), typed)
        assert answer.title == "Not found", shown(answer)
    assert not await _paused(runtime, other, theirs)


async def test_telegram_speaks_the_weekly_commands_with_a_slash(runtime: Runtime, pub: Pub) -> None:
    who = await factories.person(runtime, venue_id=pub.id, role=Role.editor)
    telegram = replace(turn("700", chat="700"), platform=ChatPlatform.telegram, workspace_id="7000000001")
    await link(runtime, who, telegram)
    quiz = await factories.weekly_slot(runtime, pub.id, [pub.connection_id], name="Quiz night")
    listed = await say(runtime, telegram, "/weekly")
    assert listed.items[0].text.startswith(f"Quiz night (slot {quiz})"), shown(listed)
    paused = await say(runtime, telegram, "/weekly pause quiz")
    assert paused.title.startswith("Paused Quiz night"), shown(paused)
    helped = await say(runtime, telegram, "/help weekly")
    assert "Use: /weekly | /weekly pause SLOT | /weekly resume SLOT" in shown(helped), shown(helped)
