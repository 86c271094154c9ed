"""`/schedule` step by step in a private chat with the bot (docs/telegram.md, "Scheduling step by step").

Steps: where to post (connections ticked and unticked on an inline keyboard, then Done) → the text → a photo sent
in the chat, or Skip → when (typed in the venue's time, or a quick button) → a preview of what each platform gets
→ Confirm / Edit (back to one step, then straight back to the preview) / Cancel.

The flow's state is a `chat_conversations` row (core.chat.conversations), never anything the library keeps in
one process: any web process continues it and a restart keeps it. Each button carries the conversation id and
version (bot.telegram.callbacks.step_data); a step moves the version on with a conditional UPDATE, so a stale
button or a second process handling the same click is refused.
Confirm runs as the linked person, authorised again as an editor of the flow's venue, through core.chat.form (the
Slack form's core) to the API's create_post. Replies go out after the update commits (inbound.replies).

A photo is fetched inside the update, bounded by CHEERS_TELEGRAM_TIMEOUT_SECONDS (docs/decisions.md): getFile,
then the file from the API host only, its size checked against CHEERS_TELEGRAM_MAX_PHOTO_MB before and while it
downloads, then into the venue's library through core.media's upload (the same call as POST /api/media), which
prepares its versions for each platform in the background.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import quote, urlsplit

import httpx
import structlog
from telegram import Message, Update

from bot import render
from bot.dispatch import TurnUnit
from bot.messages import ChatMessage
from bot.telegram.callbacks import Step, step_data
from bot.telegram.inbound import Inbound
from bot.telegram.replies import AnswerCallback, Key, Keyboard
from core.access.policy import VenueAccess, authorize
from core.chat import conversations, form, people
from core.chat.conversations import Conversation
from core.chat.form import FormInput, FormInvalid
from core.errors import DomainError, Invalid, NotFound
from core.media import library as media_core
from core.posts import views
from core.posts.phrases import EXAMPLES, resolve_phrase
from core.posts.times import PostTimeInvalid, zone
from core.vocabulary import Role

log = structlog.get_logger(__name__)

KIND = "schedule"
CONNECTIONS, TEXT, PHOTO, WHEN, PREVIEW = "connections", "text", "photo", "when", "preview"
PURPOSE = "chat schedule flow"
OUT_OF_DATE = "This button is out of date"
MAX_BUTTON_LABEL = 60
RECONNECT = " (needs reconnecting)"
NOW = timedelta(minutes=1)  # a time this close is 'now': it is taken at Confirm
MAX_CHOICE_BYTES = 40  # an asked-back time as a button's choice, kept well inside callback_data's 64 bytes
# The quick buttons of the "when" step: choice -> (label, phrase read by core.posts.phrases in the venue's zone).
QUICK = {
    "q1h": ("In 1 h", "in 1 hour"),
    "q6pm": ("Tonight 6pm", "tonight 6pm"),
    "qnoon": ("Tomorrow noon", "tomorrow noon"),
}
EDITS = {"ec": CONNECTIONS, "et": TEXT, "ep": PHOTO, "ew": WHEN}
STEP_OF_FIELD = {form.CONNECTIONS: CONNECTIONS, form.TEXT: TEXT, form.PHOTO: PHOTO, form.DATE: WHEN, form.TIME: WHEN}


class PhotoRefused(Invalid):
    """The photo can't be taken from Telegram (too large, not where the Bot API keeps files, or not fetched)."""


# --- the four entry points helper C's handlers call ------------------------------------------------------------


async def start(inbound: Inbound, update: Update) -> None:
    """`/schedule` alone: in a private chat, begin the flow (replacing one in progress); in a group, say where."""
    turn = inbound.turn
    if not turn.is_direct_message:
        inbound.replies.say(turn.chat_id, _in_private(inbound), reply_to_message_id=_message_id(update))
        return
    session = inbound.uow.session
    person = await people.find_person(session, turn)
    if not person.linked:
        inbound.replies.say(turn.chat_id, render.how_to_link())
        return
    try:
        venue = await people.venue_for_turn(session, inbound.runtime.clock, person, turn, Role.editor, purpose=PURPOSE)
        choices = await form.choices(inbound.runtime, session, venue.access)
        if not choices.connections:
            raise NotFound(
                "this venue has nothing connected to post to yet",
                remedy="ask an owner or admin to connect its Facebook Page, Instagram or Google Business Profile",
            )
    except DomainError as exc:
        await inbound.uow.rollback()
        inbound.replies.say(turn.chat_id, render.refusal(exc))
        return
    data: dict[str, Any] = {
        "venue": choices.venue_name,
        "tz": choices.timezone,
        "ids": [c.id for c in choices.connections if not c.needs_reconnect],
        "text": None,
        "photo": None,
        "photo_name": None,
        "day": None,
        "at": None,
        "editing": False,
    }
    conversation = await conversations.start(
        session,
        inbound.runtime.clock,
        turn,
        kind=KIND,
        step=CONNECTIONS,
        data=data,
        account_id=venue.access.account_id,
        user_id=person.user_id,
        ttl=conversations.lifetime(inbound.runtime.settings),
    )
    message, keyboard = await _prompt(inbound, conversation)
    inbound.replies.say(turn.chat_id, message, keyboard=keyboard)


async def on_message(inbound: Inbound, update: Update) -> bool:
    """A private text or photo while a flow waits for one; False when no flow is going (answer it as usual)."""
    turn = inbound.turn
    message = update.effective_message
    if not turn.is_direct_message or message is None:
        return False
    session, clock = inbound.uow.session, inbound.runtime.clock
    conversation = await conversations.current(session, clock, turn)
    if conversation is None or conversation.kind != KIND:
        return False
    kept = len(inbound.replies.items)
    try:
        await _message_step(inbound, conversation, message)
    except DomainError as exc:
        await _refused(inbound, exc, conversation, kept)
    return True


async def _message_step(inbound: Inbound, conversation: Conversation, message: Message) -> None:
    text = (message.text or "").strip()
    if conversation.step == TEXT and text:
        await _move(inbound, conversation, _after(conversation, TEXT), text=text)
    elif conversation.step == PHOTO and (message.photo or _image_document(message)):
        await _take_photo(inbound, conversation, message)
    elif conversation.step == WHEN and text:
        await _take_when(inbound, conversation, text)
    else:
        # Not what this step waits for: say again what it does wait for (its buttons still work).
        prompt, keyboard = await _prompt(inbound, conversation, note=_expected(conversation.step))
        inbound.replies.say(inbound.turn.chat_id, prompt, keyboard=keyboard)


async def _refused(inbound: Inbound, exc: DomainError, conversation: Conversation, kept: int) -> None:
    """The person may no longer do this (unlinked, removed from the venue, a role lowered): nothing of the step is
    kept or said but the refusal; the flow stays where it was."""
    await inbound.uow.rollback()
    answered = [r for r in inbound.replies.items[kept:] if isinstance(r, AnswerCallback)]
    del inbound.replies.items[kept:]
    inbound.replies.items.extend(answered)
    log.info("telegram_flow_refused", code=exc.code, conversation_id=conversation.id)
    inbound.replies.say(inbound.turn.chat_id, render.refusal(exc))


async def on_step(inbound: Inbound, update: Update, step: Step) -> None:
    """A button of the flow pressed: applied once at the version it was shown for, else "out of date"."""
    query = update.callback_query
    if query is None:
        return
    turn = inbound.turn
    session, clock = inbound.uow.session, inbound.runtime.clock
    conversation = await conversations.at_version(session, clock, turn, step.conversation_id, step.version)
    if conversation is None or conversation.kind != KIND:
        inbound.replies.answer_callback(query.id, OUT_OF_DATE)
        return
    kept = len(inbound.replies.items)
    try:
        await _button_step(inbound, query.id, query.message.message_id if query.message else None, conversation, step)
    except DomainError as exc:
        if not any(isinstance(r, AnswerCallback) for r in inbound.replies.items[kept:]):
            inbound.replies.answer_callback(query.id)
        await _refused(inbound, exc, conversation, kept)


async def _button_step(
    inbound: Inbound, query_id: str, shown: int | None, conversation: Conversation, step: Step
) -> None:
    turn = inbound.turn
    choice = step.choice
    data = dict(conversation.data)
    if choice == "x":
        inbound.replies.answer_callback(query_id)
        await _cancel(inbound, conversation, shown)
        return
    if conversation.step == CONNECTIONS and choice.startswith("t") and choice[1:].isdecimal():
        picked = int(choice[1:])
        ids = [i for i in data["ids"] if i != picked] if picked in data["ids"] else [*data["ids"], picked]
        moved = await _advance(inbound, conversation, CONNECTIONS, ids=ids)
        if moved is None:
            inbound.replies.answer_callback(query_id, OUT_OF_DATE)
            return
        inbound.replies.answer_callback(query_id)
        if shown is not None:
            prompt, keyboard = await _prompt(inbound, moved)
            inbound.replies.edit(turn.chat_id, shown, prompt, keyboard=keyboard)
        return
    if conversation.step == CONNECTIONS and choice == "done":
        if not data["ids"]:
            inbound.replies.answer_callback(query_id, "Tick at least one place to post to", show_alert=True)
            return
        inbound.replies.answer_callback(query_id)
        await _move(inbound, conversation, _after(conversation, CONNECTIONS), shown=shown)
        return
    if conversation.step == TEXT and choice == "keep" and data.get("text"):
        inbound.replies.answer_callback(query_id)
        await _move(inbound, conversation, PREVIEW, shown=shown)
        return
    if conversation.step == PHOTO and choice in ("skip", "keep"):
        inbound.replies.answer_callback(query_id)
        changes: dict[str, Any] = {"photo": None, "photo_name": None} if choice == "skip" else {}
        await _move(inbound, conversation, _after(conversation, PHOTO), shown=shown, **changes)
        return
    if conversation.step == WHEN and (choice in QUICK or choice.startswith("w:") or choice == "keep"):
        inbound.replies.answer_callback(query_id)
        if choice == "keep" and data.get("day"):
            await _move(inbound, conversation, PREVIEW, shown=shown)
        elif choice in QUICK:
            await _take_when(inbound, conversation, QUICK[choice][1], shown=shown)
        else:
            await _take_when(inbound, conversation, choice[2:], shown=shown)
        return
    if conversation.step == PREVIEW and choice in EDITS:
        inbound.replies.answer_callback(query_id)
        await _move(inbound, conversation, EDITS[choice], shown=shown, editing=True)
        return
    if conversation.step == PREVIEW and choice == "ok":
        inbound.replies.answer_callback(query_id)
        await _confirm(inbound, conversation, shown)
        return
    inbound.replies.answer_callback(query_id, OUT_OF_DATE)  # a choice this step has no button for


async def cancel(inbound: Inbound) -> bool:
    """`/cancel`: end the chat person's flow and say so; False when none was going (the caller answers then)."""
    ended = await conversations.cancel(inbound.uow.session, inbound.runtime.clock, inbound.turn)
    if ended:
        inbound.replies.say(inbound.turn.chat_id, _cancelled())
    return ended


# --- moving between steps --------------------------------------------------------------------------------------


def _after(conversation: Conversation, step: str) -> str:
    """The next step; after an Edit from the preview, straight back to the preview."""
    if conversation.data.get("editing"):
        return PREVIEW
    return {CONNECTIONS: TEXT, TEXT: PHOTO, PHOTO: WHEN, WHEN: PREVIEW}[step]


async def _advance(inbound: Inbound, conversation: Conversation, step: str, **changes: Any) -> Conversation | None:
    data = {**conversation.data, **changes}
    if step == PREVIEW:
        data["editing"] = False
    return await conversations.advance(
        inbound.uow.session,
        inbound.runtime.clock,
        conversation,
        step=step,
        data=data,
        ttl=conversations.lifetime(inbound.runtime.settings),
    )


async def _move(
    inbound: Inbound,
    conversation: Conversation,
    step: str,
    *,
    shown: int | None = None,
    note: str | None = None,
    **changes: Any,
) -> None:
    """Take the step, close the clicked message's buttons (saying what was chosen) and ask for the next one."""
    moved = await _advance(inbound, conversation, step, **changes)
    chat_id = inbound.turn.chat_id
    if moved is None:
        inbound.replies.say(chat_id, ChatMessage(OUT_OF_DATE, ("Type /schedule to start again.",), private=True))
        return
    if shown is not None:
        inbound.replies.edit(chat_id, shown, _chosen(conversation, moved))
    prompt, keyboard = await _prompt(inbound, moved, note=note)
    inbound.replies.say(chat_id, prompt, keyboard=keyboard)


def _chosen(before: Conversation, after: Conversation) -> ChatMessage:
    """What a clicked message says once its step is done (its buttons go, so they can't be pressed again)."""
    data = after.data
    if before.step == CONNECTIONS:
        return ChatMessage("Where to post: chosen", (f"{len(data['ids'])} chosen.",))
    if before.step == PHOTO:
        return ChatMessage("Photo", (data.get("photo_name") or "No photo.",))
    if before.step == WHEN:
        return ChatMessage("When", (_when_text(data) or "Not chosen yet.",))
    if before.step == PREVIEW:
        return ChatMessage("Changing the post", (f"Editing the {after.step}.",))
    return ChatMessage("Done", ())


async def _cancel(inbound: Inbound, conversation: Conversation, shown: int | None) -> None:
    ended = await conversations.finish(inbound.uow.session, inbound.runtime.clock, conversation)
    if not ended:
        return
    if shown is not None:
        inbound.replies.edit(inbound.turn.chat_id, shown, _cancelled())
    else:
        inbound.replies.say(inbound.turn.chat_id, _cancelled())


def _cancelled() -> ChatMessage:
    return ChatMessage("Cancelled", ("Nothing was scheduled. Type /schedule to start again.",))


# --- the steps' messages ---------------------------------------------------------------------------------------


async def _prompt(
    inbound: Inbound, conversation: Conversation, *, note: str | None = None
) -> tuple[ChatMessage, Keyboard]:
    """The message asking for the conversation's step, and its buttons (each carrying id and version)."""
    data, step = conversation.data, conversation.step

    def key(label: str, choice: str) -> Key:
        return Key(_cut(label), step_data(conversation.id, conversation.version, choice))

    cancel_row = (key("Cancel", "x"),)
    notes = (note,) if note else ()
    if step == CONNECTIONS:
        access = await _access(inbound, conversation)
        choices = await form.choices(inbound.runtime, inbound.uow.session, access)
        ticked = set(data["ids"])
        rows = tuple(
            (key(f"{'✅' if c.id in ticked else '⬜'} {c.label}{RECONNECT if c.needs_reconnect else ''}", f"t{c.id}"),)
            for c in choices.connections
        )
        message = ChatMessage(
            f"Schedule a post for {data['venue']}: where to?",
            (*notes, "Tick where it goes (press again to untick), then press Done."),
        )
        return message, (*rows, (key("Done", "done"),), cancel_row)
    if step == TEXT:
        keep = ((key("Keep the text", "keep"),),) if data.get("editing") and data.get("text") else ()
        lines = (*notes, "Type the post's text and send it.", "/cancel stops at any step.")
        return ChatMessage("What should the post say?", lines), (*keep, cancel_row)
    if step == PHOTO:
        limit = inbound.runtime.settings.cheers_telegram_max_photo_mb
        keep = ((key("Keep the photo", "keep"),),) if data.get("editing") and data.get("photo") else ()
        lines = (*notes, f"Send a photo here (up to {limit} MB), or press Skip to post without one.")
        return ChatMessage("Add a photo?", lines), (*keep, (key("Skip (no photo)", "skip"),), cancel_row)
    if step == WHEN:
        quick = tuple(
            key(label, choice) for choice, (label, phrase) in QUICK.items() if _possible(inbound, data, phrase)
        )
        asked = tuple(key(_choice_label(c), f"w:{c}") for c in data.get("asked") or () if _fits(c))
        keep = ((key("Keep the time", "keep"),),) if data.get("editing") and data.get("day") else ()
        lines = (
            *notes,
            f"Type when, in {data['venue']}'s own time ({data['tz']}): for example {EXAMPLES}.",
            "Or press one of these:",
        )
        offered: Keyboard = tuple(r for r in (asked, quick) if r)
        return ChatMessage("When should it go out?", lines), (*offered, *keep, cancel_row)
    return await _preview(inbound, conversation, key, notes)


async def _preview(
    inbound: Inbound, conversation: Conversation, key: Callable[[str, str], Key], notes: tuple[str, ...]
) -> tuple[ChatMessage, Keyboard]:
    data = conversation.data
    access = await _access(inbound, conversation)
    lines = await form.preview(
        inbound.runtime,
        inbound.uow.session,
        access,
        connection_ids=data["ids"],
        text=data.get("text") or "",
        photo_id=data.get("photo"),
    )
    message = ChatMessage(
        f"Check your post for {data['venue']}",
        (
            *notes,
            f"When: {_when_text(data)}",
            f"Photo: {data.get('photo_name') or 'none'}",
            f"Text: {data.get('text') or ''}",
            "What each platform gets:",
            *(f"{'✅' if line.ok else '⚠️'} {line.label}: {line.text}" for line in lines),
        ),
    )
    keyboard: Keyboard = (
        (key("Confirm", "ok"),),
        (key("Edit text", "et"), key("Edit photo", "ep")),
        (key("Edit time", "ew"), key("Edit where", "ec")),
        (key("Cancel", "x"),),
    )
    return message, keyboard


def _expected(step: str) -> str:
    return {
        CONNECTIONS: "Use the buttons to choose where to post.",
        TEXT: "I'm waiting for the post's text.",
        PHOTO: "I'm waiting for a photo (send it as a photo), or press Skip.",
        WHEN: "I'm waiting for when it should go out.",
        PREVIEW: "Use the buttons: Confirm, Edit or Cancel.",
    }[step]


def _in_private(inbound: Inbound) -> ChatMessage:
    username = inbound.runtime.settings.cheers_telegram_bot_username
    where = f"https://t.me/{username}" if username else "a private chat with me"
    return ChatMessage(
        "Let's do this in a private chat",
        (f"Scheduling step by step happens in a private chat: open {where} and send /schedule there.",),
    )


def _message_id(update: Update) -> int | None:
    message = update.effective_message
    return message.message_id if message is not None else None


# --- when --------------------------------------------------------------------------------------------------------


async def _take_when(inbound: Inbound, conversation: Conversation, said: str, *, shown: int | None = None) -> None:
    data = conversation.data
    try:
        instant = resolve_phrase(said, data["tz"], now=inbound.runtime.clock.now())
    except PostTimeInvalid as exc:
        # Asked back: the same step again (a new version, so the old buttons go), with the choices as buttons.
        choices = [_in_context(str(c), said) for c in exc.extra.get("choices") or []]
        note = render.refusal(exc).lines
        moved = await _advance(inbound, conversation, WHEN, asked=choices)
        if moved is None:
            inbound.replies.say(inbound.turn.chat_id, ChatMessage(OUT_OF_DATE, ("Type /schedule to start again.",)))
            return
        if shown is not None:
            inbound.replies.edit(inbound.turn.chat_id, shown, ChatMessage("When", (f"'{said}' wasn't clear.",)))
        prompt, keyboard = await _prompt(inbound, moved, note=" ".join(note))
        inbound.replies.say(inbound.turn.chat_id, prompt, keyboard=keyboard)
        return
    local = instant.astimezone(zone(data["tz"]))
    # 'now' means when Confirm is pressed, not the minute it was typed (which would have passed by then).
    right_away = instant - inbound.runtime.clock.now() < NOW
    await _move(
        inbound,
        conversation,
        _after(conversation, WHEN),
        shown=shown,
        day=local.date().isoformat(),
        at=local.strftime("%H:%M"),
        now=right_away,
        asked=[],
    )


def _possible(inbound: Inbound, data: dict[str, Any], phrase: str) -> bool:
    """A quick button is offered only while it means a time still ahead ('tonight 6pm' goes at 6pm)."""
    try:
        resolve_phrase(phrase, data["tz"], now=inbound.runtime.clock.now())
    except PostTimeInvalid:
        return False
    return True


def _when_text(data: dict[str, Any]) -> str:
    if data.get("now"):
        return "now (as soon as you confirm)"
    if not data.get("day") or not data.get("at"):
        return ""
    moment = datetime.fromisoformat(f"{data['day']}T{data['at']}")
    return f"{moment:%a %d %b %H:%M} ({data['tz']})"


def _in_context(choice: str, said: str) -> str:
    """An asked-back choice as a whole phrase: '6pm' for 'tomorrow 6' is 'tomorrow 6pm' (a date-time stays as is)."""
    hour = re.match(r"\d{1,2}(?=am|pm)", choice)
    if hour is None:
        return choice
    phrase = re.sub(rf"(?<![\d:.]){hour.group(0)}(?![\d:.]|am|pm)", choice, said.strip().lower(), count=1)
    return phrase if phrase != said.strip().lower() else choice


def _choice_label(value: str) -> str:
    try:
        return f"{datetime.fromisoformat(value):%a %d %b %H:%M}"
    except ValueError:
        return value


def _fits(choice: str) -> bool:
    return 0 < len(choice.encode()) <= MAX_CHOICE_BYTES


# --- confirm -----------------------------------------------------------------------------------------------------


async def _confirm(inbound: Inbound, conversation: Conversation, shown: int | None) -> None:
    """Schedule it as the person, once: the flow ends in the same transaction as the post is created."""
    chat_id = inbound.turn.chat_id
    session, clock = inbound.uow.session, inbound.runtime.clock
    data = conversation.data
    day, at = data.get("day"), data.get("at")
    if data.get("now"):
        local = clock.now().astimezone(zone(data["tz"]))
        day, at = local.date().isoformat(), local.strftime("%H:%M")
    filled = FormInput(
        connection_ids=[int(i) for i in data["ids"]],
        text=data.get("text") or "",
        photo_id=data.get("photo"),
        day=day,
        at=at,
    )
    try:
        if not await conversations.finish(session, clock, conversation):
            inbound.replies.say(chat_id, ChatMessage(OUT_OF_DATE, ("Type /schedule to start again.",)))
            return
        access = await _access(inbound, conversation)
        done = await form.submit(inbound.runtime, session, access, filled)
        post = await views.post_view(session, access, done.saved.post, clock=clock)
    except FormInvalid as exc:
        # Nothing is kept (the flow is back at its version): go to the step of the first field to change.
        await inbound.uow.rollback()
        field = next(iter(exc.errors))
        note = " ".join(exc.errors.values())
        await _move(inbound, conversation, STEP_OF_FIELD.get(field, PREVIEW), shown=shown, note=note, editing=True)
        return
    except DomainError as exc:
        await inbound.uow.rollback()
        log.info("telegram_flow_refused", code=exc.code, conversation_id=conversation.id)
        inbound.replies.say(chat_id, render.refusal(exc))
        return
    log.info("telegram_flow_scheduled", post_id=done.saved.post.id, conversation_id=conversation.id)
    if shown is not None:
        inbound.replies.edit(chat_id, shown, ChatMessage("Confirmed", (f"Post {done.saved.post.id} is scheduled.",)))
    inbound.replies.say(chat_id, render.scheduled(done.saved.message, post, done.left_out))


async def _access(inbound: Inbound, conversation: Conversation) -> VenueAccess:
    """The person's editor access to the flow's venue, checked again at every step that reads or writes it."""
    session, clock = inbound.uow.session, inbound.runtime.clock
    person = await people.find_person(session, inbound.turn)
    if not person.linked or person.user_id != conversation.user_id or conversation.account_id is None:
        raise NotFound("this schedule was started by someone else", remedy="type /schedule to start your own")
    return await authorize(session, clock, person.actor, conversation.account_id, Role.editor, purpose=PURPOSE)


# --- the photo ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Wanted:
    file_id: str
    unique_id: str
    size: int | None
    name: str


def _image_document(message: Message) -> bool:
    document = message.document
    return document is not None and (document.mime_type or "").startswith("image/")


def _wanted(message: Message) -> _Wanted:
    if message.photo:
        biggest = message.photo[-1]  # Telegram lists a photo's sizes smallest first
        return _Wanted(
            biggest.file_id, biggest.file_unique_id, biggest.file_size, f"telegram-{biggest.file_unique_id}.jpg"
        )
    document = message.document
    assert document is not None
    return _Wanted(document.file_id, document.file_unique_id, document.file_size, document.file_name or "photo")


async def _take_photo(inbound: Inbound, conversation: Conversation, message: Message) -> None:
    chat_id = inbound.turn.chat_id
    wanted = _wanted(message)
    try:
        access = await _access(inbound, conversation)
        content = await _download(inbound, wanted)
        uploaded = await media_core.upload(
            inbound.runtime,
            cast(Any, _MediaUnit(inbound.uow)),  # what upload uses of a UnitOfWork: session and after_commit
            access,
            _one_chunk(content),
            filename=wanted.name,
        )
        if uploaded.asset.kind.value != "image":
            raise PhotoRefused("that file is not a photo", remedy="send a photo (JPEG or PNG), or press Skip")
    except DomainError as exc:
        await inbound.uow.rollback()
        log.info("telegram_flow_photo_refused", code=exc.code, conversation_id=conversation.id)
        # The flow stays where it was (the rollback kept it at its version): ask for the photo again.
        read = await conversations.current(inbound.uow.session, inbound.runtime.clock, inbound.turn)
        if read is not None:
            prompt, keyboard = await _prompt(inbound, read, note=" ".join(render.refusal(exc).lines))
            inbound.replies.say(chat_id, prompt, keyboard=keyboard)
        return
    asset = uploaded.asset
    log.info("telegram_flow_photo_taken", asset_id=asset.id, size=len(content), duplicate=uploaded.duplicate)
    await _move(inbound, conversation, _after(conversation, PHOTO), photo=asset.id, photo_name=asset.filename)


class _MediaUnit:
    """The update's unit of work as core.media's upload uses it: its session, and work to start after the commit
    (waking the derivatives job, as POST /api/media does)."""

    def __init__(self, unit: TurnUnit) -> None:
        self.session = unit.session
        self._unit = unit

    def after_commit(self, hook: Callable[[], Awaitable[None]]) -> None:
        register = getattr(self._unit, "after_commit", None)
        if register is None:  # a unit without hooks: the media sweep finds the pending photo within its minute
            log.info("telegram_flow_photo_left_to_sweep")
            return
        register(hook)


async def _one_chunk(content: bytes) -> AsyncIterator[bytes]:
    yield content


async def _download(inbound: Inbound, wanted: _Wanted) -> bytes:
    """The file's bytes from the Bot API host, within the size limit and the timeout; PhotoRefused otherwise."""
    settings = inbound.runtime.settings
    limit = settings.cheers_telegram_max_photo_mb * 1024 * 1024
    too_large = PhotoRefused(
        f"that photo is larger than the {settings.cheers_telegram_max_photo_mb} MB limit",
        remedy="send a smaller photo (Telegram's compressed photo, not the original file), or press Skip",
    )
    if wanted.size is not None and wanted.size > limit:
        raise too_large
    token = settings.cheers_telegram_bot_token
    if not token:
        raise PhotoRefused("the Telegram bot is not configured here", remedy="press Skip to post without a photo")
    origin = settings.telegram_api_origin
    seconds = settings.cheers_telegram_timeout_seconds
    not_fetched = PhotoRefused(
        "I couldn't fetch that photo from Telegram just now", remedy="send it again, or press Skip"
    )
    try:
        async with asyncio.timeout(seconds), httpx.AsyncClient(timeout=seconds, follow_redirects=False) as client:
            answer = await client.post(f"{origin}/bot{token}/getFile", data={"file_id": wanted.file_id})
            found = answer.json() if answer.headers.get("content-type", "").startswith("application/json") else {}
            if not found.get("ok") or not isinstance(found.get("result"), dict):
                log.warning("telegram_flow_getfile_failed", status=answer.status_code, error=found.get("description"))
                raise not_fetched
            result = found["result"]
            size = result.get("file_size")
            if isinstance(size, int) and size > limit:
                raise too_large
            url = _file_url(origin, token, str(result.get("file_path") or ""))
            async with client.stream("GET", url) as response:
                if response.status_code != 200:
                    log.warning("telegram_flow_file_failed", status=response.status_code)
                    raise not_fetched
                declared = response.headers.get("content-length", "")
                if declared.isdecimal() and int(declared) > limit:
                    raise too_large
                received = bytearray()
                async for chunk in response.aiter_bytes():
                    received.extend(chunk)
                    if len(received) > limit:  # the declared sizes can be missing or wrong: count what arrives
                        raise too_large
                return bytes(received)
    except (TimeoutError, httpx.HTTPError, ValueError) as exc:
        # Never the exception's text: httpx puts the request URL, with the bot token, in it.
        log.warning("telegram_flow_photo_not_fetched", error=exc.__class__.__name__)
        raise not_fetched from None


def _file_url(origin: str, token: str, file_path: str) -> str:
    """`{origin}/file/bot{token}/{file_path}`, refusing a path that would lead anywhere but the API host's files."""
    parts = file_path.split("/")
    if (
        not file_path
        or "://" in file_path
        or file_path.startswith(("/", "\\"))
        or any(p in ("", ".", "..") for p in parts)
        or any(c in file_path for c in "?#\\%@")
        or not file_path.isprintable()
    ):
        log.warning("telegram_flow_file_path_refused")
        raise PhotoRefused("Telegram answered with a file location I won't fetch", remedy="press Skip, or try again")
    url = f"{origin}/file/bot{token}/{quote(file_path)}"
    if urlsplit(url).netloc != urlsplit(origin).netloc:
        raise PhotoRefused("Telegram answered with a file location I won't fetch", remedy="press Skip, or try again")
    return url


def _cut(label: str) -> str:
    return label if len(label) <= MAX_BUTTON_LABEL else label[: MAX_BUTTON_LABEL - 1] + "…"
