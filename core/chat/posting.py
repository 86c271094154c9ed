"""Scheduling from chat: `schedule WHEN "TEXT" [to PLATFORMS]` becomes the API's `create_post`.

WHEN is read by `core.posts.phrases.resolve_phrase` in the venue's zone (the same daylight-saving and past-time
rules as the API). Without `to`, the post goes to every connection of the venue that is not disconnected and whose
platform can take it (Instagram needs a photo or video, so a text-only post leaves it out and says so); a
connection waiting for a reconnect is included, and the answer says the post will wait for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from core.access.policy import VenueAccess
from core.connections.lifecycle import PROVIDER_LABEL
from core.errors import Invalid, join_messages
from core.posts.phrases import resolve_phrase
from core.posts.rules import DraftTarget, check_target, configured_limits
from core.posts.service import PostDraft, Saved, account_timezone, create_post, update_post
from core.runtime import Runtime
from storage.models import Connection, ConnectionStatus, Provider
from storage.queries import connections as connections_q


@dataclass
class ChatScheduled:
    """The saved post, and the connections left out because their platform could not take it (and why)."""

    saved: Saved
    left_out: list[str] = field(default_factory=list)


async def schedule_from_chat(
    runtime: Runtime,
    session: AsyncSession,
    access: VenueAccess,
    *,
    when: str,
    text: str,
    platforms: Sequence[Provider] | None,
) -> ChatScheduled:
    """Schedule `text` at the phrase `when` (venue time) to `platforms`, or to every connection that can take it."""
    tz = await account_timezone(session, access.account_id)
    instant = resolve_phrase(when, tz, now=runtime.clock.now())
    usable = [
        c
        for c in await connections_q.list_for_account(session, access.account_id)
        if c.status is not ConnectionStatus.disconnected
    ]
    if platforms is not None:
        chosen = _named(usable, platforms)
        left_out: list[str] = []
    else:
        chosen, left_out = _able(runtime, usable, text)
    draft = PostDraft(text=text, when=instant.isoformat(), connection_ids=[c.id for c in chosen])
    return ChatScheduled(await create_post(runtime, session, access, draft), left_out)


async def edit_from_chat(
    runtime: Runtime, session: AsyncSession, access: VenueAccess, post_id: int, *, text: str | None, when: str | None
) -> Saved:
    """`edit POST_ID text "…"` / `edit POST_ID when PHRASE`: the API's `update_post`, the phrase read as `schedule`
    reads it (venue time; a post that waits for approval goes back to waiting when the venue asks)."""
    instant = None
    if when is not None:
        tz = await account_timezone(session, access.account_id)
        instant = resolve_phrase(when, tz, now=runtime.clock.now()).isoformat()
    return await update_post(runtime, session, access, post_id, PostDraft(text=text, when=instant))


def _named(usable: list[Connection], platforms: Sequence[Provider]) -> list[Connection]:
    missing = [p for p in platforms if not any(c.provider is p for c in usable)]
    if missing:
        names = " or ".join(PROVIDER_LABEL[p] for p in missing)
        raise Invalid(
            f"this venue has no {names} connected",
            remedy="leave it out of `to …`, or ask an owner or admin to connect it",
        )
    return [c for c in usable if c.provider in platforms]


def _able(runtime: Runtime, usable: list[Connection], text: str) -> tuple[list[Connection], list[str]]:
    if not usable:
        raise Invalid(
            "this venue has nothing connected to post to yet",
            remedy="ask an owner or admin to connect its Facebook Page, Instagram or Google Business Profile",
        )
    limits = configured_limits(runtime.settings)
    chosen: list[Connection] = []
    left_out: list[str] = []
    problems: list[str] = []
    for connection in usable:
        found = check_target(DraftTarget(provider=connection.provider, caption=text), limits)
        if found:
            left_out.append(f"{PROVIDER_LABEL[connection.provider]} {connection.display_name}: {found[0].message}")
            problems.extend(p.message for p in found)
        else:
            chosen.append(connection)
    if not chosen:
        raise Invalid(
            "none of this venue's connections can take this post: " + join_messages(dict.fromkeys(problems)),
            remedy="change the text, or schedule it with a photo from the CheersAI planner",
        )
    return chosen, left_out
