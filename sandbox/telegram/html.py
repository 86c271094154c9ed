"""Telegram's HTML parse mode, parsed as strictly as the Bot API does: the plain text and its entities.

Supported: b/strong, i/em, u/ins, s/strike/del, span class="tg-spoiler"/tg-spoiler, a href, code, pre,
blockquote, tg-emoji, and the entities &lt; &gt; &amp; &quot; plus numeric ones. Anything else is refused with
"can't parse entities: ...". One deliberate strictness beyond Telegram: a bare `&` that does not start an entity
is refused too (Telegram keeps it as text), so a sender that forgot html.escape is caught in tests.
Offsets and lengths of entities are in UTF-16 code units, as Telegram gives them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ATTRIBUTE = re.compile(r"""\s*([a-zA-Z_-]+)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?""")


class HtmlError(ValueError):
    """The text cannot be parsed; the message is what follows "Bad Request: can't parse entities: "."""


@dataclass
class _Open:
    tag: str
    start: int  # where the entity starts in the plain text (UTF-16 units)
    attrs: dict[str, str] = field(default_factory=dict)


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (what Telegram's offsets count)."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode())


def _entity(source: str, index: int) -> tuple[str, int]:
    """The character an entity at `index` stands for, and where the text goes on after it."""
    end = source.find(";", index + 1, index + 12)
    name = source[index + 1 : end] if end != -1 else ""
    if name in _NAMED:
        return _NAMED[name], end + 1
    number = re.fullmatch(r"#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})", name)
    if number is not None:
        code = int(number.group(1)) if number.group(1) else int(number.group(2), 16)
        if 0 < code <= 0x10FFFF:
            return chr(code), end + 1
    offset = _byte_offset(source, index)
    if end != -1 and re.fullmatch(r"[a-zA-Z][a-zA-Z0-9]*", name):
        raise HtmlError(f'Unsupported HTML entity "&{name};" at byte offset {offset}')
    raise HtmlError(f'Character "&" must be escaped as "&amp;" at byte offset {offset}')


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """The plain text and entities Telegram makes of `source` in parse_mode HTML, or HtmlError."""
    text: list[str] = []
    length = 0  # UTF-16 units written so far
    stack: list[_Open] = []
    entities: list[dict[str, Any]] = []
    i = 0
    while i < len(source):
        char = source[i]
        if char == "&":
            decoded, i = _entity(source, i)
            text.append(decoded)
            length += utf16_len(decoded)
            continue
        if char != "<":
            text.append(char)
            length += utf16_len(char)
            i += 1
            continue
        offset = _byte_offset(source, i)
        close = source.find(">", i + 1)
        if close == -1:
            raise HtmlError(f"Unclosed start tag at byte offset {offset}")
        inside = source[i + 1 : close]
        i = close + 1
        if inside.startswith("/"):
            name = inside[1:].strip().lower()
            if not stack:
                raise HtmlError(f'Unexpected end tag "{name}" at byte offset {offset}')
            top = stack.pop()
            if name != top.tag:
                raise HtmlError(
                    f'Unmatched end tag at byte offset {offset}, expected "</{top.tag}>", found "</{name}>"'
                )
            if name == "code" and stack and stack[-1].tag == "pre" and stack[-1].start == top.start:
                # <pre><code class="language-x"> is one pre entity with its language, as on Telegram.
                if top.attrs.get("class", "").startswith("language-"):
                    stack[-1].attrs["class"] = top.attrs["class"]
                continue
            entity = _finish(top, length)
            if entity is not None:
                entities.append(entity)
            continue
        match = re.match(r"([a-zA-Z][a-zA-Z0-9-]*)", inside)
        name = match.group(1).lower() if match else ""
        if not name:
            raise HtmlError(f"Empty tag name at byte offset {offset}")
        if name not in _TAGS:
            raise HtmlError(f'Unsupported start tag "{name}" at byte offset {offset}')
        attrs = {
            m.group(1).lower(): m.group(2) or m.group(3) or m.group(4) or ""
            for m in _ATTRIBUTE.finditer(inside[len(name) :])
            if m.group(1)
        }
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise HtmlError(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
        if name == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
            raise HtmlError(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {offset}')
        stack.append(_Open(name, length, attrs))
    if stack:
        raise HtmlError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(text), entities


def _finish(opened: _Open, end: int) -> dict[str, Any] | None:
    """The entity a closed tag makes (None when it covers nothing, as Telegram drops those)."""
    length = end - opened.start
    if length <= 0:
        return None
    kind = _TAGS[opened.tag]
    entity: dict[str, Any] = {"type": kind, "offset": opened.start, "length": length}
    if kind == "text_link":
        href = opened.attrs.get("href", "")
        if href.startswith("tg://user?id="):
            return {"type": "text_mention", "offset": opened.start, "length": length, "user_id": href[13:]}
        if not href:
            return None  # <a> without href is plain text on Telegram
        entity["url"] = href
    elif kind == "pre" and opened.attrs.get("class", "").startswith("language-"):
        entity["language"] = opened.attrs["class"].removeprefix("language-")
    elif kind == "blockquote" and "expandable" in opened.attrs:
        entity["type"] = "expandable_blockquote"
    elif kind == "custom_emoji":
        entity["custom_emoji_id"] = opened.attrs["emoji-id"]
    return entity


__all__ = ["HtmlError", "parse_html", "utf16_len"]
