"""Each platform's words where the chat core answers the same thing: help as typed there, where alerts go."""

from __future__ import annotations

from dataclasses import replace

from core.chat.people import ChatTurn
from core.runtime import Runtime
from storage.enums import ChatPlatform
from storage.models import Role
from tests import factories
from tests.bot.conftest import Pub
from tests.bot.support import link, say, shown, turn


def telegram(chat_turn: ChatTurn) -> ChatTurn:
    """The same person and chat, in Telegram (where a private chat's id is the user's own)."""
    chat = chat_turn.chat_user_id if chat_turn.is_direct_message else chat_turn.chat_id
    return replace(chat_turn, platform=ChatPlatform.telegram, workspace_id="7000000001", chat_id=chat)


async def test_help_in_telegram_names_slash_commands_and_the_guided_schedule(runtime: Runtime) -> None:
    helped = await say(runtime, telegram(turn("701", dm=True)), "help")

    text = shown(helped)
    assert '/schedule WHEN "TEXT" [to facebook,instagram,google]' in text, text
    assert "/week [next]" in text and "/link CODE" in text and "/help [COMMAND]" in text, text
    assert "/alerts here [KINDS] | /alerts me [KINDS] | /alerts mute KIND [for 2h] | /alerts off" in text, text
    assert "a bare /schedule asks you step by step, in your private chat with me" in text, text
    assert "opens a form" not in text and "/cancel" in text, text
    lines = [line for line in helped.lines if not line.startswith("/")]
    assert lines == [], f"every command written as Telegram's: {lines}"

    one = await say(runtime, telegram(turn("701", dm=True)), "help week")
    assert one.title == "`/week`: this week's posts (or next week's)", shown(one)
    assert one.lines == ("Use: /week [next]", "For example: /week next"), shown(one)


async def test_help_in_slack_keeps_its_words(runtime: Runtime) -> None:
    helped = await say(runtime, turn("U9"), "help")

    assert 'schedule WHEN "TEXT" [to facebook,instagram,google] — schedule a post (just `schedule` opens a form)' in (
        helped.lines
    ), shown(helped)
    assert not any(line.startswith("/") for line in helped.lines), shown(helped)
    one = await say(runtime, turn("U9"), "help week")
    assert one.title == "`week`: this week's posts (or next week's)", shown(one)


async def test_alerts_say_where_they_go_in_each_platforms_words(runtime: Runtime, pub: Pub) -> None:
    admin = await factories.person(runtime, venue_id=pub.id, role=Role.admin)
    in_group = telegram(turn("701", chat="-1001"))
    await link(runtime, admin, in_group)

    here = await say(runtime, in_group, "alerts here")
    assert here.title == "The Red Lion's alerts go to this chat", shown(here)
    off = await say(runtime, in_group, "alerts off")
    assert off.title == "Alerts for The Red Lion are off in this chat", shown(off)
    mine = await say(runtime, in_group, "alerts me")
    assert mine.title == "The Red Lion's alerts go to your private chat with the bot", shown(mine)
    muted = await say(runtime, telegram(turn("701", dm=True)), "alerts mute published")
    assert "until `alerts here` again" in shown(muted), "a command in a code span: Telegram's renderer slashes it"

    slack_admin = await factories.person(runtime, venue_id=pub.id, role=Role.admin)
    await link(runtime, slack_admin, turn("U-admin"))
    slack_mine = await say(runtime, turn("U-admin", chat="C-team"), "alerts me")
    assert slack_mine.title == "The Red Lion's alerts go to your direct messages with CheersAI", shown(slack_mine)


async def test_what_would_work_is_written_as_typed_on_each_platform(runtime: Runtime, pub: Pub) -> None:
    admin = await factories.person(runtime, venue_id=pub.id, role=Role.admin)
    private = telegram(turn("701", dm=True))
    await link(runtime, admin, private)

    typo = await say(runtime, private, "wek")
    assert typo.lines == ("I don't know 'wek'. Did you mean `week`? /week [next].", "For example: /week next"), typo
    alerts = await say(runtime, private, "alerts")
    assert (
        "Use: /alerts here [KINDS] | /alerts me [KINDS] | /alerts mute KIND [for 2h] | /alerts off"
        " | /alerts by email|chat|both | /alerts ops here|off." in (alerts.lines[0])
    ), shown(alerts)
    unknown = await say(runtime, private, "xyzzy")
    assert "I understand: /schedule, /week, /status," in unknown.lines[0], shown(unknown)
    assert unknown.lines[1].startswith("For example: /schedule fri 6pm"), shown(unknown)
    form = await say(runtime, private, "schedule")  # in a private chat the slash may be left out: no form to open
    assert form.lines[0] == "Send /schedule and I'll ask step by step.", shown(form)

    await link(runtime, admin, turn("U-admin"))
    slack_typo = await say(runtime, turn("U-admin"), "wek")
    assert slack_typo.lines == ("I don't know 'wek'. Did you mean `week`? week [next].", "For example: week next")


async def test_choosing_a_venue_and_a_bound_chat_use_each_platforms_words(runtime: Runtime, pub: Pub) -> None:
    crown = await factories.venue(runtime, name="The Crown")
    sam = await factories.person(runtime, venue_id=pub.id, role=Role.viewer)
    await factories.join(runtime, sam, crown, Role.editor)
    private = telegram(turn("701", dm=True))
    await link(runtime, sam, private)

    chosen = await say(runtime, private, "venue The Crown")
    assert "in groups not set up for a venue" in shown(chosen), shown(chosen)
    await link(runtime, sam, turn("U1", dm=True))
    slack_chosen = await say(runtime, turn("U1", dm=True), "venue The Crown")
    assert "in channels not set up for a venue" in shown(slack_chosen), shown(slack_chosen)

    owner = await factories.person(runtime, venue_id=crown, role=Role.owner)
    stranger = await factories.person(runtime, venue_id=pub.id, role=Role.admin)
    in_group = telegram(turn("702", chat="-1001"))
    await link(runtime, owner, in_group)
    await say(runtime, in_group, "venue The Crown")
    await say(runtime, in_group, "alerts here")
    outsider = telegram(turn("703", chat="-1001"))
    await link(runtime, stranger, outsider)
    refused = await say(runtime, outsider, "week")
    assert "This chat is set up for a venue you are not a member of." in shown(refused), shown(refused)
    assert "talk to me privately" in shown(refused), shown(refused)
