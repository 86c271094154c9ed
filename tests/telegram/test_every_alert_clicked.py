"""Every button an alert offers (core.notifications.kinds), clicked in Telegram by a person whose role allows it and
by one whose role doesn't: a real alert of a kind offering it, raised for a venue whose staff group was set up with
`/alerts here`, delivered to the twin by the alert delivery; each click a real callback_query through the webhook.
The allowed click does its work (the database changes, a private consent link, the zip in the group, a diagnosis),
the refused one is told privately which role it needs and changes nothing, every click is answered
(answerCallbackQuery), and the alert is edited to "Resolved" when the action solved it. Mark published asks for the
post's link in the clicker's private chat (a bad link asked again, Without a link, /cancel).

One app, one twin and one database per module (and per database): each test has its own venue, group and people.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from sqlalchemy import select, update

from api.app import create_app
from bot.telegram.mark_published import WITHOUT_A_LINK
from bot.telegram.sender import install_telegram_sender
from core.chat import delivery as chat_delivery
from core.clock import FrozenClock
from core.notifications.actions import LABELS, NOTIFICATION_ACTIONS, POST_ACTIONS, Action
from core.notifications.kinds import KINDS, NotificationKind, offers_for
from core.publishing.dispatcher import tick
from core.publishing.engine import run_delivery
from core.runtime import Runtime, build_runtime
from providers.errors import Permanent
from sandbox.clock import TwinClock
from sandbox.server import TwinServer
from sandbox.telegram.state import DEV_WEBHOOK_SECRET
from sandbox.telegram.twin import running_telegram_twin
from storage.enums import ConnectionStatus, Severity
from storage.models import ChatConversation, DeliveryStatus, PostTarget, Provider, Role
from tests import factories
from tests.bot.conftest import DiagnosingPublisher
from tests.conftest import _empty_pg
from tests.publishing.support import delivery, schedule
from tests.telegram.conftest import WEBHOOK, Chats, TelegramTwin, buttons, telegram_settings

pytestmark = pytest.mark.asyncio(loop_scope="module")

Body = dict[str, Any]
_numbers = itertools.count(1)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def module_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The module's database (the suite's migrated template), shared by its tests; SQLite, and PostgreSQL."""
    if request.param == "sqlite":
        target = tmp_path_factory.mktemp("every-alert-db") / "cheers.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite+aiosqlite:///{target}"
    url: str = request.getfixturevalue("pg_template_url")
    _empty_pg(url)
    return url


@dataclass
class World:
    """The served app, the twin with its webhook at it, the clock both follow, and the venues' one publisher."""

    runtime: Runtime
    clock: FrozenClock
    chats: Chats
    publisher: DiagnosingPublisher

    @property
    def control(self) -> Any:
        return self.chats.twin.control


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def world(module_database: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    tmp = tmp_path_factory.mktemp("every-alert")
    clock = factories.SharedFrozenClock(datetime(2026, 11, 25, 12, 0, tzinfo=UTC), tmp / "var")
    async with running_telegram_twin(clock=TwinClock(clock)) as (twin_url, control, state):
        await control.configure_webhook(resend_attempts=1)
        settings = telegram_settings(module_database, tmp, twin_url, cheers_connection_min_interval_seconds=0)
        runtime = build_runtime(settings, clock=clock)
        publisher = DiagnosingPublisher()
        runtime.use_providers({p: publisher for p in Provider})  # type: ignore[misc]
        try:
            app: Any = create_app(runtime=runtime, configure_logs=False)
            async with LifespanManager(app):
                server = TwinServer(app)
                url = await server.start()
                try:
                    await control.set_webhook(
                        f"{url}{WEBHOOK}",
                        DEV_WEBHOOK_SECRET,
                        allowed_updates=["message", "callback_query", "my_chat_member"],
                    )
                    install_telegram_sender(runtime)
                    chats = Chats(TelegramTwin(twin_url, control, state), runtime)
                    yield World(runtime, clock, chats, publisher)
                finally:
                    await server.stop()
        finally:
            await runtime.close()


# --- a venue of its own per test: its staff group set up with /alerts here, its people linked in Telegram -------


@dataclass
class Venue:
    id: int
    connection_id: int
    group: int
    users: dict[str, int] = field(default_factory=dict)  # "admin", "editor", "viewer", "outsider" → Telegram id


async def venue(world: World, *, connection: ConnectionStatus = ConnectionStatus.active) -> Venue:
    n = next(_numbers)
    venue_id = await factories.venue(world.runtime, name=f"The Red Lion {n}")
    connection_id = await factories.connection(
        world.runtime, venue_id, access_token=f"page-token-{n}", status=connection
    )
    made = Venue(venue_id, connection_id, group=-(5000 + n))
    for k, (who, role) in enumerate((("admin", Role.admin), ("editor", Role.editor), ("viewer", Role.viewer))):
        name = f"{who.title()} {n}"
        person = await factories.person(world.runtime, venue_id=venue_id, role=role, name=name)
        made.users[who] = 10_000 + 10 * n + k
        await world.chats.link(person, made.users[who], name=name)
    elsewhere = await factories.venue(world.runtime, name=f"The Crown {n}")
    outsider = await factories.person(world.runtime, venue_id=elsewhere, role=Role.owner, name=f"Outsider {n}")
    made.users["outsider"] = 10_000 + 10 * n + 9
    await world.chats.link(outsider, made.users["outsider"], name=f"Outsider {n}")
    [here] = await world.chats.says("/alerts here", made.users["admin"], group=made.group)
    assert "alerts go to this" in here["text"], here
    return made


async def drain(world: World) -> None:
    """One dispatcher tick, its deliveries run here one after another (as a single worker would)."""
    one_at_a_time = asyncio.Lock()

    async def handoff(target_id: int, token: str) -> None:
        async with one_at_a_time:
            await run_delivery(world.runtime, target_id, token, worker="test")

    await tick(world.runtime, handoff)


async def failed_delivery(world: World, place: Venue) -> int:
    """A post sent now that Facebook refuses for good: the failed delivery (its publish_failed alert raised)."""
    world.publisher.script = [Permanent("Facebook refused the request: (#100) bad link")]
    saved = await schedule(world.runtime, place.id, [place.connection_id], text="Quiz night")
    await drain(world)
    target_id = await _target_of(world, saved.post.id)
    assert (await delivery(world.runtime, target_id)).status is DeliveryStatus.failed
    return target_id


async def _target_of(world: World, post_id: int) -> int:
    async with world.runtime.uow() as uow:
        return int((await uow.session.execute(select(PostTarget.id).where(PostTarget.post_id == post_id))).scalar_one())


async def needs_a_decision(world: World, place: Venue) -> int:
    """A delivery CheersAI can't tell went out, and its publish_needs_attention alert raised."""
    target_id = await failed_delivery(world, place)
    async with world.runtime.uow() as uow:
        await uow.session.execute(
            update(PostTarget).where(PostTarget.id == target_id).values(status=DeliveryStatus.needs_attention)
        )
        await uow.commit()
    kind = NotificationKind.publish_needs_attention
    await factories.record_notification(
        world.runtime, place.id, kind=kind, severity=Severity.error,
        title=f"Did Quiz night go out on Facebook Page (delivery {target_id})?",
        subject={"target_id": target_id, "connection_id": place.connection_id},
        payload={"reason": "CheersAI can't tell whether it went out.", "remedy": "Look, then say which it is."},
        actions=offers_for(kind, target_id=target_id),
    )  # fmt: skip
    return target_id


async def needs_reconnect(world: World, place: Venue) -> int:
    """The venue's connection lost its access, and its connection_needs_reconnect alert raised."""
    kind = NotificationKind.connection_needs_reconnect
    await factories.record_notification(
        world.runtime, place.id, kind=kind, severity=Severity.error,
        title="Reconnect Facebook Page The Red Lion",
        subject={"connection_id": place.connection_id},
        payload={"reason": "The access token expired.", "remedy": "An owner or admin reconnects it."},
        actions=offers_for(kind, connection_id=place.connection_id),
    )  # fmt: skip
    return place.connection_id


async def alert_with(world: World, place: Venue, label: str) -> Body:
    """The newest alert in the venue's group offering `label` (the alert delivery run here; its woken task may
    have been first). The clock moves past the group's pacing between passes."""

    async def posted() -> Body | None:
        await chat_delivery.run(world.runtime)
        world.clock.advance(seconds=2)  # (run first: an alert is asked for right after it was raised)
        found = [m for m in await world.control.messages(place.group) if label in [b["text"] for b in buttons(m)]]
        return found[-1] if found else None

    return await factories.eventually(posted, what=f"an alert offering {label!r} in group {place.group}")


async def click(world: World, place: Venue, alert: Body, label: str, who: str) -> str:
    """`who` presses `label` under the alert; the callback query's id, once it is answered."""
    clicked = await world.control.user_clicks(
        label, user_id=place.users[who], chat_id=place.group, message_id=alert["message_id"]
    )
    assert clicked["status"] == 200, clicked
    query_id = str(clicked["update"]["callback_query"]["id"])

    async def answered() -> Body | None:
        return next((a for a in await world.control.callback_answers() if a["callback_query_id"] == query_id), None)

    answer = await factories.eventually(answered, what=f"the click on {label!r} answered (answerCallbackQuery)")
    assert answer["user_id"] == place.users[who]
    return query_id


async def new_in(world: World, chat: int, before: int, count: int = 1) -> list[Body]:
    return await world.chats.new_messages(chat, before, count)


async def count_in(world: World, chat: int) -> int:
    return len(await world.control.messages(chat))


async def resolved(world: World, place: Venue, alert: Body) -> Body:
    """The alert edited in place to "Resolved …" without its buttons. The clock moves on a few seconds a pass: the
    group's pacing (a message a second; a "Published" alert may go first) holds the edit on a stopped clock."""

    async def edited() -> Body | None:
        world.clock.advance(seconds=3)
        await chat_delivery.run(world.runtime)
        now = next(m for m in await world.control.messages(place.group) if m["message_id"] == alert["message_id"])
        return now if now["text"].startswith("Resolved") else None

    found = await factories.eventually(edited, what="the alert edited to Resolved")
    assert buttons(found) == [], found
    return found


async def still_open(world: World, place: Venue, alert: Body) -> None:
    await chat_delivery.run(world.runtime)
    now = next(m for m in await world.control.messages(place.group) if m["message_id"] == alert["message_id"])
    assert not now["text"].startswith("Resolved") and buttons(now), now


# --- each action: who may, who may not, and what a click does ------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """An action on alerts: the role that may press it, one that may not (and the words refusing them)."""

    action: Action
    allowed: str
    refused: str
    refusal: str  # in the private answer to the refused person

    @property
    def label(self) -> str:
        return LABELS[self.action]

    @property
    def kind(self) -> NotificationKind:
        """The first kind whose alerts offer the action (core.notifications.kinds's table)."""
        return next(k for k in NotificationKind if self.action in KINDS[k].offers)


CASES = (
    Case(Action.retry, allowed="editor", refused="viewer", refusal="editor"),
    Case(Action.manual_package, allowed="viewer", refused="outsider", refusal="Not found"),
    Case(Action.mark_published, allowed="editor", refused="viewer", refusal="editor"),
    Case(Action.publish_again, allowed="editor", refused="viewer", refusal="editor"),
    Case(Action.reconnect, allowed="admin", refused="editor", refusal="Only the venue's owners and admins"),
    Case(Action.diagnose, allowed="editor", refused="viewer", refusal="editor"),
)


async def test_every_action_offered_on_alerts_is_clicked_here() -> None:
    # A post's approval and the week's buttons are clicked in tests/weekly/test_chat_approval_telegram.py.
    offered = {a for info in KINDS.values() for a in info.offers} - POST_ACTIONS - NOTIFICATION_ACTIONS
    assert offered == {c.action for c in CASES}, "an action alerts offer has no click test here"


async def raise_alert(world: World, place: Venue, case: Case) -> int:
    """A real alert of the case's kind in the group; the delivery or connection it is about."""
    if case.kind is NotificationKind.publish_failed:
        return await failed_delivery(world, place)  # raised by the publishing engine itself
    if case.kind is NotificationKind.publish_needs_attention:
        return await needs_a_decision(world, place)
    assert case.kind is NotificationKind.connection_needs_reconnect, case.kind
    return await needs_reconnect(world, place)


Check = Callable[[World, Venue, Body, int], Awaitable[None]]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.action.value)
async def test_each_alert_button_clicked_by_a_refused_then_an_allowed_person(world: World, case: Case) -> None:
    place = await venue(world, connection=_connection_for(case.kind))
    subject = await raise_alert(world, place, case)
    alert = await alert_with(world, place, case.label)
    assert alert["text"], alert
    calls_before = len(world.publisher.calls)
    diagnosed_before = world.publisher.diagnosed

    # Refused: told privately which role it takes; nothing changes and nothing is asked.
    refused_user = place.users[case.refused]
    private_before, group_before = await count_in(world, refused_user), await count_in(world, place.group)
    await click(world, place, alert, case.label, case.refused)
    [refusal] = await new_in(world, refused_user, private_before)
    assert case.refusal in refusal["text"], refusal
    assert "can't" in refusal["text"].lower() or "not found" in refusal["text"].lower(), refusal
    await _nothing_changed(world, place, case, subject, group_before)
    assert len(world.publisher.calls) == calls_before and world.publisher.diagnosed == diagnosed_before
    await still_open(world, place, alert)

    # Allowed: the action's outcome.
    await OUTCOMES[case.action](world, place, alert, subject)


def _connection_for(kind: NotificationKind) -> ConnectionStatus:
    if kind is NotificationKind.connection_needs_reconnect:
        return ConnectionStatus.needs_reconnect
    return ConnectionStatus.active


async def _nothing_changed(world: World, place: Venue, case: Case, subject: int, group_before: int) -> None:
    group = (await world.control.messages(place.group))[group_before:]
    assert not [m for m in group if m.get("document")], "a refused person got the package"
    assert all(m["text"].startswith("I've sent you a private message") for m in group), group
    if case.kind is NotificationKind.connection_needs_reconnect:
        assert await _reconnects_started(world, place) == 0
        return
    row = await delivery(world.runtime, subject)
    expected = DeliveryStatus.failed if case.kind is NotificationKind.publish_failed else DeliveryStatus.needs_attention
    assert row.status is expected, row.status
    assert await _questions(world, place) == [], "a refused person was asked for a link"


async def _reconnects_started(world: World, place: Venue) -> int:
    """Consent links started for the venue (the module's other venues left theirs in the same database)."""
    entries = await factories.audit_entries(world.runtime, "reconnect_started")
    return len([e for e in entries if e.account_id == place.id])


async def _questions(world: World, place: Venue) -> list[str]:
    """What the bot is waiting for from the venue's people (other tests' people may be asked things too)."""
    people = [str(user) for user in place.users.values()]
    async with world.runtime.uow() as uow:
        query = select(ChatConversation.kind).where(ChatConversation.chat_user_id.in_(people))
        return list((await uow.session.execute(query)).scalars())


# --- the allowed click's outcome, per action ------------------------------------------------------------------------


async def _retry(world: World, place: Venue, alert: Body, target_id: int) -> None:
    before = await count_in(world, place.group)
    await click(world, place, alert, LABELS[Action.retry], "editor")
    [said] = await new_in(world, place.group, before)  # the worker's answer, under the alert
    assert "Sending to Facebook Page" in said["text"] and said["reply_to_message_id"] == alert["message_id"], said
    assert (await delivery(world.runtime, target_id)).status is DeliveryStatus.scheduled
    await drain(world)  # it goes out this time
    assert (await delivery(world.runtime, target_id)).status is DeliveryStatus.published
    edited = await resolved(world, place, alert)
    assert "Resolved by Editor" in edited["text"], edited


async def _manual_package(world: World, place: Venue, alert: Body, target_id: int) -> None:
    await click(world, place, alert, LABELS[Action.manual_package], "viewer")

    async def shared() -> Body | None:
        return next((m for m in await world.control.messages(place.group) if m.get("document")), None)

    zipped = await factories.eventually(shared, what="the manual package in the group")
    assert zipped["document"]["file_name"].endswith(".zip") and zipped["reply_to_message_id"] == alert["message_id"]
    assert (await delivery(world.runtime, target_id)).status is DeliveryStatus.failed
    await still_open(world, place, alert)  # a package helps; the delivery is not solved by it


async def _mark_published(world: World, place: Venue, alert: Body, target_id: int) -> None:
    editor = place.users["editor"]
    before = await count_in(world, editor)
    await click(world, place, alert, LABELS[Action.mark_published], "editor")
    [question] = await new_in(world, editor, before)
    assert question["text"].startswith("Paste the post's link on Facebook Page"), question
    assert [b["text"] for b in buttons(question)] == [WITHOUT_A_LINK], question
    link = "https://www.facebook.com/redlion/posts/1"
    [marked] = await world.chats.says(link, editor)
    assert marked["text"].startswith("Marked as published on Facebook Page") and link in marked["text"], marked
    row = await delivery(world.runtime, target_id)
    assert (row.status, row.permalink) == (DeliveryStatus.published, link)
    edited = await resolved(world, place, alert)
    assert "Resolved by Editor" in edited["text"], edited


async def _publish_again(world: World, place: Venue, alert: Body, target_id: int) -> None:
    before = await count_in(world, place.group)
    await click(world, place, alert, LABELS[Action.publish_again], "editor")
    [said] = await new_in(world, place.group, before)
    assert "Sending to Facebook Page" in said["text"], said
    assert (await delivery(world.runtime, target_id)).status is DeliveryStatus.scheduled
    await drain(world)
    assert (await delivery(world.runtime, target_id)).status is DeliveryStatus.published
    await resolved(world, place, alert)


async def _reconnect(world: World, place: Venue, alert: Body, connection_id: int) -> None:
    admin = place.users["admin"]
    before = await count_in(world, admin)
    await click(world, place, alert, LABELS[Action.reconnect], "admin")
    [consent] = await new_in(world, admin, before)  # privately: the link is the admin's alone
    assert consent["text"].startswith("Reconnect Facebook Page"), consent
    assert any("/oauth/facebook/start?state=" in (b.get("url") or "") for b in buttons(consent)), consent
    assert await _reconnects_started(world, place) == 1
    await still_open(world, place, alert)  # resolved once the admin finishes at Facebook


async def _diagnose(world: World, place: Venue, alert: Body, connection_id: int) -> None:
    before = await count_in(world, place.group)
    diagnosed = world.publisher.diagnosed
    await click(world, place, alert, LABELS[Action.diagnose], "editor")
    [said] = await new_in(world, place.group, before)  # the worker's answer, under the alert
    assert ": healthy" in said["text"] or "needs attention" in said["text"], said
    assert world.publisher.diagnosed == diagnosed + 1


OUTCOMES: dict[Action, Check] = {
    Action.retry: _retry,
    Action.manual_package: _manual_package,
    Action.mark_published: _mark_published,
    Action.publish_again: _publish_again,
    Action.reconnect: _reconnect,
    Action.diagnose: _diagnose,
}


# --- Mark published's question in the private chat ------------------------------------------------------------------


async def test_mark_published_asks_again_for_a_bad_link_takes_without_a_link_and_cancel(world: World) -> None:
    place = await venue(world)
    first = await needs_a_decision(world, place)
    label = LABELS[Action.mark_published]
    alert = await alert_with(world, place, label)
    editor = place.users["editor"]

    # A bad link is asked for again in core's words; /cancel leaves it as it was.
    before = await count_in(world, editor)
    await click(world, place, alert, label, "editor")
    [question] = await new_in(world, editor, before)
    [again] = await world.chats.says("facebook.com/redlion", editor)
    assert again["text"].startswith("Paste the post's link") and "https:// address" in again["text"], again
    assert (await delivery(world.runtime, first)).status is DeliveryStatus.needs_attention
    [cancelled] = await world.chats.says("/cancel", editor)
    assert cancelled["text"].startswith("Not marked"), cancelled
    assert await _questions(world, place) == []
    [week] = await world.chats.says("week", editor)  # the next private message is no answer any more
    assert "The Red Lion" in week["text"], week
    assert (await delivery(world.runtime, first)).status is DeliveryStatus.needs_attention

    # Asked again, and answered with the button: marked without a link; the old question's button is stale.
    before = await count_in(world, editor)
    await click(world, place, alert, label, "editor")
    [asked] = await new_in(world, editor, before)
    before = await count_in(world, editor)
    pressed = await world.control.user_clicks(
        WITHOUT_A_LINK, user_id=editor, chat_id=editor, message_id=asked["message_id"]
    )
    assert pressed["status"] == 200, pressed
    [marked] = await new_in(world, editor, before)
    assert marked["text"].startswith("Marked as published"), marked
    row = await delivery(world.runtime, first)
    assert (row.status, row.permalink) == (DeliveryStatus.published, None)
    shown = next(m for m in await world.control.messages(editor) if m["message_id"] == asked["message_id"])
    assert buttons(shown) == [] and "without a link" in shown["text"], shown
    stale = await world.control.user_clicks(
        WITHOUT_A_LINK, user_id=editor, chat_id=editor, message_id=question["message_id"]
    )
    query_id = stale["update"]["callback_query"]["id"]
    [toast] = [a for a in await world.control.callback_answers() if a["callback_query_id"] == query_id]
    assert toast["text"] == "This button is out of date", toast
    await resolved(world, place, alert)


async def test_mark_published_does_not_cut_a_guided_schedule_short(world: World) -> None:
    place = await venue(world)
    target_id = await needs_a_decision(world, place)
    label = LABELS[Action.mark_published]
    alert = await alert_with(world, place, label)
    editor = place.users["editor"]
    [where] = await world.chats.says("/schedule", editor)
    assert "Where" in where["text"] or buttons(where), where

    before = await count_in(world, editor)
    await click(world, place, alert, label, "editor")
    [told] = await new_in(world, editor, before)
    assert told["text"].startswith("You're in the middle of /schedule"), told
    assert await _questions(world, place) == ["schedule"]
    [cancelled] = await world.chats.says("/cancel", editor)  # the schedule's own cancel
    assert "Nothing was scheduled" in cancelled["text"], cancelled

    before = await count_in(world, editor)
    await click(world, place, alert, label, "editor")
    [question] = await new_in(world, editor, before)
    assert question["text"].startswith("Paste the post's link"), question
    assert (await delivery(world.runtime, target_id)).status is DeliveryStatus.needs_attention
