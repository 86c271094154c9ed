"""/schedule step by step (bot/telegram/flow.py) driven with real Telegram updates, each in its own unit of work:
end to end with a photo and an Edit, a restart in the middle, /cancel, the timeout, stale buttons, and photos
refused (too large, from elsewhere). SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from telegram import Update

from bot.telegram import flow
from bot.telegram.inbound import Inbound
from core.access import accounts
from core.access.policy import VenueAccess
from core.chat import conversations
from core.clock import FrozenClock
from core.runtime import Runtime, build_runtime
from core.vocabulary import Role
from storage.models import MediaAsset, Post, PostMedia, PostTarget
from tests import factories
from tests.telegram_flow.conftest import Chat, FileHost, Pub, jpeg

OUT_OF_DATE = "This button is out of date"


async def _posts(runtime: Runtime) -> list[Post]:
    async with runtime.uow() as uow:
        return list((await uow.session.execute(select(Post).order_by(Post.id))).scalars())


async def _count(runtime: Runtime, model: type) -> int:
    async with runtime.uow() as uow:
        return int((await uow.session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_scheduling_step_by_step_with_a_photo_and_an_edit(
    runtime: Runtime, chat: Chat, pub: Pub, file_host: FileHost
) -> None:
    await chat.schedule()
    where = chat.last
    assert "where to?" in where.text
    assert [label[:1] for label in where.labels] == ["✅", "✅", "D", "C"]  # both ticked, Done, Cancel
    # Untick Google and tick it again: the same message is edited in place, the version moving on each time.
    google = next(label for label in where.labels if "Google" in label)
    await chat.clicks(google, shown=where)
    assert where.edited == 1 and any(label.startswith("⬜") for label in where.labels)
    await chat.clicks(next(label for label in where.labels if label.startswith("⬜")), shown=where)
    assert where.edited == 2 and all(label.startswith("✅") for label in where.labels[:2])
    await chat.clicks("Done", shown=where)
    assert where.keys == ()  # the step is done: its buttons are gone
    assert chat.last.message.title == "What should the post say?"

    assert await chat.says("Quiz night from 8, free entry!")
    assert chat.last.message.title == "Add a photo?"
    photo = jpeg()
    file_host.add("photo-1", photo)
    assert await chat.sends_photo("photo-1", size=len(photo))
    assert chat.last.message.title == "When should it go out?"
    assert chat.last.labels[:3] == ["In 1 h", "Tonight 6pm", "Tomorrow noon"]
    await chat.clicks("Tomorrow noon")

    preview = chat.last
    assert preview.message.title == "Check your post for The Red Lion"
    assert "Thu 26 Nov 12:00 (Europe/London)" in preview.text
    assert "Quiz night from 8, free entry!" in preview.text
    assert "telegram-uniq-photo-1.jpg" in preview.text
    assert "What each platform gets" in preview.text and "Facebook" in preview.text

    await chat.clicks("Edit text", shown=preview)
    assert chat.last.message.title == "What should the post say?" and "Keep the text" in chat.last.labels
    assert await chat.says("Quiz night from 8 — free entry, prizes!")
    preview = chat.last  # straight back to the preview after an edit
    assert preview.message.title.startswith("Check your post") and "prizes!" in preview.text

    await chat.clicks("Confirm", shown=preview)
    assert chat.last.message.title.startswith("Post ") and chat.last.message.title.endswith(" scheduled")
    [post] = await _posts(runtime)
    assert post.text == "Quiz night from 8 — free entry, prizes!"
    assert post.scheduled_at == datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert post.created_by_user_id == pub.editor.user_id
    async with runtime.uow() as uow:
        targets = (await uow.session.execute(select(PostTarget).where(PostTarget.post_id == post.id))).scalars()
        assert sorted(t.connection_id for t in targets) == sorted([pub.facebook, pub.google])
        [attached] = (await uow.session.execute(select(PostMedia).where(PostMedia.post_id == post.id))).scalars()
        asset = await uow.session.get(MediaAsset, attached.asset_id)
        assert asset is not None and asset.account_id == pub.venue_id and asset.size == len(photo)
    # The photo came from the API host: getFile, then the file, nothing else.
    assert file_host.requests == ["getFile True", "file photos/photo-1.jpg"]
    # The flow is over: a text now is answered as usual, and the preview's buttons are out of date.
    assert not await chat.says("hello")
    assert preview.keys == () and preview.message.title == "Confirmed"  # the confirmed preview lost its buttons


async def test_a_fresh_runtime_continues_a_flow_after_a_restart(
    runtime: Runtime, chat: Chat, clock: FrozenClock
) -> None:
    await chat.schedule()
    await chat.clicks("Done")
    assert await chat.says("Curry night Thursday")
    await runtime.close()  # the process stops mid-flow

    restarted = build_runtime(runtime.settings, clock=clock)
    try:
        chat.runtime = restarted
        await chat.clicks("Skip (no photo)")  # a button sent before the restart still works
        assert await chat.says("tomorrow 6pm")
        await chat.clicks("Confirm")
        [post] = await _posts(restarted)
        assert post.text == "Curry night Thursday"
        assert post.scheduled_at == datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
    finally:
        await restarted.close()


async def test_cancel_ends_the_flow_and_nothing_is_scheduled(runtime: Runtime, chat: Chat) -> None:
    await chat.schedule()
    await chat.clicks("Done")
    assert await chat.cancels()
    assert chat.last.message.title == "Cancelled"
    assert not await chat.says("Quiz night")  # no flow waits for a text any more
    assert not await chat.cancels()  # nothing to cancel: the caller answers as usual
    await chat.clicks("Cancel")  # a button of the cancelled flow
    assert chat.toasts[-1] == OUT_OF_DATE
    assert await _posts(runtime) == []


async def test_the_cancel_button_ends_it_too(runtime: Runtime, chat: Chat) -> None:
    await chat.schedule()
    where = chat.last
    await chat.clicks("Cancel", shown=where)
    assert where.message.title == "Cancelled" and where.keys == ()
    assert not await chat.says("Quiz night")


async def test_a_flow_left_alone_times_out(runtime: Runtime, chat: Chat, clock: FrozenClock) -> None:
    await chat.schedule()
    await chat.clicks("Done")
    clock.advance(minutes=29)
    assert await chat.says("Quiz night")  # each step starts the 30 minutes again
    clock.advance(minutes=31)
    assert not await chat.says("tomorrow 6pm")
    await chat.clicks("Skip (no photo)")
    assert chat.toasts[-1] == OUT_OF_DATE
    assert await _posts(runtime) == []


async def test_a_stale_button_is_refused_and_nothing_happens_twice(runtime: Runtime, chat: Chat) -> None:
    await chat.schedule()
    where, done = chat.key("Done")
    await chat.press(where, done)
    prompts = len(chat.shown)
    await chat.press(where, done)  # the same click delivered again, or a second process handling it
    assert chat.toasts[-1] == OUT_OF_DATE
    assert len(chat.shown) == prompts
    assert await chat.says("Quiz night")
    await chat.clicks("Skip (no photo)")
    await chat.clicks("In 1 h")
    preview, confirm = chat.key("Confirm")
    await chat.press(preview, confirm)
    await chat.press(preview, confirm)  # a double tap on Confirm schedules once
    assert chat.toasts[-1] == OUT_OF_DATE
    assert len(await _posts(runtime)) == 1


async def test_starting_again_replaces_the_flow_and_its_old_buttons(runtime: Runtime, chat: Chat) -> None:
    await chat.schedule()
    first, done = chat.key("Done")
    await chat.schedule()
    await chat.press(first, done)
    assert chat.toasts[-1] == OUT_OF_DATE
    await chat.clicks("Done")
    assert chat.last.message.title == "What should the post say?"


async def test_a_photo_too_large_is_refused_before_download(runtime: Runtime, chat: Chat, file_host: FileHost) -> None:
    await chat.schedule()
    await chat.clicks("Done")
    await chat.says("Quiz night")
    file_host.add("big", jpeg())
    assert await chat.sends_photo("big", size=2 * 1024 * 1024)  # Telegram says 2 MB; the limit is 1 MB
    assert "larger than the 1 MB limit" in chat.last.text
    assert chat.last.message.title == "Add a photo?"  # still waiting for a photo
    assert file_host.requests == []  # nothing fetched
    assert await _count(runtime, MediaAsset) == 0


async def test_a_photo_larger_than_it_said_is_cut_off_while_downloading(
    runtime: Runtime, chat: Chat, file_host: FileHost
) -> None:
    await chat.schedule()
    await chat.clicks("Done")
    await chat.says("Quiz night")
    big = jpeg(4000, 3000, noise=7) + b"\0" * (1024 * 1024)  # over 1 MB, declared small by getFile and the update
    file_host.add("liar", big, declared=1000)
    assert await chat.sends_photo("liar", size=1000)
    assert "larger than the 1 MB limit" in chat.last.text
    assert chat.last.message.title == "Add a photo?"
    assert await _count(runtime, MediaAsset) == 0
    file_host.add("fine", jpeg(noise=9))
    assert await chat.sends_photo("fine", size=None)  # a size Telegram left out is checked while it arrives
    assert chat.last.message.title == "When should it go out?"


async def test_a_file_path_pointing_elsewhere_is_not_fetched(runtime: Runtime, chat: Chat, file_host: FileHost) -> None:
    await chat.schedule()
    await chat.clicks("Done")
    await chat.says("Quiz night")
    for n, path in enumerate(("https://elsewhere.example/x.jpg", "../../etc/passwd", "/var/lib/telegram/x.jpg")):
        file_host.add(f"odd-{n}", jpeg(noise=n), file_path=path)
        assert await chat.sends_photo(f"odd-{n}", size=1000)
        assert "file location I won't fetch" in chat.last.text
    assert [r for r in file_host.requests if r.startswith("file")] == []
    assert await _count(runtime, MediaAsset) == 0


async def test_an_unclear_time_is_asked_back_with_its_choices(runtime: Runtime, chat: Chat) -> None:
    await chat.schedule()
    await chat.clicks("Done")
    await chat.says("Quiz night")
    await chat.clicks("Skip (no photo)")
    assert await chat.says("tomorrow 6")
    assert "in the morning or in the evening" in chat.last.text
    assert chat.last.labels[:2] == ["tomorrow 6am", "tomorrow 6pm"]
    await chat.clicks("tomorrow 6pm")
    assert chat.last.message.title.startswith("Check your post")
    assert "Thu 26 Nov 18:00" in chat.last.text


async def test_a_time_that_passed_by_confirm_goes_back_to_the_when_step(
    runtime: Runtime, chat: Chat, clock: FrozenClock
) -> None:
    await chat.schedule()
    await chat.clicks("Done")
    await chat.says("Quiz night")
    await chat.clicks("Skip (no photo)")
    await chat.clicks("In 1 h")
    clock.advance(minutes=25)
    await chat.clicks("Edit text")
    await chat.clicks("Keep the text")
    clock.advance(minutes=25)
    await chat.clicks("Edit photo")
    await chat.clicks("Skip (no photo)")
    clock.advance(minutes=25)  # 75 minutes after 'in 1 h' was chosen
    await chat.clicks("Confirm")
    assert chat.last.message.title == "When should it go out?"
    assert "passed" in chat.last.text
    assert await _posts(runtime) == []
    await chat.clicks("Tomorrow noon")
    await chat.clicks("Confirm")
    assert len(await _posts(runtime)) == 1


async def test_in_a_group_it_says_to_continue_in_private(runtime: Runtime, chat: Chat) -> None:
    chat.chat_id = -1001234
    await chat.schedule()
    assert chat.last.message.title == "Let's do this in a private chat"
    assert "https://t.me/cheers_sandbox_bot" in chat.last.text
    assert not await chat.says("Quiz night")  # group messages are never the flow's


async def test_an_unlinked_person_is_told_how_to_link(runtime: Runtime, chat: Chat) -> None:
    stranger = Chat(runtime, user_id=777, chat_id=777)
    await stranger.schedule()
    assert stranger.last.message.title.startswith("Link your chat account")


@dataclass
class RecordingQueue:
    """A task queue that only records what was enqueued."""

    enqueued: list[tuple[str, dict[str, object]]] = field(default_factory=list)

    async def enqueue(self, task_name: str, **kwargs: object) -> None:
        self.enqueued.append((task_name, kwargs))

    async def depth(self) -> int | None:
        return len(self.enqueued)

    async def ping(self) -> None:
        return None


async def test_a_photo_sent_wakes_its_derivatives_after_the_commit(
    runtime: Runtime, chat: Chat, file_host: FileHost
) -> None:
    queue = RecordingQueue()
    runtime.queue = queue
    await chat.schedule()
    await chat.clicks("Done")
    await chat.says("Quiz night")
    file_host.add("photo-2", jpeg(noise=3))
    assert await chat.sends_photo("photo-2", size=None)
    async with runtime.uow() as uow:
        [asset] = (await uow.session.execute(select(MediaAsset))).scalars()
    assert ("media-derivatives", {"asset_id": asset.id}) in queue.enqueued  # as after POST /api/media


async def test_a_unit_of_work_without_hooks_leaves_the_photo_to_the_media_sweep(
    runtime: Runtime, chat: Chat, file_host: FileHost
) -> None:
    """The webhook's own unit (a TurnUnit: session, commit, rollback) may have no after_commit: the photo is kept,
    pending, and the media sweep prepares it."""

    class Bare:
        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.session = inner.session

        async def commit(self) -> None:
            await self.inner.commit()

        async def rollback(self) -> None:
            await self.inner.rollback()

        def after_commit(self, hook: Callable[[], Awaitable[None]]) -> None:
            self.inner.after_commit(hook)

    await chat.schedule()
    await chat.clicks("Done")
    await chat.says("Quiz night")
    file_host.add("photo-3", jpeg(noise=5))
    update = Update.de_json(
        {
            "update_id": 99,
            "message": {
                "message_id": 5000,
                "date": int(runtime.clock.now().timestamp()),
                "chat": {"id": chat.chat_id, "type": "private", "first_name": "Sam"},
                "from": {"id": chat.user_id, "is_bot": False, "first_name": "Sam"},
                "photo": [{"file_id": "photo-3", "file_unique_id": "u3", "width": 800, "height": 600}],
            },
        },
        None,
    )
    async with runtime.uow() as uow:
        inbound = Inbound(runtime, Bare(uow), chat.turn)
        assert await flow.on_message(inbound, update)
        await uow.commit()
    assert inbound.replies.items[-1].message.title == "When should it go out?"  # type: ignore[union-attr]
    async with runtime.uow() as uow:
        [asset] = (await uow.session.execute(select(MediaAsset))).scalars()
    assert asset.status.value == "pending"


async def test_a_person_whose_role_was_lowered_mid_flow_is_refused(runtime: Runtime, chat: Chat, pub: Pub) -> None:
    """Each step is authorised again as the person: a viewer now, they can't go on; nothing moves or is scheduled."""
    await chat.schedule()
    await chat.clicks("Done")
    await chat.says("Quiz night")
    await chat.clicks("Skip (no photo)")
    async with runtime.uow() as uow:
        owner = VenueAccess(factories.SYSTEM, pub.venue_id, Role.owner)
        await accounts.change_role(uow.session, runtime.clock, owner, user_id=pub.editor.user_id, role=Role.viewer)
        await uow.commit()
    await chat.clicks("Tomorrow noon")
    assert chat.last.message.title == "You can't do that"
    assert "editor" in chat.last.text
    assert chat.toasts[-1] is None  # the click was answered
    assert await _posts(runtime) == []
    async with runtime.uow() as uow:
        read = await conversations.current(uow.session, runtime.clock, chat.turn)
    assert read is not None and read.step == "when"  # the flow did not move


async def test_a_photo_sent_as_a_file_is_taken_and_other_files_are_not(
    runtime: Runtime, chat: Chat, file_host: FileHost
) -> None:
    await chat.schedule()
    await chat.clicks("Done")
    await chat.says("Quiz night")
    file_host.add("menu", b"%PDF-1.4 menu")
    assert await chat.sends_file("menu", name="menu.pdf", mime_type="application/pdf")
    assert chat.last.message.title == "Add a photo?" and "waiting for a photo" in chat.last.text
    assert file_host.requests == []
    file_host.add("garden", jpeg(noise=11))
    assert await chat.sends_file("garden", name="beer garden.jpg", mime_type="image/jpeg")
    assert chat.last.message.title == "When should it go out?"
    await chat.clicks("Tomorrow noon")
    assert "Photo: beer garden.jpg" in chat.last.text


async def test_now_means_when_confirm_is_pressed(runtime: Runtime, chat: Chat, clock: FrozenClock) -> None:
    await chat.schedule()
    await chat.clicks("Done")
    await chat.says("Happy hour starts now!")
    await chat.clicks("Skip (no photo)")
    assert await chat.says("now")
    assert "When: now (as soon as you confirm)" in chat.last.text
    clock.advance(minutes=5)  # reading the preview takes a while
    await chat.clicks("Confirm")
    [post] = await _posts(runtime)
    assert post.scheduled_at == datetime(2026, 11, 25, 12, 5, tzinfo=UTC)
