"""The Telegram side of bench/chat.py's world: people linked to Telegram users, venues whose alerts go to Telegram
chats (private chats and groups), those chats made known to the Telegram twin, and real updates made by the twin.

As in _chat_world.py, everything goes through core's own functions (`core.chat.linking` codes redeemed as the
Telegram user in their private chat, `core.chat.alerts.subscribe` as `/alerts here` does). The updates the bench
sends are the twin's own (`user_says` with no webhook set: the twin keeps the message in the chat and hands back
the Update it would deliver), so every update_id is unique and each reply the bot sends can quote its message.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx

from core.access import accounts
from core.access.audit import Actor
from core.access.policy import VenueAccess
from core.chat import alerts, linking
from core.chat.people import ChatTurn, VenueContext
from core.runtime import Runtime
from core.vocabulary import ChatPlatform
from sandbox.telegram.control import TelegramTwinControl
from storage.models import Channel, Role

TIMEZONE = "Europe/London"
SYSTEM = Actor(user_id=None, channel=Channel.cli)
BATCH = 50  # rows per transaction while setting up
TYPIST_BASE = 710_000_000  # Telegram user ids of the people who type the commands
ALERT_PERSON_BASE = 720_000_000  # the people whose private chats (and groups) take the alerts
GROUP_BASE = 4_100_000_000  # a basic group's id is negative (-41000000NN; "-100…" would be a supergroup)


def typist_id(n: int) -> int:
    return TYPIST_BASE + n


def alert_person_id(n: int) -> int:
    return ALERT_PERSON_BASE + n


def alert_chat_id(n: int) -> int:
    """Alert venue n's chat: the private chat of its person for even n, a group for odd n."""
    return alert_person_id(n) if n % 2 == 0 else -(GROUP_BASE + n)


@dataclass(frozen=True)
class TelegramWorld:
    """Who types (Telegram user ids, each in their private chat with the bot) and the alert venues' chats."""

    typists: list[int]
    alert_venues: list[int]  # alert venue i sends to alert_chats[i]
    alert_chats: list[int]

    def is_group(self, chat_id: int | str) -> bool:
        return int(chat_id) < 0


def turn(bot_id: str, user: int, chat: int) -> ChatTurn:
    """A Telegram turn as the webhook builds it (bot.telegram.later.telegram_turn): private when chat is the user."""
    return ChatTurn(ChatPlatform.telegram, bot_id, str(user), f"Bench {user}", str(chat), is_direct_message=chat > 0)


async def link_typists(runtime: Runtime, bot_id: str, venue_id: int, typists: int) -> list[int]:
    """`typists` people made owners of `venue_id`, each linked to their Telegram user with a one-time code."""
    access = VenueAccess(SYSTEM, venue_id, Role.owner)
    for start in range(0, typists, BATCH):
        async with runtime.uow() as uow:
            for n in range(start, min(typists, start + BATCH)):
                person = await accounts.create_user(uow.session, runtime.clock, SYSTEM, name=f"Bench Telegram {n}")
                await accounts.add_member(uow.session, runtime.clock, access, user_id=person.id, role=Role.owner)
                code = await linking.issue_link_code(uow.session, runtime.clock, SYSTEM, person.id)
                who = typist_id(n)
                outcome = await linking.redeem_code(uow.session, runtime.clock, turn(bot_id, who, who), code.code)
                if not outcome.linked:
                    raise RuntimeError(f"linking Telegram user {who} failed: {outcome.message}")
            await uow.commit()
    return [typist_id(n) for n in range(typists)]


async def alert_venues(runtime: Runtime, bot_id: str, chats: int) -> list[int]:
    """`chats` venues, each with its alerts on in its own Telegram chat (`/alerts here`): private or group."""
    ids: list[int] = []
    for start in range(0, chats, BATCH):
        async with runtime.uow() as uow:
            for n in range(start, min(chats, start + BATCH)):
                venue = await accounts.create_account(
                    uow.session, runtime.clock, SYSTEM, name=f"Bench Telegram Inn {n}", timezone=TIMEZONE,
                    owner_user_id=None,
                )  # fmt: skip
                access = VenueAccess(SYSTEM, venue.id, Role.owner)
                context = VenueContext(access=access, name=venue.name, timezone=TIMEZONE)
                where = turn(bot_id, alert_person_id(n), alert_chat_id(n))
                await alerts.subscribe(uow.session, runtime.clock, context, where, None, personal=False)
                ids.append(venue.id)
            await uow.commit()
    return ids


async def open_chats(control: TelegramTwinControl, world: TelegramWorld) -> None:
    """Make the alert chats known to the twin as a person using them does (Telegram answers "chat not found"
    for a chat the bot has never seen). No webhook is set, so these updates just wait for a getUpdates."""
    for n, chat in enumerate(world.alert_chats):
        person = alert_person_id(n)
        if world.is_group(chat):
            await control.user_says(
                "/alerts here", user_id=person, chat_id=chat, chat_type="group", chat_title=f"Bench Telegram Inn {n}"
            )
        else:
            await control.user_says("/start", user_id=person, user_name=f"Bench{n}")


async def command_updates(control: TelegramTwinControl, typists: list[int], texts: list[str]) -> list[dict[str, Any]]:
    """One real Update per text (typist round robin, each in their private chat), made by the twin: the message
    is in the chat (so a reply can quote it), the update_id new, the /command marked with its bot_command entity."""
    out = []
    for i, text in enumerate(texts):
        who = typists[i % len(typists)]
        answer = await control.user_says(text, user_id=who, user_name=f"Bench{who - TYPIST_BASE}")
        if answer.get("update") is None or answer.get("via") != "getUpdates":
            raise RuntimeError(f"the Telegram twin made no update for {text!r}: {answer}")
        out.append(answer["update"])
    return out


async def wait_twin(url: str, within: float = 30.0) -> None:
    """Until the Telegram twin answers its control interface."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            try:
                if (await client.get(f"{url}/_twin/webhook")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Telegram twin at {url} did not answer within {within} s")
            await asyncio.sleep(0.1)
