"""Chat turns for tests: a chat user typing in a chat, answered through bot.dispatch.handle_turn in one unit of work."""

from __future__ import annotations

from dataclasses import replace

from bot.dispatch import handle_offer, handle_turn
from bot.messages import ChatMessage
from core.chat import linking
from core.chat.people import ChatTurn
from core.notifications.actions import Offer
from core.runtime import Runtime
from storage.enums import ChatPlatform
from storage.uow import transaction
from tests.factories import SYSTEM, Person


def turn(
    user: str = "U100", *, chat: str = "C100", dm: bool = False, name: str = "Sam", workspace: str = "T100"
) -> ChatTurn:
    """A Slack user typing in a channel (or, with dm=True, to the bot directly)."""
    return ChatTurn(
        platform=ChatPlatform.slack,
        workspace_id=workspace,
        chat_user_id=user,
        display_name=name,
        chat_id=f"D{user}" if dm else chat,
        is_direct_message=dm,
    )


def in_dm(chat_turn: ChatTurn) -> ChatTurn:
    return replace(chat_turn, chat_id=f"D{chat_turn.chat_user_id}", is_direct_message=True)


async def say(runtime: Runtime, chat_turn: ChatTurn, text: str) -> ChatMessage:
    """What the bot answers; the turn commits as a front door's would."""
    async with transaction(runtime.db) as uow:
        return await handle_turn(runtime, uow, chat_turn, text)


async def click(runtime: Runtime, chat_turn: ChatTurn, offer: Offer, *, permalink: str | None = None) -> ChatMessage:
    """What the bot answers when `chat_turn`'s chat user clicks `offer`'s button."""
    async with transaction(runtime.db) as uow:
        return await handle_offer(runtime, uow, chat_turn, offer, permalink=permalink)


async def code_for(runtime: Runtime, who: Person) -> str:
    async with transaction(runtime.db) as uow:
        issued = await linking.issue_link_code(uow.session, runtime.clock, SYSTEM, who.user_id)
    return issued.code


async def link(runtime: Runtime, who: Person, chat_turn: ChatTurn) -> None:
    """Link `chat_turn`'s chat user to `who` with a fresh code, as the person would."""
    answer = await say(runtime, chat_turn, f"link {await code_for(runtime, who)}")
    assert answer.title.startswith("Linked"), f"linking failed: {shown(answer)}"


def shown(message: ChatMessage) -> str:
    """Every word of a message as one text (title, lines, fields, items, links)."""
    parts = [message.title, *message.lines, *(f"{k}: {v}" for k, v in message.fields)]
    parts += [item.text for item in message.items]
    parts += [f"{link.label} {link.url}" for link in message.links]
    return "\n".join(parts)
