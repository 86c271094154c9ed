"""A ChatMessage as a Telegram message: HTML text and an inline keyboard, inside Telegram's limits.

The text is HTML (parse_mode "HTML") with every piece of text escaped, so a venue's or a post's words never become
markup; the title is bold, lines and fields follow, then the items numbered. Offers become callback buttons
(bot.telegram.callbacks), links and `more_url` URL buttons. A list too long for one message (4096 characters,
100 buttons) is cut visibly: "… and N more", with the whole list's link as a button when there is one.

A `code` span of the chat-neutral text becomes <code>…</code> (made after escaping, so it only ever wraps escaped
text), and one naming a command of the grammar gets Telegram's slash: "type `link CODE`" reads "type /link CODE"
in Telegram, where every command is a slash command, while Slack's text keeps its words.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.commands import USAGE
from bot.messages import ChatMessage, Item
from bot.telegram.callbacks import offer_data
from core.notifications.actions import Offer

PARSE_MODE = "HTML"
# Telegram's published limits (core.telegram.org/bots/api#sendmessage, #inlinekeyboardmarkup).
# Characters after entity parsing; the HTML is kept under it (stricter), counted in UTF-16 code units as Telegram
# counts entity offsets, so an emoji counts twice and a text full of them still fits.
MAX_TEXT = 4096
MAX_BUTTONS = 100
MAX_TITLE = 256
MAX_LINE = 1024
MAX_BUTTON_TEXT = 64  # no published limit; phones show about 30 characters of a full-width button
ROW_CHARACTERS = 30  # buttons share a row while their labels fit on a phone's width
ROW_BUTTONS = 3
MORE_LABEL = "See them all"
# A `code` span in escaped text (html.escape leaves backticks alone), on one line.
CODE_SPAN = re.compile(r"`([^`\n]+)`")
# Commands written with a slash in Telegram: the grammar's, and Telegram's own (/cancel ends a guided flow).
COMMAND_WORDS = frozenset(USAGE) | {"cancel", "start"}


@dataclass(frozen=True)
class Outgoing:
    """What sendMessage / editMessageText take: the HTML text (send it with parse_mode=PARSE_MODE) and the keyboard."""

    text: str
    reply_markup: InlineKeyboardMarkup | None


def to_telegram(message: ChatMessage) -> Outgoing:
    """The message as Telegram HTML and its inline keyboard (offers as callback buttons, links as URL buttons)."""
    head = [f"<b>{_text(message.title, MAX_TITLE)}</b>"]
    head.extend(_text(line, MAX_LINE) for line in message.lines)
    head.extend(f"<b>{_text(label, MAX_LINE)}</b>: {_text(value, MAX_LINE)}" for label, value in message.fields)
    tail = [_offer_button(o) for o in message.offers] + [_url_button(k.label, k.url) for k in message.links]
    tail_rows = _rows(tail[: MAX_BUTTONS - 1])
    text = "\n".join(head)
    if _size(text) > MAX_TEXT:  # only a message with very many lines gets here: keep the start of it
        text = _cut_html_lines(head)
    item_lines, item_rows = _items(
        message.items,
        room=MAX_TEXT - _size(text) - 2,
        buttons=MAX_BUTTONS - sum(len(r) for r in tail_rows) - 1,
        more_url=message.more_url,
    )
    if item_lines:
        text = text + "\n\n" + "\n".join(item_lines)
    rows = [*item_rows, *tail_rows]
    return Outgoing(text=text, reply_markup=InlineKeyboardMarkup(rows) if rows else None)


def _items(
    items: tuple[Item, ...], *, room: int, buttons: int, more_url: str | None
) -> tuple[list[str], list[list[InlineKeyboardButton]]]:
    """Numbered item lines and their keyboard rows, as many as fit; then "… and N more" (+ the whole list's link)."""
    lines: list[str] = []
    rows: list[list[InlineKeyboardButton]] = []
    used_text, used_buttons = 0, 0
    numbered = len(items) > 1  # with several items a button says which one it acts on
    for shown, item in enumerate(items):
        line = f"{shown + 1}. {_text(item.text, MAX_LINE)}" if numbered else _text(item.text, MAX_LINE)
        item_rows = _rows([_offer_button(o, number=shown + 1 if numbered else None) for o in item.offers])
        count = sum(len(r) for r in item_rows)
        last = shown == len(items) - 1
        # Keep room for the "… and N more" line and its button unless this is the last item.
        more = 0 if last else _size(_more_line(len(items) - shown)) + 1
        more_buttons = 0 if last or not more_url else 1
        if used_text + _size(line) + 1 + more > room or used_buttons + count + more_buttons > buttons:
            lines.append(_more_line(len(items) - shown))
            if more_url:
                rows.append([_url_button(MORE_LABEL, more_url)])
            return lines, rows
        lines.append(line)
        rows.extend(item_rows)
        used_text += _size(line) + 1
        used_buttons += count
    return lines, rows


def _more_line(count: int) -> str:
    return f"… and {count} more"


def _offer_button(offer: Offer, *, number: int | None = None) -> InlineKeyboardButton:
    label = offer.label if number is None else f"{number} · {offer.label}"
    if offer.url is not None:  # a link (Runbook): Telegram opens it, no click comes back to the bot
        return _url_button(label, offer.url)
    return InlineKeyboardButton(_cut(label, MAX_BUTTON_TEXT), callback_data=offer_data(offer))


def _url_button(label: str, url: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(_cut(label, MAX_BUTTON_TEXT), url=url)


def _rows(buttons: list[InlineKeyboardButton]) -> list[list[InlineKeyboardButton]]:
    """Buttons side by side while their labels fit a phone's width, otherwise one under another."""
    rows: list[list[InlineKeyboardButton]] = []
    for button in buttons:
        row = rows[-1] if rows else None
        if (
            row is not None
            and len(row) < ROW_BUTTONS
            and sum(len(b.text) for b in row) + len(button.text) <= ROW_CHARACTERS
        ):
            row.append(button)
        else:
            rows.append([button])
    return rows


def _text(text: str, limit: int) -> str:
    """`text` as Telegram HTML: escaped and fitted (`_fit`), then its `code` spans as <code>, commands slashed."""
    return CODE_SPAN.sub(_code, _fit(text, limit))


def _code(span: re.Match[str]) -> str:
    inside = span.group(1)
    if inside.split(" ", 1)[0].lower() in COMMAND_WORDS:
        inside = f"/{inside}"
    return f"<code>{inside}</code>"


def _fit(text: str, limit: int) -> str:
    """`text` escaped for Telegram HTML in at most `limit` characters, cut with "…" (never inside an entity)."""
    escaped = html.escape(text, quote=False)
    if _size(escaped) <= limit:
        return escaped
    out: list[str] = []
    size = 0
    for char in text:
        piece = html.escape(char, quote=False)
        if size + _size(piece) > limit - 1:
            break
        out.append(piece)
        size += _size(piece)
    return "".join(out) + "…"


def _cut_html_lines(lines: list[str]) -> str:
    """Whole lines (each complete HTML) while they fit, the title always first."""
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + _size(line) + 1 > MAX_TEXT - 2:
            kept.append("…")
            break
        kept.append(line)
        size += _size(line) + 1
    return "\n".join(kept)


def _size(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
