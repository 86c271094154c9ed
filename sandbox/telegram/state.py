"""The Telegram twin's world and its rules: the bot, people, chats, messages, files, updates, faults, reading.

The Bot API methods (sandbox/telegram/api.py), the HTTP layer and control interface (sandbox/telegram/twin.py)
and the tests share this one truth. Time comes from the twin's clock (sandbox.clock.TwinClock), so message
dates and the age of a callback query follow the test's clock.
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
import zlib
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sandbox.clock import TwinClock
from sandbox.telegram.html import HtmlError, parse_html, utf16_len
from sandbox.telegram.model import (
    CALLBACK_ANSWER_SECONDS,
    MAX_BUTTONS,
    MAX_CALLBACK_DATA,
    MAX_TEXT,
    UPDATE_KEPT_SECONDS,
    CallbackQuery,
    CallRecord,
    Chat,
    Fault,
    Message,
    Person,
    StoredFile,
    TelegramError,
    Update,
    Webhook,
    WebhookPolicy,
    bad_request,
    random_string,
)

DEV_BOT_TOKEN = "7000000001:AAHsandbox-bot-token-for-cheersai-twin01"  # the twin's bot (make dev, tests)
DEV_BOT_USERNAME = "cheers_sandbox_bot"
DEV_BOT_NAME = "CheersAI Sandbox"
DEV_WEBHOOK_SECRET = "sandbox-telegram-webhook-secret"  # what `make dev` registers with setWebhook
TOKEN_SHAPE = re.compile(r"^(\d{6,12}):[A-Za-z0-9_-]{30,}$")
_COMMAND = re.compile(r"(?<![^\s])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class TelegramTwinState:
    """Everything the twin knows about one bot; reset() empties the world (the bot itself stays)."""

    def __init__(
        self,
        *,
        token: str = DEV_BOT_TOKEN,
        username: str = DEV_BOT_USERNAME,
        clock: TwinClock | None = None,
    ) -> None:
        match = TOKEN_SHAPE.match(token)
        if match is None:
            raise ValueError("a bot token looks like 123456789:AAH... (digits, colon, 30+ letters)")
        self.clock = clock or TwinClock()
        self.token = token
        self.bot_id = int(match.group(1))
        self.username = username
        self.first_name = DEV_BOT_NAME
        self._arrived: asyncio.Event | None = None  # set when an update is queued (getUpdates long polling)
        self.poller = 0  # the newest getUpdates call; an older one still waiting is answered 409 Conflict
        self.reset()

    # -- world ---------------------------------------------------------------------------------

    def reset(self) -> None:
        """No people, chats, messages, files, updates, webhook, commands, faults or calls; clock offset reset."""
        self.clock.reset()
        self.people: dict[int, Person] = {}
        self.chats: dict[int, Chat] = {}
        self.messages: dict[int, list[Message]] = {}
        self.last_message_id: dict[int, int] = {}
        self.files: dict[str, StoredFile] = {}
        self.updates: list[Update] = []
        self.last_update_id = 100_000_000  # Telegram's ids start at an arbitrary number
        self.webhook = Webhook()
        self.commands: dict[str, list[dict[str, Any]]] = {}  # scope+language → the command list
        self.callback_queries: dict[str, CallbackQuery] = {}
        self.blocked: set[int] = set()  # people who blocked the bot
        self.kicked: set[int] = set()  # groups the bot was removed from
        self.privacy_mode = True  # BotFather's default: in groups, commands and replies only
        self.faults: list[Fault] = []
        self.calls: list[CallRecord] = []
        self.policy = WebhookPolicy()

    def now(self) -> datetime:
        """The twin's time."""
        return self.clock.now()

    def epoch(self) -> int:
        """The twin's time as Unix seconds (message dates)."""
        return int(self.now().timestamp())

    def bot_user(self) -> dict[str, Any]:
        """The bot as a User object."""
        return {"id": self.bot_id, "is_bot": True, "first_name": self.first_name, "username": self.username}

    def check_token(self, token: str) -> None:
        """A malformed token is 404 Not Found, a well-formed wrong one 401 Unauthorized, as on Telegram."""
        if token == self.token:
            return
        if TOKEN_SHAPE.match(token) is None:
            raise TelegramError(404, "Not Found")
        raise TelegramError(401, "Unauthorized")

    def person(self, user_id: int, name: str | None = None) -> Person:
        """The person with this id, made on first sight (their name is updated when given)."""
        found = self.people.get(user_id)
        if found is None:
            first = name or "Sam"
            found = Person(user_id, first, username=re.sub(r"[^a-z0-9_]", "", first.lower()) or None)
            self.people[user_id] = found
        elif name:
            found.first_name = name
        return found

    def open_chat(self, chat_id: int, chat_type: str, *, title: str | None, person: Person) -> Chat:
        """The chat, made on first sight: a private chat's id is the person's id; groups have negative ids."""
        found = self.chats.get(chat_id)
        if found is not None:
            if title and found.type != "private":
                found.title = title
            return found
        if chat_id > 0:
            chat = Chat(chat_id, "private", first_name=person.first_name, username=person.username)
        else:
            kind = chat_type if chat_type in ("group", "supergroup") else "group"
            if str(chat_id).startswith("-100"):
                kind = "supergroup"
            chat = Chat(chat_id, kind, title=title or f"Group {abs(chat_id)}")
        self.chats[chat_id] = chat
        return chat

    def chat(self, chat_id: Any) -> Chat:
        """A chat the bot can see, by id; "chat not found" otherwise (also for @usernames: no channels here)."""
        try:
            found = self.chats.get(int(chat_id))
        except (TypeError, ValueError):
            found = None
        if found is None:
            raise bad_request("chat not found")
        return found

    def writable(self, chat: Chat) -> Chat:
        """A chat the bot may still write to: not blocked by the person, not kicked from the group."""
        if chat.type == "private" and chat.id in self.blocked:
            raise TelegramError(403, "Forbidden: bot was blocked by the user")
        if chat.id in self.kicked:
            kind = "supergroup" if chat.type == "supergroup" else "group"
            raise TelegramError(403, f"Forbidden: bot was kicked from the {kind} chat")
        return chat

    # -- messages ------------------------------------------------------------------------------

    def next_message_id(self, chat_id: int) -> int:
        """The chat's next message id (ids count per chat, as in private chats and groups)."""
        value = self.last_message_id.get(chat_id, 0) + 1
        self.last_message_id[chat_id] = value
        return value

    def add_message(self, message: Message) -> Message:
        """Keep a message in its chat."""
        self.messages.setdefault(message.chat_id, []).append(message)
        return message

    def find_message(self, chat_id: int, message_id: Any, *, missing: str) -> Message:
        """A message still in the chat, or 400 with `missing` as the description."""
        try:
            wanted = int(message_id)
        except (TypeError, ValueError):
            raise bad_request(missing) from None
        found = next(
            (m for m in self.messages.get(chat_id, []) if m.message_id == wanted and not m.deleted),
            None,
        )
        if found is None:
            raise bad_request(missing)
        return found

    def parse_text(
        self, text: Any, parse_mode: Any, *, limit: int = MAX_TEXT, caption: bool = False
    ) -> tuple[str, str | None, list[dict[str, Any]]]:
        """(plain text, the HTML as sent or None, entities), refused as Telegram refuses it."""
        raw = "" if text is None else str(text)
        mode = str(parse_mode or "")
        entities: list[dict[str, Any]] = []
        if mode == "":
            plain, html = raw, None
        elif mode.upper() == "HTML":
            try:
                plain, entities = parse_html(raw)
            except HtmlError as exc:
                raise bad_request(f"can't parse entities: {exc}") from None
            html = raw
        elif mode in ("Markdown", "MarkdownV2"):
            raise bad_request(f"the sandbox twin parses parse_mode HTML only, not {mode}")
        else:
            raise bad_request("unsupported parse_mode")
        if not caption and not plain.strip():
            raise bad_request("message text is empty")
        if len(plain) > limit:
            raise bad_request("message caption is too long" if caption else "message is too long")
        return plain, html, entities

    def check_markup(self, markup: Any) -> dict[str, Any] | None:
        """An inline keyboard checked as Telegram checks it (callback_data 1..64 bytes, at most 100 buttons)."""
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in markup:
            return markup  # reply keyboards and force_reply are kept as given
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
        if sum(len(r) for r in rows) > MAX_BUTTONS:
            raise bad_request("too many inline keyboard buttons")
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not str(button.get("text", "")).strip():
                    raise bad_request("inline keyboard button text must be non-empty")
                kinds = [
                    k
                    for k in (
                        "url",
                        "callback_data",
                        "switch_inline_query",
                        "login_url",
                        "web_app",
                        "pay",
                        "copy_text",
                        "switch_inline_query_current_chat",
                    )
                    if k in button
                ]
                if len(kinds) != 1:
                    raise bad_request('can\'t find field "url" or "callback_data" in an inline keyboard button')
                if "callback_data" in button:
                    data = str(button["callback_data"]).encode()
                    if not 1 <= len(data) <= MAX_CALLBACK_DATA:
                        raise bad_request("BUTTON_DATA_INVALID")
                if "url" in button and not re.match(r"^(https?|tg)://\S+$", str(button["url"])):
                    raise bad_request(f"inline keyboard button URL '{button['url']}' is invalid: Wrong HTTP URL")
        return markup

    def message_json(self, message: Message, *, with_reply: bool = True) -> dict[str, Any]:
        """The Message object as Telegram sends it."""
        chat = self.chats[message.chat_id]
        sender = self.bot_user() if message.by_bot else self.people[message.from_id].as_telegram()
        out: dict[str, Any] = {
            "message_id": message.message_id,
            "from": sender,
            "chat": chat.as_telegram(),
            "date": message.date,
        }
        if message.edit_date is not None:
            out["edit_date"] = message.edit_date
        if message.reply_to_message_id is not None and with_reply:
            replied = next(
                (m for m in self.messages.get(message.chat_id, []) if m.message_id == message.reply_to_message_id),
                None,
            )
            if replied is not None:
                out["reply_to_message"] = self.message_json(replied, with_reply=False)
        if message.text is not None:
            out["text"] = message.text
            if message.entities:
                out["entities"] = message.entities
        if message.document is not None:
            out["document"] = message.document
        if message.photo is not None:
            out["photo"] = message.photo
        if message.caption is not None:
            out["caption"] = message.caption
            if message.caption_entities:
                out["caption_entities"] = message.caption_entities
        if message.reply_markup is not None:
            out["reply_markup"] = message.reply_markup
        return out

    # -- files ---------------------------------------------------------------------------------

    def store_file(
        self, data: bytes, folder: str, suffix: str, *, file_name: str | None = None, mime_type: str | None = None
    ) -> StoredFile:
        """Keep bytes as a file getFile hands out under `folder/`."""
        number = len(self.files)
        stored = StoredFile(
            file_id=("BQACAgQAAxkBAAI" if folder == "documents" else "AgACAgQAAxkBAAI") + random_string(40),
            file_unique_id="AQAD" + random_string(12),
            file_path=f"{folder}/file_{number}{suffix}",
            size=len(data),
            content_b64=base64.b64encode(data).decode(),
            file_name=file_name,
            mime_type=mime_type,
        )
        self.files[stored.file_id] = stored
        return stored

    def file_by_path(self, path: str) -> StoredFile | None:
        """The file at a getFile path (downloads)."""
        return next((f for f in self.files.values() if f.file_path == path), None)

    def file_content(self, file_id: str) -> bytes:
        """The bytes of a kept file."""
        return base64.b64decode(self.files[file_id].content_b64)

    def photo_sizes(self, data: bytes) -> list[dict[str, Any]]:
        """A photo as Telegram stores it: smaller JPEG copies (90 and 320 px on the long side) and the photo."""
        from PIL import Image, UnidentifiedImageError  # only the twin needs Pillow here

        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except (UnidentifiedImageError, OSError):
            raise bad_request("IMAGE_PROCESS_FAILED") from None
        sizes: list[dict[str, Any]] = []
        for side in (90, 320):
            if max(image.size) <= side:
                continue
            copy = image.convert("RGB")
            copy.thumbnail((side, side))
            out = io.BytesIO()
            copy.save(out, "JPEG", quality=80)
            sizes.append(self._size(out.getvalue(), copy.size))
        sizes.append(self._size(data, image.size))
        return sizes

    def photo_with(self, file_id: str) -> list[dict[str, Any]] | None:
        """The sizes of the photo one of whose sizes has this file_id (a photo sent again by its id)."""
        for messages in self.messages.values():
            for message in messages:
                if message.photo and any(size["file_id"] == file_id for size in message.photo):
                    return message.photo
        return None

    def _size(self, data: bytes, size: tuple[int, int]) -> dict[str, Any]:
        stored = self.store_file(data, "photos", ".jpg", mime_type="image/jpeg")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "width": size[0],
            "height": size[1],
        }

    # -- updates (what people do) ---------------------------------------------------------------

    def queue(self, kind: str, body: dict[str, Any]) -> Update:
        """A new update, held until it is delivered to the webhook or confirmed through getUpdates."""
        self.last_update_id += 1
        update = Update(self.last_update_id, kind, {"update_id": self.last_update_id, kind: body}, self.now())
        # Telegram keeps updates for 24 hours; so does the twin, so a long `make dev` state stays small.
        kept_from = self.now() - timedelta(seconds=UPDATE_KEPT_SECONDS)
        self.updates = [u for u in self.updates if not (u.confirmed and u.created_at < kept_from)]
        self.updates.append(update)
        if self._arrived is not None:
            self._arrived.set()
        return update

    def arrived(self) -> asyncio.Event:
        """Set whenever an update is queued (getUpdates waits on it)."""
        if self._arrived is None:
            self._arrived = asyncio.Event()
        return self._arrived

    def pending(self, allowed: list[str] | None = None) -> list[Update]:
        """Updates neither delivered nor confirmed, oldest first (of the `allowed` kinds)."""
        return [u for u in self.updates if not u.confirmed and (not allowed or u.kind in allowed)]

    def update(self, update_id: int) -> Update:
        """An update by id, or LookupError."""
        found = next((u for u in self.updates if u.update_id == update_id), None)
        if found is None:
            raise LookupError(f"no update {update_id}")
        return found

    def _resolve_chat(self, person: Person, chat_id: int | None, chat_type: str, title: str | None) -> Chat:
        target = chat_id if chat_id is not None else person.id
        if target == person.id:
            chat_type = "private"
        elif target > 0:
            raise ValueError("a private chat's id is the person's id; a group's id is negative")
        chat = self.open_chat(target, chat_type, title=title, person=person)
        if chat.id in self.kicked:
            raise ValueError(f"the bot is not in chat {chat.id} (kicked); bot_added puts it back")
        return chat

    def user_says(
        self,
        text: str,
        *,
        user_id: int,
        chat_id: int | None = None,
        chat_type: str = "private",
        user_name: str | None = None,
        chat_title: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> Update | None:
        """A person writes in a chat: the message update, with bot_command entities as Telegram marks them.
        None when privacy mode keeps a group message from the bot (the message is still in the chat)."""
        person = self.person(user_id, user_name)
        chat = self._resolve_chat(person, chat_id, chat_type, chat_title)
        if chat.type == "private":
            self.blocked.discard(person.id)  # writing to a bot you blocked unblocks it, as in the app
        entities = [
            {"type": "bot_command", "offset": utf16_len(text[: m.start()]), "length": utf16_len(m.group(0))}
            for m in _COMMAND.finditer(text)
        ]
        message = self.add_message(
            Message(
                chat.id,
                self.next_message_id(chat.id),
                self.epoch(),
                person.id,
                False,
                text=text,
                entities=entities,
                reply_to_message_id=self._replied(chat.id, reply_to_message_id),
            )
        )
        if not self.bot_sees(chat, text, message.reply_to_message_id):
            return None
        return self.queue("message", self.message_json(message))

    def user_sends_photo(
        self,
        data: bytes,
        *,
        user_id: int,
        chat_id: int | None = None,
        caption: str | None = None,
        user_name: str | None = None,
        chat_type: str = "private",
        chat_title: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> Update | None:
        """A person sends a photo: its sizes are stored as files getFile hands out. None when privacy mode keeps
        it from the bot."""
        person = self.person(user_id, user_name)
        chat = self._resolve_chat(person, chat_id, chat_type, chat_title)
        sizes = self.photo_sizes(data)
        message = self.add_message(
            Message(
                chat.id,
                self.next_message_id(chat.id),
                self.epoch(),
                person.id,
                False,
                photo=sizes,
                caption=caption,
                reply_to_message_id=self._replied(chat.id, reply_to_message_id),
            )
        )
        if not self.bot_sees(chat, caption or "", message.reply_to_message_id):
            return None
        return self.queue("message", self.message_json(message))

    def _replied(self, chat_id: int, message_id: int | None) -> int | None:
        if message_id is None:
            return None
        if not any(m.message_id == message_id for m in self.messages.get(chat_id, [])):
            raise LookupError(f"no message {message_id} in chat {chat_id} to reply to")
        return message_id

    def bot_sees(self, chat: Chat, text: str, reply_to: int | None) -> bool:
        """Privacy mode (BotFather's default): in a group the bot gets commands not meant for another bot, replies
        to its own messages and messages mentioning it; everything in a private chat."""
        if chat.type == "private" or not self.privacy_mode:
            return True
        if reply_to is not None and any(m.message_id == reply_to and m.by_bot for m in self.messages.get(chat.id, [])):
            return True
        if f"@{self.username}".lower() in text.lower():
            return True
        for command in _COMMAND.finditer(text):
            _name, _, addressed = command.group(0).partition("@")
            if not addressed or addressed.lower() == self.username.lower():
                return True
        return False

    def user_clicks(self, label: str, *, user_id: int, chat_id: int, message_id: int | None = None) -> Update | str:
        """A person presses a button with this label on the bot's latest message that has one (or `message_id`):
        the callback_query update, or the URL when it is a link button."""
        person = self.person(user_id)
        candidates = [
            m
            for m in reversed(self.messages.get(chat_id, []))
            if m.by_bot and not m.deleted and (message_id is None or m.message_id == message_id)
        ]
        for message in candidates:
            for row in (message.reply_markup or {}).get("inline_keyboard", []):
                for button in row:
                    if button.get("text") != label:
                        continue
                    if "url" in button:
                        return str(button["url"])
                    query = CallbackQuery(
                        id=str(zlib.crc32(random_string(16).encode())) + random_string(6, "0123456789"),
                        user_id=person.id,
                        chat_id=chat_id,
                        message_id=message.message_id,
                        data=str(button.get("callback_data", "")),
                        created_at=self.now(),
                    )
                    self.callback_queries[query.id] = query
                    body = {
                        "id": query.id,
                        "from": person.as_telegram(),
                        "message": self.message_json(message),
                        "chat_instance": str(zlib.crc32(f"{self.bot_id}:{chat_id}".encode())),
                        "data": query.data,
                    }
                    return self.queue("callback_query", body)
        where = f"message {message_id}" if message_id is not None else f"the bot's messages in chat {chat_id}"
        raise LookupError(f"no button {label!r} on {where}")

    def bot_added(self, chat_id: int, *, title: str, by_user_id: int, user_name: str | None = None) -> Update:
        """Someone adds the bot to a group: a my_chat_member update (left → member)."""
        if chat_id >= 0:
            raise ValueError("a group's id is negative")
        person = self.person(by_user_id, user_name)
        chat = self.open_chat(chat_id, "group", title=title, person=person)
        self.kicked.discard(chat.id)
        body = {
            "chat": chat.as_telegram(),
            "from": person.as_telegram(),
            "date": self.epoch(),
            "old_chat_member": {"user": self.bot_user(), "status": "left"},
            "new_chat_member": {"user": self.bot_user(), "status": "member"},
        }
        return self.queue("my_chat_member", body)

    def answer_callback(self, query_id: str, answer: dict[str, Any]) -> None:
        """Answer a callback query once, within Telegram's window; 400 "query is too old" otherwise."""
        query = self.callback_queries.get(query_id)
        too_old = query is not None and self.now() - query.created_at > timedelta(seconds=CALLBACK_ANSWER_SECONDS)
        if query is None or query.answered or too_old:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        query.answered, query.answer = True, answer

    # -- faults ---------------------------------------------------------------------------------

    def take_fault(self, method: str) -> Fault | None:
        """The first armed fault for `method` (case-insensitive, as Telegram's method names are), counting one use."""
        for fault in self.faults:
            if fault.remaining > 0 and (fault.method is None or fault.method.lower() == method.lower()):
                fault.remaining -= 1
                return fault
        return None

    # -- reading (tests and the inspection API) -------------------------------------------------

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """Every message the bot sent in a chat, oldest first, deleted ones included (marked)."""
        out = []
        for m in self.messages.get(chat_id, []):
            if not m.by_bot:
                continue
            document = None
            if m.document is not None:
                document = {
                    "file_name": m.document.get("file_name"),
                    "size": m.document.get("file_size"),
                    "caption": m.caption,
                    "file_id": m.document.get("file_id"),
                    "mime_type": m.document.get("mime_type"),
                }
            out.append(
                {
                    "message_id": m.message_id,
                    "text": m.text if m.text is not None else m.caption,
                    "html": m.html,
                    "entities": m.entities,
                    "reply_markup": m.reply_markup,
                    "edited": m.edits,
                    "document": document,
                    "photo": m.photo,
                    "caption": m.caption,
                    "reply_to_message_id": m.reply_to_message_id,
                    "link_preview_disabled": m.link_preview_disabled,
                    "deleted": m.deleted,
                    "date": m.date,
                }
            )
        return out

    def callback_answers(self) -> list[dict[str, Any]]:
        """Every answered callback query with its answer."""
        return [
            {
                "callback_query_id": q.id,
                "user_id": q.user_id,
                "chat_id": q.chat_id,
                "message_id": q.message_id,
                "data": q.data,
                **(q.answer or {}),
            }
            for q in self.callback_queries.values()
            if q.answered
        ]

    def webhook_info(self) -> dict[str, Any]:
        """getWebhookInfo's answer."""
        info: dict[str, Any] = {
            "url": self.webhook.url,
            "has_custom_certificate": False,
            "pending_update_count": len(self.pending()),
        }
        if self.webhook.url:
            info["max_connections"] = self.webhook.max_connections
            if self.webhook.allowed_updates is not None:
                info["allowed_updates"] = self.webhook.allowed_updates
        if self.webhook.last_error_date is not None:
            info["last_error_date"] = self.webhook.last_error_date
            info["last_error_message"] = self.webhook.last_error_message
        return info

    def set_webhook(
        self,
        url: str,
        secret: str | None,
        allowed: list[str] | None = None,
        *,
        drop: bool = False,
        max_connections: int = 40,
    ) -> None:
        """Set the webhook (an empty url deletes it), checking the secret as Telegram does."""
        if secret is not None and secret != "" and not _SECRET.match(secret):
            raise bad_request("secret token contains unallowed characters")
        if url and not re.match(r"^https?://[^\s/]+", url):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if drop:
            for update in self.pending():
                update.confirmed = True
        self.webhook = Webhook(
            url=url, secret_token=secret or None, allowed_updates=allowed, max_connections=max_connections
        )

    def snapshot(self) -> dict[str, Any]:
        """What GET /_twin/state answers (JSON-ready)."""
        return {
            "now": self.now().isoformat(),
            "bot": self.bot_user(),
            "people": [asdict(p) for p in self.people.values()],
            "chats": [asdict(c) for c in self.chats.values()],
            "webhook": self.webhook_info(),
            "policy": asdict(self.policy),
            "blocked": sorted(self.blocked),
            "kicked": sorted(self.kicked),
            "privacy_mode": self.privacy_mode,
            "faults": [asdict(f) for f in self.faults if f.remaining > 0],
            "commands": self.commands,
            "updates": [
                {
                    "update_id": u.update_id,
                    "kind": u.kind,
                    "confirmed": u.confirmed,
                    "deliveries": [asdict(d) for d in u.deliveries],
                }
                for u in self.updates
            ],
        }

    # -- keeping (sandbox.persist) ---------------------------------------------------------------

    def durable(self) -> dict[str, Any]:
        """What survives a restart (`make dev`): people, chats, messages, files, updates, the webhook, commands,
        callback queries, blocks, kicks and privacy mode; not faults, calls, the resend policy or the clock offset."""
        return {name: getattr(self, name) for name in _DURABLE}

    def restore(self, saved: dict[str, Any]) -> None:
        """Put back what `durable` saved."""
        for name in _DURABLE:
            if name in saved:
                setattr(self, name, saved[name])


_DURABLE = (
    "people",
    "chats",
    "messages",
    "last_message_id",
    "files",
    "updates",
    "last_update_id",
    "webhook",
    "commands",
    "callback_queries",
    "blocked",
    "kicked",
    "privacy_mode",
)

__all__ = ["DEV_BOT_NAME", "DEV_BOT_TOKEN", "DEV_BOT_USERNAME", "DEV_WEBHOOK_SECRET", "TelegramTwinState"]
