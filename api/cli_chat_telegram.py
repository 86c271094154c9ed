"""`cheers chat telegram`: write to the bot, send it a photo or press one of its buttons, as a person in the sandbox
Telegram that `make dev` runs.

The Telegram twin builds the real update (a message with its bot_command entity, a photo, a callback_query) and
delivers it to the running service's /telegram/webhook with the secret, as Telegram does. The console then reads the
bot's messages in the chats concerned until they settle (a worker's answer follows "Working on it…") and prints what
changed: messages sent or edited, their buttons by label, documents, and the answer to a click. It talks to the twin
over HTTP only (no sandbox import); the twin keeps every message, so --click needs no memory of its own. What the
bot sent in those chats between two runs (an alert, its edit when resolved) is printed first, marked "meanwhile": the
console keeps what it last saw of each chat in var/telegram-console.json.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import httpx

from api.cli_support import to_json
from bot.telegram.later import WORKING
from core.errors import DomainError
from core.settings import Settings

Body = dict[str, Any]
DEFAULT_USER_ID = 4242  # the sandbox person who types when --user is not given (the twin names them Sam)
POLL_SECONDS = 0.2
SETTLE_SECONDS = 1.0  # once the answers are in, how long nothing new must arrive before we stop
# What the bot says at once when a worker answers later (a slow command's message, a slow click's toast).
PENDING = WORKING[: WORKING.index("…") + 1]
CONSOLE_FILE = "telegram-console.json"  # under var/: what the console last saw of each chat, for "meanwhile"
KEPT_CHATS = 50
DEEP_LINK = re.compile(r"^https://t\.me/(?P<bot>\w+)\?start=(?P<code>\S+)$")


class ConsoleRefused(DomainError):
    """The twin could not be reached, or the service refused the update the twin delivered."""

    code = "telegram_console"


@dataclass(frozen=True)
class Where:
    """Who writes and in which chat (a private chat's id is the person's; a group's is negative)."""

    user_id: int
    user_name: str | None
    chat_id: int
    group_title: str | None = None

    @property
    def private(self) -> bool:
        return self.chat_id > 0

    def watched(self) -> list[int]:
        """The chats whose bot messages answer this person here: the chat, and their private chat (private answers
        to a command typed in a group land there)."""
        return [self.chat_id] if self.private else [self.chat_id, self.user_id]


@dataclass
class Seen:
    """The bot's messages in the watched chats and the clicks answered, at one moment."""

    messages: dict[tuple[int, int], Body] = field(default_factory=dict)
    answers: dict[str, Body] = field(default_factory=dict)


class Console:
    """One person's turn in the sandbox Telegram: hand the twin an update, then follow the bot's answers."""

    def __init__(self, twin_url: str, http: httpx.AsyncClient) -> None:
        self.twin_url = twin_url
        self.http = http

    async def _twin(self, method: str, path: str, **kwargs: Any) -> Body:
        url = f"{self.twin_url}/_twin/{path}"
        try:
            answer = await self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise _no_twin(self.twin_url, exc.__class__.__name__) from exc
        if answer.status_code == 400:  # the twin refused the control call: say why (no such button, not an image)
            raise ConsoleRefused(f"the Telegram twin refused it: {_body(answer).get('error', answer.text[:300])}")
        if answer.status_code >= 300:
            raise _no_twin(self.twin_url, f"HTTP {answer.status_code}")
        return _body(answer)

    async def state(self) -> Body:
        return await self._twin("GET", "state")

    async def messages(self, chat_id: int) -> list[Body]:
        return list((await self._twin("GET", "messages", params={"chat_id": chat_id}))["messages"])

    async def seen(self, chats: list[int]) -> Seen:
        now = Seen()
        for chat in chats:
            for message in await self.messages(chat):
                now.messages[(chat, int(message["message_id"]))] = {**message, "chat_id": chat}
        for answer in (await self._twin("GET", "callback-answers"))["answers"]:
            now.answers[str(answer["callback_query_id"])] = answer
        return now

    async def says(self, where: Where, text: str) -> Body:
        body = {
            "text": text,
            "user_id": where.user_id,
            "user_name": where.user_name,
            "chat_id": where.chat_id,
            "chat_type": "private" if where.private else "group",
            "chat_title": where.group_title,
        }
        return await self._twin("POST", "updates/message", json=body)

    async def sends_photo(self, where: Where, data: bytes, caption: str | None) -> Body:
        body = {
            "data_b64": base64.b64encode(data).decode(),
            "user_id": where.user_id,
            "user_name": where.user_name,
            "chat_id": where.chat_id,
            "chat_type": "private" if where.private else "group",
            "chat_title": where.group_title,
            "caption": caption,
        }
        return await self._twin("POST", "updates/photo", json=body)

    async def clicks(self, where: Where, label: str, message_id: int) -> Body:
        body = {"label": label, "user_id": where.user_id, "chat_id": where.chat_id, "message_id": message_id}
        return await self._twin("POST", "updates/click", json=body)

    async def adds_bot(self, where: Where, title: str) -> Body:
        body = {"chat_id": where.chat_id, "title": title, "by_user_id": where.user_id, "user_name": where.user_name}
        return await self._twin("POST", "updates/bot-added", json=body)

    async def fetched(self, update_id: int, wait: float) -> bool:
        """Whether a poller (`cheers telegram poll`) confirmed the update with getUpdates within `wait` seconds."""
        deadline = time.monotonic() + wait
        while True:
            updates = (await self._twin("GET", "updates"))["updates"]
            if any(u["update_id"] == update_id and u["confirmed"] for u in updates):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(POLL_SECONDS)

    async def follow(self, before: Seen, chats: list[int], wait: float) -> tuple[list[Body], bool, Seen]:
        """What the bot did in `chats` since `before`, once nothing new came for a second and no "Working on it…"
        is left unanswered, or after `wait` seconds (a worker answers slow commands and clicks); and the last look."""
        deadline = time.monotonic() + wait
        order: list[tuple[Any, ...]] = []  # what changed, in the order it was first seen
        quiet_since = time.monotonic()
        now = before
        while True:
            now = await self.seen(chats)
            fresh = [key for key in _changed(before, now) if key not in order]
            if fresh:
                order.extend(fresh)
                quiet_since = time.monotonic()
            events = [_event(key, before, now) for key in order]
            waiting = _waiting(events)
            if not waiting and time.monotonic() - quiet_since >= SETTLE_SECONDS:
                return events, True, now
            if time.monotonic() >= deadline:
                return events, not waiting, now
            await asyncio.sleep(POLL_SECONDS)


# -- what the console saw last time (var/telegram-console.json) -------------------------------------------------

Memory = dict[str, dict[str, list[int]]]  # chat id → message id → [times edited, deleted]


def recall(path: Path) -> Memory:
    try:
        kept = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return kept if isinstance(kept, dict) else {}


def remember(path: Path, memory: Memory, seen: Seen, chats: list[int]) -> None:
    """Keep how each watched chat looks now, so the next run can tell what the bot did in between."""
    for chat in chats:
        memory.pop(str(chat), None)  # re-inserted last: the least recently used chats are dropped first
        memory[str(chat)] = {
            str(message_id): [int(m["edited"]), int(bool(m["deleted"]))]
            for (where, message_id), m in seen.messages.items()
            if where == chat
        }
    kept = dict(list(memory.items())[-KEPT_CHATS:])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(kept))
    except OSError:  # a read-only folder costs only the "meanwhile" part next time
        return


def meanwhile(memory: Memory, seen: Seen, chats: list[int]) -> list[Body]:
    """What the bot sent or edited in chats the console has looked at before, since it last looked."""
    found: list[Body] = []
    for (chat, message_id), message in sorted(seen.messages.items()):
        if chat not in chats or str(chat) not in memory:
            continue
        old = memory[str(chat)].get(str(message_id))
        if old == [int(message["edited"]), int(bool(message["deleted"]))]:
            continue
        kind = "sent" if old is None else "edited"
        found.append({**_event((kind, chat, message_id), seen, seen), "meanwhile": True})
    return found


def _body(answer: httpx.Response) -> Body:
    try:
        parsed = answer.json()
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _no_twin(url: str, why: str) -> ConsoleRefused:
    return ConsoleRefused(
        f"no Telegram twin answers at {url} ({why})",
        remedy="start `make dev` (it writes the twin's URL to var/dev-twins.env as CHEERS_TELEGRAM_API_URL), "
        "or pass --twin URL",
    )


def _changed(before: Seen, now: Seen) -> list[tuple[Any, ...]]:
    """Keys of what is new or different since `before`: answered clicks first, then messages by chat and id."""
    keys: list[tuple[Any, ...]] = [("answer", query) for query in now.answers if query not in before.answers]
    for key, message in sorted(now.messages.items()):
        old = before.messages.get(key)
        if old is None:
            keys.append(("sent", *key))
        elif (old["edited"], old["deleted"], old["text"], old["reply_markup"]) != (
            message["edited"],
            message["deleted"],
            message["text"],
            message["reply_markup"],
        ):
            keys.append(("edited", *key))
    return keys


def _event(key: tuple[Any, ...], before: Seen, now: Seen) -> Body:
    """One thing the person sees, as it is now (a message sent then edited shows its latest text)."""
    if key[0] == "answer":
        answer = now.answers[key[1]]
        return {"kind": "answer", "text": answer.get("text"), "show_alert": bool(answer.get("show_alert"))}
    kind, chat, message_id = key
    message = now.messages[(chat, message_id)]
    if message["deleted"]:
        kind = "deleted"
    return {
        "kind": kind,
        "chat_id": chat,
        "message_id": message_id,
        "text": message["text"],
        "buttons": _rows(message.get("reply_markup")),
        "document": message.get("document"),
        "reply_to_message_id": message.get("reply_to_message_id"),
    }


def _waiting(events: list[Body]) -> bool:
    """Whether the last thing the bot said is "Working on it…": a worker's answer is still to come."""
    said = [e for e in events if e["kind"] != "deleted"]
    return bool(said) and str(said[-1].get("text") or "").startswith(PENDING)


def _rows(markup: Body | None) -> list[list[Body]]:
    """An inline keyboard's rows as {label, data | url}."""
    rows = []
    for row in (markup or {}).get("inline_keyboard", []):
        rows.append(
            [
                {"label": b["text"], **({"url": b["url"]} if "url" in b else {"data": b.get("callback_data")})}
                for b in row
            ]
        )
    return rows


# -- what the person sees -------------------------------------------------------------------------------------


def chat_name(chat_id: int, where: Where, state: Body) -> str:
    """A chat in the words of someone looking at Telegram."""
    if chat_id > 0:
        person: Body = next((p for p in state.get("people", []) if p.get("id") == chat_id), {})
        return f"the private chat of {person.get('first_name') or 'user'} ({chat_id})"
    chat: Body = next((c for c in state.get("chats", []) if c.get("id") == chat_id), {})
    title = chat.get("title") or where.group_title
    return f"the group {title!r} ({chat_id})" if title else f"the group {chat_id}"


def event_lines(event: Body, where: Where, state: Body) -> list[str]:
    """An event as printed: a heading, then the message's lines, buttons (one row a line) and document."""
    if event["kind"] == "answer":
        shown = f"“{event['text']}”" if event.get("text") else "(no text: the spinner just stops)"
        popup = " in a pop-up" if event.get("show_alert") else ""
        return [f"← the click was answered{popup}: {shown}"]
    named = event["chat_id"] != where.chat_id or event.get("meanwhile")  # printed before the chat is named
    elsewhere = f" in {chat_name(event['chat_id'], where, state)}" if named else ""
    reply = f", replying to {event['reply_to_message_id']}" if event.get("reply_to_message_id") else ""
    verb = {"sent": "sent", "edited": "edited", "deleted": "deleted"}[event["kind"]]
    when = "meanwhile " if event.get("meanwhile") else ""
    lines = [f"← {when}the bot {verb} message {event['message_id']}{elsewhere}{reply}:"]
    if event["kind"] == "deleted":
        return lines[:1]
    document = event.get("document")
    if document:
        lines.append(f"  [document] {document.get('file_name')} ({document.get('size') or 0:,} bytes)")
    lines.extend(f"  {line}" for line in str(event.get("text") or ("" if document else "(no text)")).splitlines())
    for row in event["buttons"]:
        lines.append("  " + " ".join(_button(b) for b in row))
    return lines


def _button(button: Body) -> str:
    return f"[{button['label']} ↗ {button['url']}]" if "url" in button else f"[{button['label']}]"


def find_button(messages: list[Body], wanted: str) -> tuple[Body, str]:
    """The bot's newest message in the chat with a button labelled `wanted` (ignoring case), and the exact label."""
    for message in sorted(messages, key=lambda m: int(m["message_id"]), reverse=True):
        if message.get("deleted"):
            continue
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                if str(button.get("text", "")).casefold() == wanted.casefold():
                    return message, str(button["text"])
    raise ConsoleRefused(
        f"no message of the bot in this chat has a button {wanted!r}",
        remedy='run a command that shows it first, e.g. `cheers chat telegram "/week"` (and use the same --chat)',
    )


# -- the command ----------------------------------------------------------------------------------------------


@click.command("telegram")
@click.argument("text", required=False)
@click.option(
    "--click",
    "click_label",
    metavar="LABEL",
    help="Press the button with this label on the bot's latest message in the chat that has one.",
)
@click.option(
    "--photo",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Send this image as a photo (TEXT becomes its caption).",
)
@click.option(
    "--user",
    "user_id",
    type=int,
    default=DEFAULT_USER_ID,
    show_default=True,
    help="The Telegram user id of who writes or clicks.",
)
@click.option("--name", "user_name", metavar="NAME", help="Their first name in Telegram (kept for next time).")
@click.option(
    "--chat",
    "chat_id",
    type=int,
    help="The chat: a group's negative id (default: the user's private chat with the bot).",
)
@click.option(
    "--group",
    "group_title",
    metavar="TITLE",
    help="A group by its title (the bot is added to it first when it is new).",
)
@click.option(
    "--twin",
    "twin_url",
    metavar="URL",
    help="The Telegram twin (default: CHEERS_TELEGRAM_API_URL, which make dev writes).",
)
@click.option("--wait", default=10.0, show_default=True, help="Seconds to wait for answers from workers.")
@click.pass_context
def telegram_console(
    ctx: click.Context,
    text: str | None,
    click_label: str | None,
    photo: Path | None,
    user_id: int,
    user_name: str | None,
    chat_id: int | None,
    group_title: str | None,
    twin_url: str | None,
    wait: float,
) -> None:
    """Write to the bot (or --click a button, or send a --photo) in the sandbox Telegram as `make dev` runs it;
    print what the bot sent back."""
    if click_label is not None and (text is not None or photo is not None):
        raise click.UsageError("--click presses a button: give it without a message or --photo")
    if click_label is None and text is None and photo is None:
        raise click.UsageError('give a message to send ("/week"), --photo PATH or --click LABEL')
    if user_id <= 0:
        raise click.BadParameter("a Telegram user id is a positive number", param_hint="--user")
    if chat_id is not None and chat_id > 0 and chat_id != user_id:
        raise click.BadParameter(
            "a private chat's id is the person's own (use --user), a group's is negative", param_hint="--chat"
        )
    url = (twin_url or Settings().telegram_api_origin).rstrip("/")
    if urlsplit(url).hostname == "api.telegram.org":
        raise ConsoleRefused(
            "there is no sandbox Telegram to write in: CHEERS_TELEGRAM_API_URL is Telegram itself",
            remedy="start `make dev` (it runs the Telegram twin and writes its URL to var/dev-twins.env), "
            "or pass --twin URL",
        )
    picture = (photo.name, photo.read_bytes()) if photo is not None else None
    memory_file = Settings().cheers_var_dir / CONSOLE_FILE
    result = asyncio.run(
        _run(url, text, click_label, picture, user_id, user_name, chat_id, group_title, wait, memory_file)
    )
    if ctx.find_root().obj.get("json"):
        click.echo(to_json(result))
        return
    click.echo("\n".join(result["lines"]))


async def _run(
    url: str,
    text: str | None,
    click_label: str | None,
    photo: tuple[str, bytes] | None,
    user_id: int,
    user_name: str | None,
    chat_id: int | None,
    group_title: str | None,
    wait: float,
    memory_file: Path,
) -> Body:
    async with httpx.AsyncClient(timeout=60.0) as http:
        console = Console(url, http)
        state = await console.state()
        where, new_group = _where(state, user_id, user_name, chat_id, group_title)
        chats = where.watched()
        before = await console.seen(chats)
        memory = recall(memory_file)
        earlier = meanwhile(memory, before, chats)
        lines = [line for event in earlier for line in event_lines(event, where, state)]
        remember(memory_file, memory, before, chats)  # shown now: not again if this run stops half-way
        handed: list[Body] = []
        if new_group:
            # In Telegram someone adds the bot to a group before anyone can write to it there.
            added = await console.adds_bot(where, where.group_title or f"Group {abs(where.chat_id)}")
            lines.append(f"→ {_who(where, state)} added @{state['bot']['username']} to {_group(where)}")
            lines.extend(_delivery(added, state))
            handed.append(added)
        if click_label is not None:
            message, label = find_button(await console.messages(where.chat_id), click_label)
            sent = await console.clicks(where, label, int(message["message_id"]))
            lines.append(
                f"→ {_who(where, state)} pressed [{label}] on message {message['message_id']} in {_place(where)}"
            )
            if sent.get("via") == "url":
                lines.append(f"  (a link button: Telegram opens {sent['url']}; the bot hears nothing)")
                return {"lines": lines, "updates": [sent], "events": earlier, "complete": True}
        elif photo is not None:
            sent = await console.sends_photo(where, photo[1], text)
            caption = f' with the caption "{text}"' if text else ""
            lines.append(f"→ {_who(where, state)} sent the photo {photo[0]}{caption} in {_place(where)}")
        else:
            said = _typed(str(text), state)
            sent = await console.says(where, said)
            lines.append(f"→ {_who(where, state)} in {_place(where)}: {said}")
            if said != text:
                lines.append(f"  (opening {text} in Telegram sends that: /start with the code)")
        lines.extend(_delivery(sent, state))
        handed.append(sent)
        if sent.get("via") == "privacy":
            lines.append(
                "  (privacy mode: in a group the bot sees only commands, replies to its messages and mentions of "
                f"@{state['bot']['username']}; it got nothing)"
            )
            return {"lines": lines, "updates": handed, "events": earlier, "complete": True}
        if sent.get("via") == "getUpdates" and not await console.fetched(int(sent["update_id"]), wait):
            lines.append(f"(nothing fetched it within {wait:g}s: run `cheers telegram poll`, or `make dev`)")
            return {"lines": lines, "updates": handed, "events": earlier, "complete": False}
        events, complete, after = await console.follow(before, chats, wait)
        remember(memory_file, memory, after, chats)
        state = await console.state()  # names of chats made just now
    for event in events:
        lines.extend(event_lines(event, where, state))
    if not complete:
        lines.append(f"(no answer from a worker within {wait:g}s: it may be busy; try again with a longer --wait)")
    elif not events:
        lines.append("(the bot sent nothing)")
    return {"lines": lines, "updates": handed, "events": earlier + events, "complete": complete}


def _where(
    state: Body, user_id: int, user_name: str | None, chat_id: int | None, group_title: str | None
) -> tuple[Where, bool]:
    """Who writes where, and whether the group is new to the twin (the bot is then added to it first)."""
    groups = [c for c in state.get("chats", []) if c.get("type") != "private"]
    if chat_id is None and group_title is not None:
        named = [c for c in groups if str(c.get("title") or "").casefold() == group_title.casefold()]
        # A new group gets an id from its title, so the same title is the same group next time.
        chat_id = (
            int(named[0]["id"]) if named else -(4_000_000_000 + zlib.crc32(group_title.casefold().encode()) % 10**9)
        )
    if chat_id is None:
        chat_id = user_id
    known = next((c for c in groups if c.get("id") == chat_id), None)
    title = group_title or (known or {}).get("title")
    return Where(user_id, user_name, chat_id, title), chat_id < 0 and known is None


def _typed(text: str, state: Body) -> str:
    """What Telegram sends for `text`: opening a t.me/<bot>?start=CODE link sends "/start CODE"."""
    link = DEEP_LINK.match(text.strip())
    if link is None:
        return text
    if link["bot"].casefold() != str(state["bot"]["username"]).casefold():
        raise ConsoleRefused(
            f"that link opens @{link['bot']}, not the sandbox bot @{state['bot']['username']}",
            remedy="use the link `cheers chat link-code` prints while `make dev` runs, or type /link CODE",
        )
    return f"/start {link['code']}"


def _who(where: Where, state: Body) -> str:
    person: Body = next((p for p in state.get("people", []) if p.get("id") == where.user_id), {})
    return f"{where.user_name or person.get('first_name') or 'Sam'} ({where.user_id})"


def _group(where: Where) -> str:
    return f"the group {where.group_title!r} ({where.chat_id})" if where.group_title else f"the group {where.chat_id}"


def _place(where: Where) -> str:
    return "their private chat with the bot" if where.private else _group(where)


def _delivery(sent: Body, state: Body) -> list[str]:
    """How the twin handed the update over; a refusal by the service stops the console with its reason."""
    via = sent.get("via")
    if via == "getUpdates":
        return ["  (the twin has no webhook: the update waits for getUpdates, e.g. `cheers telegram poll`)"]
    if via != "webhook":
        return []
    hook = str(state.get("webhook", {}).get("url") or "the webhook")
    status = sent.get("status")
    if status is not None and 200 <= int(status) < 300:
        return [f"  (delivered to {hook}: HTTP {status})"]
    errors = "; ".join(str(e) for e in sent.get("errors") or []) or "no answer"
    if status == 401:
        raise ConsoleRefused(
            f"CheersAI refused the update: HTTP 401 from {hook} (the webhook secret did not match)",
            remedy="the twin's webhook secret and CHEERS_TELEGRAM_WEBHOOK_SECRET differ: restart `make dev`, "
            "which sets both",
        )
    if status is None:
        raise ConsoleRefused(
            f"nothing answers at {hook} ({errors})", remedy="is `make dev` still running? It serves the webhook"
        )
    raise ConsoleRefused(f"CheersAI answered HTTP {status} from {hook} ({errors})")
