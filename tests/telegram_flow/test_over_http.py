"""/schedule step by step as Telegram sends it: the twin POSTs real updates (texts, a photo, button clicks) to the
app's webhook on a real port, and the app answers through the twin's Bot API; the photo comes back through getFile
and the twin's file URL. End to end with a photo and an Edit, a restart in the middle (a fresh app and runtime
carry on), and a stale button answered as out of date."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from asgi_lifespan import LifespanManager
from sqlalchemy import select

from api.app import create_app
from core.clock import FrozenClock
from core.runtime import Runtime, build_runtime
from sandbox.server import TwinServer
from sandbox.telegram.state import DEV_WEBHOOK_SECRET
from storage.models import MediaAsset, Post, PostMedia
from tests.factories import eventually
from tests.telegram.conftest import (  # noqa: F401 - the twin, the served app and their settings
    WEBHOOK,
    Chats,
    Served,
    TelegramTwin,
    buttons,
    chats,
    served,
    settings,
    telegram,
)
from tests.telegram_flow.conftest import Pub, jpeg

USER = 501  # the editor's Telegram user id (tests.telegram_flow.conftest links it)
OUT_OF_DATE = "This button is out of date"


async def _latest(talk: Chats, chat: int = USER) -> dict[str, Any]:
    return (await talk.twin.control.messages(chat))[-1]


async def _click(talk: Chats, label: str, *, message_id: int | None = None) -> dict[str, Any]:
    """Press `label`; the bot's newest message once the click has been handled."""
    clicked = await talk.twin.control.user_clicks(label, user_id=USER, chat_id=USER, message_id=message_id)
    assert clicked["status"] == 200, clicked
    return await _latest(talk)


async def _posts(runtime: Runtime) -> list[Post]:
    async with runtime.uow() as uow:
        return list((await uow.session.execute(select(Post).order_by(Post.id))).scalars())


async def test_step_by_step_over_http_with_a_photo_and_an_edit(
    chats: Chats,  # noqa: F811 - the imported fixtures
    runtime: Runtime,
    pub: Pub,
    served: Served,  # noqa: F811 - the imported fixtures
) -> None:
    [where] = await chats.says("/schedule", USER)
    assert where["text"].startswith("Schedule a post for The Red Lion: where to?")
    labels = [b["text"] for b in buttons(where)]
    assert labels[-2:] == ["Done", "Cancel"] and all(label.startswith("✅") for label in labels[:2])
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons(where))

    google = next(label for label in labels if "Google" in label)
    await _click(chats, google, message_id=where["message_id"])
    [edited] = [m for m in await chats.twin.control.messages(USER) if m["message_id"] == where["message_id"]]
    assert edited["edited"] == 1 and any(b["text"].startswith("⬜") for b in buttons(edited))
    await _click(chats, "Done", message_id=where["message_id"])
    assert (await _latest(chats))["text"].startswith("What should the post say?")

    [asked] = await chats.says("Quiz night from 8 <free entry> & prizes", USER)  # HTML-escaped on the way out
    assert asked["text"].startswith("Add a photo?")
    before = len(await chats.twin.control.messages(USER))
    sent = await chats.twin.control.user_sends_photo(jpeg(), user_id=USER)
    assert sent["status"] == 200, sent
    [when] = await chats.new_messages(USER, before, 1)
    assert when["text"].startswith("When should it go out?")
    preview = await _click(chats, "Tomorrow noon")
    assert preview["text"].startswith("Check your post for The Red Lion")
    assert "Thu 26 Nov 12:00 (Europe/London)" in preview["text"]
    assert "Quiz night from 8 <free entry> & prizes" in preview["text"]

    await _click(chats, "Edit text", message_id=preview["message_id"])
    [preview] = await chats.says("Quiz night from 8, free entry!", USER)
    assert preview["text"].startswith("Check your post") and "Quiz night from 8, free entry!" in preview["text"]
    done = await _click(chats, "Confirm", message_id=preview["message_id"])
    assert done["text"].startswith("Post ") and " scheduled" in done["text"].split("\n", 1)[0]

    [post] = await _posts(runtime)
    assert post.text == "Quiz night from 8, free entry!"
    assert post.scheduled_at == datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    async with runtime.uow() as uow:
        [attached] = (await uow.session.execute(select(PostMedia).where(PostMedia.post_id == post.id))).scalars()
        asset = await uow.session.get(MediaAsset, attached.asset_id)
        assert asset is not None and asset.account_id == pub.venue_id
    assert buttons(await _message(chats, preview["message_id"])) == []  # a clicked step's buttons go
    # A button left on an earlier question belongs to a finished flow: answered as out of date, nothing done.
    asked_text = next(m for m in await chats.twin.control.messages(USER) if m["text"].startswith("What should"))
    await _click(chats, "Cancel", message_id=asked_text["message_id"])
    assert (await chats.twin.control.callback_answers())[-1].get("text") == OUT_OF_DATE
    assert len(await _posts(runtime)) == 1


async def _message(talk: Chats, message_id: int) -> dict[str, Any]:
    return next(m for m in await talk.twin.control.messages(USER) if m["message_id"] == message_id)


@asynccontextmanager
async def _another_process(runtime: Runtime, clock: FrozenClock, twin: TelegramTwin) -> AsyncIterator[Runtime]:
    """A second web process (its own runtime and app on its own port) that the twin's webhook now points at."""
    fresh = build_runtime(runtime.settings, clock=clock)
    app: Any = create_app(runtime=fresh, configure_logs=False)
    try:
        async with LifespanManager(app):
            server = TwinServer(app)
            url = await server.start()
            try:
                await twin.control.set_webhook(
                    f"{url}{WEBHOOK}", DEV_WEBHOOK_SECRET, allowed_updates=["message", "callback_query"]
                )
                yield fresh
            finally:
                await server.stop()
    finally:
        await fresh.close()


async def test_a_restart_in_the_middle_is_carried_on_by_a_fresh_process(
    chats: Chats,  # noqa: F811 - the imported fixtures
    runtime: Runtime,
    pub: Pub,
    served: Served,  # noqa: F811
    telegram: TelegramTwin,  # noqa: F811
    clock: FrozenClock,
) -> None:
    [where] = await chats.says("/schedule", USER)
    await _click(chats, "Done", message_id=where["message_id"])
    await chats.says("Curry night Thursday", USER)
    async with _another_process(runtime, clock, telegram) as fresh:
        await _click(chats, "Skip (no photo)")  # a button the first process sent
        [preview] = await chats.says("tomorrow 6pm", USER)
        assert preview["text"].startswith("Check your post")
        await _click(chats, "Confirm", message_id=preview["message_id"])
        [post] = await eventually(lambda: _some(_posts(fresh)), what="the post")
        assert post.text == "Curry night Thursday"
        assert post.scheduled_at == datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


async def _some(posts: Any) -> list[Post] | None:
    found: list[Post] = await posts
    return found or None


async def test_a_stale_button_over_http_is_answered_and_changes_nothing(
    chats: Chats,  # noqa: F811 - the imported fixtures
    runtime: Runtime,
    pub: Pub,
    served: Served,  # noqa: F811 - the imported fixtures
) -> None:
    [where] = await chats.says("/schedule", USER)
    await _click(chats, "Done", message_id=where["message_id"])
    [asked] = [m for m in await chats.twin.control.messages(USER) if m["text"].startswith("What should")]
    [photo] = await chats.says("Quiz night", USER)
    assert photo["text"].startswith("Add a photo?")
    count = len(await chats.twin.control.messages(USER))
    # Cancel on the text question, pressed after the text was sent: that question's version has passed.
    await _click(chats, "Cancel", message_id=asked["message_id"])
    assert (await chats.twin.control.callback_answers())[-1].get("text") == OUT_OF_DATE
    assert len(await chats.twin.control.messages(USER)) == count  # nothing said, nothing changed
    when = await _click(chats, "Skip (no photo)", message_id=photo["message_id"])
    assert when["text"].startswith("When should it go out?")  # the flow went on where it was


async def test_cancel_over_http(chats: Chats, runtime: Runtime, pub: Pub, served: Served) -> None:  # noqa: F811
    await chats.says("/schedule", USER)
    [cancelled] = await chats.says("/cancel", USER)
    assert cancelled["text"].startswith("Cancelled")
    [answer] = await chats.says("/cancel", USER)
    assert not answer["text"].startswith("Cancelled")  # nothing was going: the usual answer
    assert await _posts(runtime) == []
