"""What handling one update sends back, collected while its transaction is open and sent after it commits.

Handlers never call the Bot API inside the update's transaction: they add replies here, the webhook commits (the
update_id row with the work), then sends them in order. A reply that cannot be sent is logged; the work stands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.messages import ChatMessage


@dataclass(frozen=True)
class Key:
    """A callback button of the bot's own that is not an offer (a guided-flow step): label and callback_data."""

    label: str
    data: str


# Rows of keys, shown under the message after its offers' and links' rows (guided-flow steps: bot/telegram/flow.py).
Keyboard = tuple[tuple[Key, ...], ...]


@dataclass(frozen=True)
class Say:
    """A new message in `chat_id` (a user id is that person's private chat)."""

    chat_id: str
    message: ChatMessage
    reply_to_message_id: int | None = None
    keyboard: Keyboard = ()


@dataclass(frozen=True)
class Edit:
    """Replace the text and buttons of one of the bot's messages ("message is not modified" counts as done)."""

    chat_id: str
    message_id: int
    message: ChatMessage
    keyboard: Keyboard = ()


@dataclass(frozen=True)
class AnswerCallback:
    """Answer a button press (Telegram shows a spinner until it is answered); `text` is a short toast."""

    callback_query_id: str
    text: str | None = None
    show_alert: bool = False


@dataclass(frozen=True)
class Document:
    """A file (the manual package zip) sent into `chat_id`, optionally in reply to a message."""

    chat_id: str
    filename: str
    content: bytes = field(repr=False)
    caption: str = ""
    reply_to_message_id: int | None = None


Reply = Say | Edit | AnswerCallback | Document


@dataclass
class Replies:
    """The replies of one update, in the order they are sent."""

    items: list[Reply] = field(default_factory=list)

    def say(
        self,
        chat_id: str,
        message: ChatMessage,
        *,
        reply_to_message_id: int | None = None,
        keyboard: Keyboard = (),
    ) -> None:
        self.items.append(Say(chat_id, message, reply_to_message_id, keyboard))

    def edit(self, chat_id: str, message_id: int, message: ChatMessage, *, keyboard: Keyboard = ()) -> None:
        self.items.append(Edit(chat_id, message_id, message, keyboard))

    def answer_callback(self, callback_query_id: str, text: str | None = None, *, show_alert: bool = False) -> None:
        self.items.append(AnswerCallback(callback_query_id, text, show_alert))

    def document(
        self, chat_id: str, filename: str, content: bytes, *, caption: str = "", reply_to_message_id: int | None = None
    ) -> None:
        self.items.append(Document(chat_id, filename, content, caption, reply_to_message_id))
