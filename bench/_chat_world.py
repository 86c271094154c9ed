"""The world bench/chat.py talks to: a Slack twin workspace with people and channels, the app installed in it,
venues whose people are linked to those Slack users, and one alerts channel per alert venue.

Everything goes through core's own functions (accounts, `core.chat.linking` codes redeemed as the Slack user,
`core.chat.alerts.subscribe` as `/cheers alerts here` does); only the install row is written directly (its token
sealed with the workers' key, as the OAuth redirect stores it), so no browser dance is needed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx

from core.access import accounts
from core.access.audit import Actor
from core.access.policy import VenueAccess
from core.chat import alerts, linking
from core.chat.people import ChatTurn, VenueContext
from core.posts.service import PostDraft, create_post
from core.runtime import Runtime
from sandbox.slack.twin import SlackTwinControl
from storage.enums import ChatPlatform
from storage.models import Channel, ChatInstall, Role
from storage.queries import chat_installs as installs_q
from storage.secrets import seal

TEAM = "T0BENCH001"
TIMEZONE = "Europe/London"
SYSTEM = Actor(user_id=None, channel=Channel.cli)
BATCH = 50  # rows per transaction while setting up


def user_id(n: int) -> str:
    return f"U0BENCH{n:04d}"


def channel_id(n: int) -> str:
    return f"C0BENCH{n:04d}"


@dataclass(frozen=True)
class ChatWorld:
    """Who types the commands (Slack user ids, all linked), where they type, and the alert venues' channels."""

    typists: list[str]
    command_channel: str
    alert_venues: list[int]  # alert venue i sends to channel_id(i)
    alert_channels: list[str]


async def slack_workspace(control: SlackTwinControl, typists: int, channels: int) -> str:
    """One twin workspace with `typists` people and `channels` public channels (+1 for commands); the bot token."""
    users = [{"id": user_id(i), "name": f"bench{i}", "real_name": f"Bench Person {i}"} for i in range(typists)]
    chans = [{"id": channel_id(i), "name": f"bench-{i}"} for i in range(channels + 1)]
    await control.scenario(
        [{"id": TEAM, "name": "Bench Pubs", "domain": "bench-pubs", "users": users, "channels": chans}]
    )
    return await control.install(team_id=TEAM)


async def store_install(runtime: Runtime, token: str, venue_id: int) -> None:
    """The workspace's install as the OAuth redirect leaves it: the bot token sealed with the app's key."""
    async with runtime.uow() as uow:
        install = ChatInstall(platform=ChatPlatform.slack, workspace_id=TEAM, workspace_name="Bench Pubs")
        install.account_id = venue_id
        install.scopes = ["commands", "chat:write", "chat:write.public", "im:write", "files:write"]
        seal(install, "bot_token", token, runtime.cipher())
        await installs_q.add_install(uow.session, install)
        await uow.commit()


def turn(slack_user: str, chat: str) -> ChatTurn:
    return ChatTurn(ChatPlatform.slack, TEAM, slack_user, slack_user, chat, is_direct_message=False)


async def link_typists(runtime: Runtime, venue_id: int, typists: int, chat: str) -> None:
    """`typists` people made owners of `venue_id`, each linked to their Slack user with a one-time code."""
    access = VenueAccess(SYSTEM, venue_id, Role.owner)
    for start in range(0, typists, BATCH):
        async with runtime.uow() as uow:
            for n in range(start, min(typists, start + BATCH)):
                person = await accounts.create_user(uow.session, runtime.clock, SYSTEM, name=f"Bench Person {n}")
                await accounts.add_member(uow.session, runtime.clock, access, user_id=person.id, role=Role.owner)
                code = await linking.issue_link_code(uow.session, runtime.clock, SYSTEM, person.id)
                outcome = await linking.redeem_code(uow.session, runtime.clock, turn(user_id(n), chat), code.code)
                if not outcome.linked:
                    raise RuntimeError(f"linking {user_id(n)} failed: {outcome.message}")
            await uow.commit()


async def week_of_posts(runtime: Runtime, venue_id: int, connection_id: int, count: int) -> None:
    """`count` posts later today and tomorrow, so `week` and `status` have a real week to read."""
    access = VenueAccess(SYSTEM, venue_id, Role.owner)
    start = runtime.clock.now() + timedelta(hours=2)
    async with runtime.uow() as uow:
        for k in range(count):
            when = (start + timedelta(minutes=37 * k)).isoformat(timespec="seconds")
            draft = PostDraft(
                text=f"Bench week post {k}: quiz night, tables from 7!", when=when, connection_ids=[connection_id]
            )
            await create_post(runtime, uow.session, access, draft)
        await uow.commit()


async def alert_venues(runtime: Runtime, channels: int) -> list[int]:
    """`channels` venues, each with its owner's alerts on in its own channel (`alerts here`)."""
    ids: list[int] = []
    for start in range(0, channels, BATCH):
        async with runtime.uow() as uow:
            for n in range(start, min(channels, start + BATCH)):
                venue = await accounts.create_account(
                    uow.session, runtime.clock, SYSTEM, name=f"Bench Alert Inn {n}", timezone=TIMEZONE,
                    owner_user_id=None,
                )  # fmt: skip
                access = VenueAccess(SYSTEM, venue.id, Role.owner)
                context = VenueContext(access=access, name=venue.name, timezone=TIMEZONE)
                await alerts.subscribe(
                    uow.session, runtime.clock, context, turn(user_id(0), channel_id(n)), None, personal=False
                )
                ids.append(venue.id)
            await uow.commit()
    return ids


async def wait_twin(url: str, within: float = 30.0) -> None:
    """Until the Slack twin answers its control interface."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            try:
                if (await client.get(f"{url}/_twin/workspace")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Slack twin at {url} did not answer within {within} s")
            await asyncio.sleep(0.1)
