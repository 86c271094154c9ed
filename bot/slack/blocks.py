"""A ChatMessage as Slack Block Kit, inside Slack's limits (blocks, characters, buttons), cutting lists visibly."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.messages import ChatMessage, Item
from core.notifications.actions import LABELS, Action, Offer

# Slack's published limits for a message's blocks (api.slack.com/reference/block-kit).
MAX_BLOCKS = 50
MAX_HOME_BLOCKS = 100  # a Home tab view (views.publish)
MAX_HEADER = 150
MAX_SECTION = 3000
MAX_FIELDS = 10
MAX_FIELD = 2000
MAX_ACTIONS = 25
MAX_BUTTON_TEXT = 75
MAX_URL = 3000  # a button's url
MAX_CONTEXT_ELEMENTS = 10
MAX_FALLBACK = 3000  # the notification text; Slack allows more, but phones show a line or two


def home_view(messages: Sequence[ChatMessage]) -> dict[str, Any]:
    """The App Home view (views.publish) of several messages, one after another, within the home's 100 blocks.

    Room is kept for every message after the current one, so a long first list never hides the ones below it.
    """
    blocks: list[dict[str, Any]] = []
    for shown, message in enumerate(messages):
        if shown:
            blocks.append({"type": "divider"})
        # A divider, a header, its lines and a "…and N more" for each message below this one.
        later = 4 * (len(messages) - shown - 1)
        made = _blocks(message, room=MAX_HOME_BLOCKS - len(blocks) - later, prefix=f"h{shown}")
        blocks.extend(made)
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}


def to_slack(message: ChatMessage) -> dict[str, Any]:
    """`{"text": fallback, "blocks": [...]}` for chat.postMessage / chat.update / a response_url."""
    return {"text": _cut(message.title, MAX_FALLBACK), "blocks": _blocks(message, room=MAX_BLOCKS, prefix="")}


def _blocks(message: ChatMessage, *, room: int, prefix: str) -> list[dict[str, Any]]:
    head = [_header(message.title)]
    if message.lines:
        head.append(_section("\n".join(escape(line) for line in message.lines)))
    if message.fields:
        head.append(_fields(message.fields))
    tail: list[dict[str, Any]] = []
    if message.offers:
        tail.append(_actions(message.offers, prefix=f"{prefix}m"))
    context = [f"<{link.url}|{escape(link.label)}>" for link in message.links]
    if context:
        tail.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": text} for text in context[:MAX_CONTEXT_ELEMENTS]],
            }
        )
    body = _items(message.items, room=room - len(head) - len(tail), more_url=message.more_url, prefix=prefix)
    return [*head, *body, *tail]


def _items(items: tuple[Item, ...], *, room: int, more_url: str | None, prefix: str = "") -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for shown, item in enumerate(items):
        needed = 2 if item.offers else 1
        # Keep one block for the "and N more" line unless this is the last item.
        reserve = 0 if shown == len(items) - 1 else 1
        if len(blocks) + needed + reserve > room:
            blocks.append(_more(len(items) - shown, more_url))
            return blocks
        blocks.append(_section(escape(item.text)))
        if item.offers:
            blocks.append(_actions(item.offers, prefix=f"{prefix}i{shown}"))
    return blocks


def _more(count: int, url: str | None) -> dict[str, Any]:
    text = f"…and {count} more"
    return _section(f"{text}: <{url}|see them all>" if url else text)


def _header(title: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": _cut(title, MAX_HEADER), "emoji": True}}


def _section(mrkdwn: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(mrkdwn, MAX_SECTION)}}


def _fields(fields: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    return {
        "type": "section",
        "fields": [
            {"type": "mrkdwn", "text": _cut(f"*{escape(label)}*\n{escape(value)}", MAX_FIELD)}
            for label, value in fields[:MAX_FIELDS]
        ],
    }


def _actions(offers: tuple[Offer, ...], *, prefix: str) -> dict[str, Any]:
    # A post's item offers one Retry per failed delivery: a repeated action gets its position, as Slack wants
    # action_ids unique within a block.
    kept = offers[:MAX_ACTIONS]
    actions = [o.action for o in kept]
    return {
        "type": "actions",
        "elements": [
            _button(o, prefix if actions.index(o.action) == k else f"{prefix}n{k}") for k, o in enumerate(kept)
        ],
    }


def _button(offer: Offer, prefix: str) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": _cut(offer.label, MAX_BUTTON_TEXT), "emoji": True},
        # action_id is unique in the message; the value carries what to act on (read back by button_offer).
        "action_id": f"{offer.action.value}:{prefix}",
    }
    if offer.url is not None:
        # A link button (Runbook): Slack opens the URL; the click it still reports carries no value and is only acked.
        button["url"] = _cut(offer.url, MAX_URL)
        return button
    button["value"] = button_value(offer)
    if offer.action.value == "retry":
        button["style"] = "primary"
    return button


def button_value(offer: Offer) -> str:
    """The compact, stable text a button carries: 'retry t=17', 'reconnect c=3', 'approve p=42', 'ops_silence i=5'."""
    ids = [
        f"t={offer.target_id}" if offer.target_id is not None else "",
        f"c={offer.connection_id}" if offer.connection_id is not None else "",
        f"p={offer.post_id}" if offer.post_id is not None else "",
        f"n={offer.notification_id}" if offer.notification_id is not None else "",
        f"i={offer.incident_id}" if offer.incident_id is not None else "",
        f"s={offer.since}" if offer.since is not None else "",
    ]
    return " ".join([offer.action.value, *(i for i in ids if i)])


def button_offer(value: str) -> Offer:
    """The offer a clicked button carries; ValueError for a value no message of ours could hold."""
    action_name, *pairs = value.split(" ")
    ids: dict[str, int] = {}
    for pair in pairs:
        key, _, number = pair.partition("=")
        if key not in ("t", "c", "p", "n", "i", "s") or key in ids or not number.isdigit() or len(number) > 18:
            raise ValueError(f"not a button value: {value!r}")
        ids[key] = int(number)
    try:
        action = Action(action_name)
    except ValueError:
        raise ValueError(f"not a button value: {value!r}") from None
    try:
        return Offer(
            action=action,
            label=LABELS[action],
            target_id=ids.get("t"),
            connection_id=ids.get("c"),
            post_id=ids.get("p"),
            notification_id=ids.get("n"),
            incident_id=ids.get("i"),
            since=ids.get("s"),
        )
    except ValueError:  # lacks the id its action needs
        raise ValueError(f"not a button value: {value!r}") from None


def escape(text: str) -> str:
    """Text shown as-is in mrkdwn: Slack reads &, < and > as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
