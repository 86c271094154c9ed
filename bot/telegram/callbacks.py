"""What a Telegram button carries back when clicked (`callback_data`, at most 64 bytes), and reading it back.

Two kinds, each behind a versioned prefix so a later change of format can tell old buttons from new ones:

- `o1:<action>:<target id>:<connection id>` an alert's (or /week's, /status's) offer, e.g. `o1:r:17:3`;
  an offer on a post or a whole message carries its one id: `o1:<action>:<post or notification id>`, e.g.
  `o1:y:42` (Approve post 42), `o1:w:7` (Approve all on notification 7), `o1:j:12` (Run now for incident 12);
  a link offer (Runbook) is a URL button and carries no data;
- `f1:<conversation id>:<version>:<choice>` a step of the guided /schedule flow, e.g. `f1:42:3:pick:7`.

The data names what to act on, never who may: every click is authorised again as the person who clicked
(bot.dispatch.handle_offer), and Telegram only ever delivers data the bot itself attached to its own buttons.
`parse_data` answers None for anything else (an old version, a foreign format): "This button is out of date".
"""

from __future__ import annotations

from dataclasses import dataclass

from core.notifications.actions import (
    INCIDENT_ACTIONS,
    LABELS,
    NOTIFICATION_ACTIONS,
    POST_ACTIONS,
    SINCE_ACTIONS,
    Action,
    Offer,
)

MAX_BYTES = 64  # Telegram's limit on callback_data (core.telegram.org/bots/api#inlinekeyboardbutton)
OFFER_PREFIX = "o1"
STEP_PREFIX = "f1"
MAX_ID_DIGITS = 18  # a BIGINT; longer is no id of ours

# One letter per action keeps the data short and the ids whole; never reuse a letter for another action.
_CODES: dict[Action, str] = {
    Action.retry: "r",
    Action.reconnect: "c",
    Action.manual_package: "p",
    Action.mark_published: "m",
    Action.publish_again: "a",
    Action.diagnose: "d",
    Action.approve: "y",
    Action.reject: "x",
    Action.edit: "e",
    Action.skip: "s",
    Action.approve_all: "w",
    Action.ops_run_job: "j",
    Action.ops_retry_failed: "f",  # o1:f:<incident id> or, confirming `retry failed since 1h`, o1:f::<since>
    Action.ops_silence: "z",
}
_ACTIONS = {code: action for action, code in _CODES.items()}


@dataclass(frozen=True)
class Step:
    """A clicked button of the guided flow: which conversation, at which version, and the choice it made."""

    conversation_id: int
    version: int
    choice: str


def offer_data(offer: Offer) -> str:
    """The callback_data of an offer's button; ValueError if it would pass Telegram's 64 bytes or lacks its id."""
    if offer.action not in _CODES:
        raise ValueError(f"the {offer.action} offer is a link, not a callback button")
    code = _CODES[offer.action]
    if offer.action in SINCE_ACTIONS and offer.since is not None:
        return _checked(f"{OFFER_PREFIX}:{code}::{offer.since}")
    if offer.action in _ONE_ID_ACTIONS:
        one = _one_id(offer)
        if one is None:
            raise ValueError(f"the {offer.action} offer is not bound to the message it sits on")
        return _checked(f"{OFFER_PREFIX}:{code}:{one}")
    data = ":".join((OFFER_PREFIX, code, _number(offer.target_id), _number(offer.connection_id)))
    return _checked(data)


def step_data(conversation_id: int, version: int, choice: str) -> str:
    """The callback_data of a guided-flow button; ValueError if it would pass Telegram's 64 bytes."""
    if conversation_id < 0 or version < 0:
        raise ValueError("a step's conversation id and version are not negative")
    if not choice:
        raise ValueError("a step needs a choice")
    return _checked(f"{STEP_PREFIX}:{conversation_id}:{version}:{choice}")


def parse_data(data: str | None) -> Offer | Step | None:
    """What a clicked button carries; None for data no current button of ours holds (old version, foreign)."""
    if not data or len(data.encode()) > MAX_BYTES:
        return None
    prefix, _, rest = data.partition(":")
    if prefix == OFFER_PREFIX:
        return _offer(rest)
    if prefix == STEP_PREFIX:
        return _step(rest)
    return None


def _offer(rest: str) -> Offer | None:
    parts = rest.split(":")
    if not parts or parts[0] not in _ACTIONS:
        return None
    action = _ACTIONS[parts[0]]
    if action in SINCE_ACTIONS and len(parts) == 3 and not parts[1]:
        since = _id(parts[2])
        return None if since is None else Offer(action, LABELS[action], since=since)
    if action in _ONE_ID_ACTIONS:
        one = _id(parts[1]) if len(parts) == 2 else None
        if one is None:
            return None
        if action in POST_ACTIONS:
            return Offer(action, LABELS[action], post_id=one)
        if action in INCIDENT_ACTIONS:
            return Offer(action, LABELS[action], incident_id=one)
        return Offer(action, LABELS[action], notification_id=one)
    if len(parts) != 3:
        return None
    target_id, connection_id = _id(parts[1]), _id(parts[2])
    if (parts[1] and target_id is None) or (parts[2] and connection_id is None):
        return None
    try:
        return Offer(action, LABELS[action], target_id=target_id, connection_id=connection_id)
    except ValueError:  # an offer without the id its action needs
        return None


def _step(rest: str) -> Step | None:
    parts = rest.split(":", 2)
    if len(parts) != 3 or not parts[2]:
        return None
    conversation_id, version = _id(parts[0]), _id(parts[1])
    if conversation_id is None or version is None:
        return None
    return Step(conversation_id, version, parts[2])


_ONE_ID_ACTIONS = POST_ACTIONS | NOTIFICATION_ACTIONS | INCIDENT_ACTIONS


def _one_id(offer: Offer) -> int | None:
    """The one id an offer on a post, a whole message or an incident acts on."""
    if offer.action in POST_ACTIONS:
        return offer.post_id
    if offer.action in INCIDENT_ACTIONS:
        return offer.incident_id
    return offer.notification_id


def _number(value: int | None) -> str:
    return "" if value is None else str(value)


def _id(text: str) -> int | None:
    # isdecimal() and ASCII only: int() would also take "٣", "+3" or " 3", which no button of ours holds.
    if not text or len(text) > MAX_ID_DIGITS or not text.isascii() or not text.isdecimal():
        return None
    return int(text)


def _checked(data: str) -> str:
    size = len(data.encode())
    if size > MAX_BYTES:
        raise ValueError(f"callback_data is {size} bytes; Telegram takes at most {MAX_BYTES}: {data[:20]!r}…")
    return data
