"""Alerts delivered to Telegram chats through the Telegram twin (real python-telegram-bot, real HTTP): every kind
with exactly its buttons (callback_data within 64 bytes), long bursts within Telegram's limits, the alert edited
in place when resolved, 429 retry_after honoured, a blocked person or a removed bot stopping that chat with the
venue's feed saying so, timeouts and 5xx, and the bot token absent from every log line."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.telegram.callbacks import MAX_BYTES, parse_data
from bot.telegram.sender import TelegramSender
from core.access.audit import Actor
from core.access.policy import VenueAccess
from core.chat import delivery
from core.chat.sending import AlertMessage, AnswerLost, ChatAddress, MessageGone, Transient
from core.logging import configure_logging
from core.notifications.actions import Offer
from core.notifications.kinds import KINDS, NotificationKind, offers_for
from core.publishing.actions import mark_published
from core.runtime import Runtime
from providers.errors import Permanent
from storage.enums import Channel, ChatMessageStatus, ChatPlatform, ConnectionStatus, Provider, Role, Severity
from storage.models import ChatAlertMessage
from tests import factories
from tests.chat_alerts.conftest import feed, get_destination, messages
from tests.publishing.conftest import Drain, drain, settings  # noqa: F401 - the engine's fixtures: no pacing, one tick
from tests.publishing.fakes import ScriptedPublisher
from tests.publishing.support import deliveries, schedule
from tests.sandbox_telegram.conftest import TelegramTwin, telegram  # noqa: F401 - the twin fixture
from tests.telegram_alerts.conftest import BOT_ID, telegram_chat
from tests.telegram_alerts.test_token_in_logs import no_token
from tests.test_logging import restore_logging  # noqa: F401 - put the logging set-up back after each test

GROUP = -1001234567890
OWNER = 555000111  # a person's private chat: the same id as the person
TARGET = 41


@dataclass(frozen=True)
class Sample:
    title: str
    reason: str
    remedy: str
    connection: ConnectionStatus = ConnectionStatus.active


SAMPLES: dict[NotificationKind, Sample] = {
    NotificationKind.publish_succeeded: Sample(
        "Published on Facebook Page The Red Lion: Quiz night", "It is live.", "Nothing to do."
    ),
    NotificationKind.publish_failed: Sample(
        "Failed on Facebook Page The Red Lion: Quiz night <b>& more</b>",
        "Facebook refused the request: (#100) bad link <a href=x>.",
        "Fix the link, then retry; or post it by hand with the manual package.",
    ),
    NotificationKind.publish_missed: Sample(
        "Missed on Instagram account redlion: Quiz night",
        "It could not go out before its freshness cutoff.",
        "Retry to send it now, or post it by hand.",
    ),
    NotificationKind.publish_in_doubt: Sample(
        "Not sure it went out on Facebook Page The Red Lion: Quiz night",
        "The request was sent but Facebook's answer was lost.",
        "CheersAI checks Facebook before anything is sent again.",
    ),
    NotificationKind.publish_needs_attention: Sample(
        "Did this go out on Facebook Page The Red Lion? Quiz night",
        "CheersAI can't tell whether it went out.",
        "Look at the Page, then mark it published or publish it again.",
    ),
    NotificationKind.connection_needs_reconnect: Sample(
        "Reconnect Facebook Page The Red Lion",
        "The access token expired.",
        "An owner or admin reconnects it; waiting posts then go out.",
        ConnectionStatus.needs_reconnect,
    ),
    NotificationKind.connection_expiring: Sample(
        "Facebook Page The Red Lion stops working in 3 days",
        "Facebook's access lapses on Sat 28 Nov.",
        "Reconnect it before then.",
        ConnectionStatus.expiring,
    ),
    NotificationKind.connection_revoked: Sample(
        "The Red Lion was disconnected on Facebook's side",
        "The person who connected it removed CheersAI.",
        "Reconnect it with an account that manages the Page.",
        ConnectionStatus.revoked,
    ),
    NotificationKind.connection_metadata_updated: Sample(
        "Facebook Page The Red Lion reconnected", "Its permissions changed.", "Nothing to do."
    ),
    NotificationKind.derivative_failed: Sample(
        "Could not prepare quiz.heic", "The file is not a photo CheersAI can read.", "Upload it as JPEG or PNG."
    ),
    NotificationKind.derivative_skipped: Sample(
        "Using the original of quiz.mov", "The video tools (ffmpeg) are missing.", "Install ffmpeg on the workers."
    ),
    NotificationKind.queue_stalled: Sample(
        "3 posts are due and nothing is publishing them",
        "No worker has claimed a due post for 5 minutes.",
        "Start a worker (cheers worker) and check its logs.",
    ),
    NotificationKind.chat_alerts_stopped: Sample(
        "Alerts to Telegram chat Ada stopped: the person blocked the bot",
        "Telegram says: Forbidden: bot was blocked by the user",
        "Unblock the bot (or add it back to the group), then send /alerts here in the chat.",
    ),
    NotificationKind.weekly_materialised: Sample(
        "Next week's posts from the weekly plan: 2 posts made",
        "Quiz night and Live music are made for next week.",
        "Approve them, or edit or skip one.",
    ),
    NotificationKind.approval_requested: Sample(
        "Waiting for approval: Quiz night",
        "An editor's post waits for an admin or owner.",
        "Approve or reject it before its time; unapproved, it is not sent.",
    ),
    NotificationKind.approval_decided: Sample(
        "Approved: Quiz night",
        "Ada Admin approved your post at Fri 4 Dec 18:02 GMT.",
        "Nothing to do: it goes out at its time.",
    ),
}


@pytest.fixture
async def sender(runtime: Runtime, telegram: TelegramTwin) -> AsyncIterator[TelegramSender]:  # noqa: F811
    """The app's Telegram sender pointed at the twin, as install_telegram_sender builds it."""
    built = TelegramSender(telegram.url, telegram.token, timeout=5)
    runtime.chat_senders[ChatPlatform.telegram] = built
    yield built
    await built.close()


async def group(telegram: TelegramTwin, chat_id: int = GROUP) -> None:  # noqa: F811
    """The bot added to a group, as someone in the pub does."""
    await telegram.control.bot_added(chat_id, title="The Red Lion staff", by_user_id=OWNER)


async def private(telegram: TelegramTwin, user_id: int = OWNER, name: str = "Ada") -> None:  # noqa: F811
    """A person who started a private chat with the bot."""
    await telegram.control.user_says("/start", user_id=user_id, user_name=name)


async def problem(runtime: Runtime, venue_id: int, title: str, connection_id: int = 3) -> None:
    """A connection the venue's team hears about (any chat of the venue takes it)."""
    await factories.record_notification(
        runtime, venue_id, kind=NotificationKind.connection_revoked, severity=Severity.error, title=title,
        subject={"connection_id": connection_id},
    )  # fmt: skip


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


def offers(message: dict[str, Any]) -> list[Offer]:
    found = []
    for button in buttons(message):
        data = button.get("callback_data")
        if data is None:
            continue
        assert len(data.encode()) <= MAX_BYTES
        offer = parse_data(data)
        assert isinstance(offer, Offer), data
        found.append(offer)
    return found


async def alert(
    runtime: Runtime,
    telegram: TelegramTwin,  # noqa: F811
    kind: NotificationKind,
    count: int = 1,
    *,
    long: bool = False,
) -> dict[str, Any]:
    """`count` alerts of `kind` about one connection, delivered to the Telegram chat that takes them; the message."""
    sample = SAMPLES.get(kind)
    assert sample is not None, f"{kind} reaches chat but this test does not know how its alert reads: add it to SAMPLES"
    venue_id = await factories.venue(runtime, name="The Red Lion")
    connection_id = await factories.connection(runtime, venue_id, access_token="page-token", status=sample.connection)
    author_id: int | None = None
    if KINDS[kind].audience.value in ("on_call", "author"):  # a person's own private chat, never a group
        staff = await factories.person(runtime, venue_id=venue_id, role=Role.admin, staff=True)
        await private(telegram)
        await telegram_chat(runtime, venue_id, str(OWNER), name="Ada", user_id=staff.user_id)
        chat, author_id = OWNER, staff.user_id
    else:
        await group(telegram)
        await telegram_chat(runtime, venue_id, str(GROUP), name="The Red Lion staff")
        chat = GROUP
    reason = sample.reason + (" Facebook said: " + "x <&> " * 700 if long else "")
    for i in range(count):
        await factories.record_notification(
            runtime, venue_id, kind=kind, severity=KINDS[kind].severity, title=sample.title,
            subject={"target_id": TARGET + i, "connection_id": connection_id, "post_id": 7 + i,
                     "author_user_id": author_id},
            payload={"reason": reason, "remedy": sample.remedy},
            actions=offers_for(kind, target_id=TARGET + i, connection_id=connection_id, post_id=7 + i),
        )  # fmt: skip
    outcome = await delivery.run(runtime)
    assert outcome.get("posted") == 1, f"{kind}: the alert was not posted as one message: {outcome}"
    [posted] = await telegram.control.messages(chat)
    return posted


@pytest.mark.parametrize("kind", list(NotificationKind), ids=lambda k: k.value)
async def test_each_kinds_alert_names_what_happened_and_offers_exactly_its_buttons(
    kind: NotificationKind,
    runtime: Runtime,
    telegram: TelegramTwin,  # noqa: F811
    sender: TelegramSender,
) -> None:
    posted = await alert(runtime, telegram, kind)

    sample = SAMPLES[kind]
    assert posted["text"].splitlines()[0] == sample.title  # shown as written, markup and all, never parsed
    assert posted["html"].startswith("<b>")
    assert sample.reason in posted["text"] and sample.remedy in posted["text"], posted["text"]
    offered = offers(posted)
    assert [o.action for o in offered] == list(KINDS[kind].offers), f"{kind}: buttons {buttons(posted)}"
    assert [b["text"] for b in buttons(posted)] == [o.label for o in offered]  # the labels Slack shows
    assert all(o.target_id == TARGET or o.connection_id is not None or o.post_id or o.notification_id for o in offered)


@pytest.mark.parametrize("kind", [k for k in NotificationKind if KINDS[k].offers], ids=lambda k: k.value)
async def test_a_long_burst_of_each_kind_stays_inside_telegrams_limits_with_every_shown_alert_keeping_its_buttons(
    kind: NotificationKind,
    runtime: Runtime,
    telegram: TelegramTwin,  # noqa: F811
    sender: TelegramSender,
) -> None:
    count = 40 if kind in delivery.GROUP_TITLES else 1  # per-post kinds group by connection into one message
    posted = await alert(runtime, telegram, kind, count=count, long=True)

    assert len(posted["text"]) <= 4096  # and the twin took it: Telegram's HTML rules and limits held
    assert len(buttons(posted)) <= 100
    offered = offers(posted)
    per_item = len(KINDS[kind].offers)
    assert len(offered) % per_item == 0 and offered
    for start in range(0, len(offered), per_item):
        assert [o.action for o in offered[start : start + per_item]] == list(KINDS[kind].offers)
    if count > 1:
        shown = len(re.findall(r"^\d+\. ", posted["text"], re.M))
        more = re.search(r"… and (\d+) more$", posted["text"])
        assert shown + (int(more.group(1)) if more else 0) == count, "a cut list should say how many more"
        assert len(offered) == shown * per_item
        assert offered[0].target_id == TARGET and offered[per_item].target_id == TARGET + 1
        assert buttons(posted)[0]["text"].startswith("1 · ")


async def test_the_alert_is_edited_in_place_when_resolved_and_its_buttons_go(
    runtime: Runtime,
    telegram: TelegramTwin,  # noqa: F811
    sender: TelegramSender,
    drain: Drain,  # noqa: F811
    clock: Any,
) -> None:
    venue_id = await factories.venue(runtime, name="The Anchor")
    admin = await factories.person(runtime, venue_id=venue_id, role=Role.admin, name="Ada Admin")
    connection_id = await factories.connection(runtime, venue_id, access_token="page-token")
    runtime.use_providers({p: ScriptedPublisher(script=[Permanent("Facebook refused the request.")]) for p in Provider})  # type: ignore[misc]
    await group(telegram)
    await telegram_chat(runtime, venue_id, str(GROUP), name="The Anchor staff")

    saved = await schedule(runtime, venue_id, [connection_id])
    await drain()
    await delivery.run(runtime)
    [posted] = await telegram.control.messages(GROUP)
    assert [b["text"] for b in buttons(posted)] == ["Retry", "Download the manual package"]

    clock.advance(minutes=3)
    [target] = await deliveries(runtime, saved.post.id)
    async with runtime.uow() as uow:
        access = VenueAccess(Actor(user_id=admin.user_id, channel=Channel.api), venue_id, Role.admin)
        await mark_published(runtime, uow.session, access, target.id, None)
        await uow.commit()
    clock.advance(seconds=5)  # past the group's spacing
    outcome = await delivery.run(runtime)

    assert outcome.get("updated") == 1, outcome
    [edited] = await telegram.control.messages(GROUP)
    assert edited["message_id"] == posted["message_id"] and edited["edited"] == 1
    assert edited["text"].startswith("Resolved: ") and "Resolved by Ada Admin" in edited["text"]
    assert buttons(edited) == []

    # Sending the same edit again (a retried pass) is "message is not modified": done, not an error.
    address = ChatAddress(ChatPlatform.telegram, BOT_ID, str(GROUP))
    resolved = AlertMessage(title=edited["text"].splitlines()[0], lines=tuple(edited["text"].splitlines()[1:]))
    await sender.update(address, str(edited["message_id"]), resolved)
    await sender.update(address, str(edited["message_id"]), resolved)
    *_, again = await telegram.control.calls("editMessageText")
    assert again["status"] == 400 and "message is not modified" in again["description"]


async def test_editing_an_alert_someone_deleted_is_message_gone(
    telegram: TelegramTwin,  # noqa: F811
    sender: TelegramSender,
) -> None:
    await group(telegram)
    address = ChatAddress(ChatPlatform.telegram, BOT_ID, str(GROUP))
    ref = await sender.post(address, AlertMessage(title="Quiz night failed"))
    async with telegram.bot() as bot:
        await bot.delete_message(GROUP, int(ref))
    with pytest.raises(MessageGone):
        await sender.update(address, ref, AlertMessage(title="Resolved: Quiz night failed"))


@pytest.mark.parametrize("as_timedelta", [False, True], ids=["int", "timedelta"])
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_a_429_waits_retry_after_then_the_alert_goes_out_once(
    as_timedelta: bool,
    runtime: Runtime,
    telegram: TelegramTwin,  # noqa: F811
    sender: TelegramSender,
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if as_timedelta:
        monkeypatch.setenv("PTB_TIMEDELTA", "true")  # PTB then gives retry_after as a timedelta
    venue_id = await factories.venue(runtime, name="The Anchor")
    await private(telegram)
    await telegram_chat(runtime, venue_id, str(OWNER), name="Ada")
    await telegram.control.rate_limit("sendMessage", retry_after=7)
    await problem(runtime, venue_id, "Nothing publishes")

    assert (await delivery.run(runtime)).get("rate_limited") == 1
    [waiting] = await messages(runtime)
    assert waiting.status is ChatMessageStatus.pending and waiting.next_attempt_at == clock.now() + timedelta(seconds=7)
    assert await telegram.control.messages(OWNER) == []
    clock.advance(seconds=6)
    assert "posted" not in await delivery.run(runtime)
    clock.advance(seconds=1)
    assert (await delivery.run(runtime)).get("posted") == 1
    [posted] = await telegram.control.messages(OWNER)
    assert posted["text"].startswith("Nothing publishes")
    assert [c["status"] for c in await telegram.control.calls("sendMessage")] == [429, 200]


async def test_a_person_who_blocked_the_bot_stops_deliveries_there_and_the_venues_feed_says_so(
    runtime: Runtime,
    telegram: TelegramTwin,  # noqa: F811
    sender: TelegramSender,
    clock: Any,
) -> None:
    venue_id = await factories.venue(runtime, name="The Anchor")
    await private(telegram, OWNER, "Ada")
    await group(telegram)
    blocked_id = await telegram_chat(runtime, venue_id, str(OWNER), name="Ada")
    await telegram_chat(runtime, venue_id, str(GROUP), name="The Anchor staff")
    await telegram.control.block(OWNER)
    await factories.record_notification(
        runtime, venue_id, kind=NotificationKind.connection_revoked, severity=Severity.error,
        title="The Anchor was disconnected on Facebook's side", subject={"connection_id": 3},
    )  # fmt: skip

    outcome = await delivery.run(runtime)
    assert outcome.get("gone") == 1 and outcome.get("posted") == 1, outcome
    stopped_chat = await get_destination(runtime, blocked_id)
    assert stopped_chat.disabled_at is not None
    assert stopped_chat.disabled_reason == "Telegram says: Forbidden: bot was blocked by the user"
    [note] = [n for n in await feed(runtime, venue_id) if n.kind == NotificationKind.chat_alerts_stopped]
    assert note.title == "Alerts to Telegram chat Ada stopped: the person blocked the bot"
    assert note.payload["remedy"].startswith("Unblock the bot")

    clock.advance(seconds=5)
    await delivery.run(runtime)  # the stop itself reaches the group, which still takes alerts
    texts = [m["text"] for m in await telegram.control.messages(GROUP)]
    assert any(t.startswith("Alerts to Telegram chat Ada stopped: the person blocked the bot") for t in texts), texts

    sends_to_blocked = len([c for c in await telegram.control.calls("sendMessage") if c.get("status") == 403])
    clock.advance(minutes=5)
    await factories.record_notification(
        runtime, venue_id, kind=NotificationKind.connection_revoked, severity=Severity.error,
        title="Another page was disconnected", subject={"connection_id": 4},
    )  # fmt: skip
    await delivery.run(runtime)
    assert len([c for c in await telegram.control.calls("sendMessage") if c.get("status") == 403]) == sends_to_blocked
    assert await telegram.control.messages(OWNER) == []


async def test_a_group_that_removed_the_bot_stops_with_its_own_words(
    runtime: Runtime,
    telegram: TelegramTwin,  # noqa: F811
    sender: TelegramSender,
) -> None:
    venue_id = await factories.venue(runtime, name="The Anchor")
    await group(telegram)
    await telegram_chat(runtime, venue_id, str(GROUP), name="The Anchor staff")
    await telegram.control.kick(GROUP)
    await problem(runtime, venue_id, "Nothing publishes")
    assert (await delivery.run(runtime)).get("gone") == 1
    [note] = [n for n in await feed(runtime, venue_id) if n.kind == NotificationKind.chat_alerts_stopped]
    assert note.title == "Alerts to Telegram chat The Anchor staff stopped: the bot was removed from the group"


async def test_a_5xx_or_a_timeout_on_a_post_counts_as_lost_and_on_an_edit_as_passing(
    telegram: TelegramTwin,  # noqa: F811
    sender: TelegramSender,
) -> None:
    await group(telegram)
    address = ChatAddress(ChatPlatform.telegram, BOT_ID, str(GROUP))
    ref = await sender.post(address, AlertMessage(title="First"))
    await telegram.control.server_error("sendMessage", status=502)
    with pytest.raises(AnswerLost):
        await sender.post(address, AlertMessage(title="Second"))
    await telegram.control.server_error("editMessageText", status=502)
    with pytest.raises(Transient):
        await sender.update(address, ref, AlertMessage(title="First, edited"))

    # Only the calls Telegram holds use the short timeout: the others must not time out on a busy machine.
    quick = TelegramSender(telegram.url, telegram.token, timeout=1)
    try:
        await quick._started()  # getMe before anything is held
        await telegram.control.delay("sendMessage", seconds=4)
        with pytest.raises(AnswerLost):
            await quick.post(address, AlertMessage(title="Third"))
        await telegram.control.delay("editMessageText", seconds=4)
        with pytest.raises(Transient):
            await quick.update(address, ref, AlertMessage(title="First, edited again"))
    finally:
        await quick.close()


async def test_the_bot_token_is_in_no_log_line_of_a_delivery(
    runtime: Runtime,
    telegram: TelegramTwin,  # noqa: F811
    sender: TelegramSender,
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("DEBUG", "json")
    logging.getLogger("httpx").setLevel(logging.DEBUG)  # the request lines, with their URLs
    venue_id = await factories.venue(runtime, name="The Anchor")
    await private(telegram)
    await telegram_chat(runtime, venue_id, str(OWNER), name="Ada")
    await telegram.control.block(OWNER)
    await problem(runtime, venue_id, "Nothing publishes")
    await delivery.run(runtime)

    wrong = TelegramSender(telegram.url, "7000000001:AAHthis-token-was-revoked-by-botfather-xx")
    with pytest.raises(Transient) as refused:
        await wrong.post(ChatAddress(ChatPlatform.telegram, BOT_ID, str(OWNER)), AlertMessage(title="Hi"))
    await wrong.close()

    output = capsys.readouterr().err
    no_token(output)
    assert "AAHthis-token" not in output and "AAHthis-token" not in refused.value.reason
    assert "sendMessage" in output and "chat_alerts_stopped" in output  # the lines were logged, redacted
    async with runtime.db.session() as session:
        stored = (await session.execute(select(ChatAlertMessage.last_error))).scalars().all()
    no_token(" ".join(str(s) for s in stored))
