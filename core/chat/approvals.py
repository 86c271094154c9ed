"""Approve all from chat: every post the week's message (`weekly_materialised`) lists and that still waits for
approval is approved as the person who clicked, each post authorised and decided on its own (core.posts.approval),
so a post someone else decided meanwhile is reported with who and when rather than stopping the rest."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core.access.policy import authorize
from core.chat import people
from core.chat.people import ChatPerson
from core.chat.sending import AlertItem
from core.errors import Conflict, NotFound
from core.notifications.actions import post_offers
from core.notifications.kinds import NotificationKind
from core.posts import approval
from core.runtime import Runtime
from storage.models import Notification, Role

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PostOutcome:
    """What Approve all did to one listed post: approved now, or why not (already decided, gone)."""

    post_id: int
    approved: bool
    message: str


async def approve_all(
    runtime: Runtime, session: AsyncSession, person: ChatPerson, notification_id: int
) -> list[PostOutcome]:
    """Approve, as `person`, each post notification `notification_id` lists that still waits; NotFound when the
    message is not a week's message of a venue of theirs, PermissionDenied (nothing done) below admin."""
    note = await session.get(Notification, notification_id)
    missing = NotFound("this message is gone", remedy="type `week next` to see next week's posts")
    if note is None or note.kind != NotificationKind.weekly_materialised.value:
        raise missing
    try:
        await authorize(session, runtime.clock, person.actor, note.account_id, Role.viewer, purpose="chat approve all")
    except NotFound:
        raise missing from None  # another venue's message reads as gone: ids leak nothing
    listed = [p.get("post_id") for p in note.payload.get("posts") or () if isinstance(p, dict)]
    post_ids = list(dict.fromkeys(i for i in listed if isinstance(i, int)))
    outcomes: list[PostOutcome] = []
    for post_id in post_ids:
        try:
            # Each post authorised on its own venue as the clicker (an id in a message proves nothing).
            access = await people.access_for_post(
                session, runtime.clock, person, post_id, Role.viewer, purpose="chat approve all"
            )
            if access.account_id != note.account_id:
                raise NotFound(f"post {post_id} not found")
            decision = await approval.approve(runtime, session, access, post_id)
        except (Conflict, NotFound) as exc:  # raised before anything was written: the others go on
            outcomes.append(PostOutcome(post_id, False, exc.message))
            continue
        outcomes.append(PostOutcome(post_id, True, decision.message))
    log.info(
        "chat_approve_all", notification_id=notification_id, user_id=person.user_id,
        approved=sum(o.approved for o in outcomes), listed=len(post_ids),
    )  # fmt: skip
    return outcomes


# --- how the week's message and an approval request read in chat (core.chat.delivery.render) ------------------


def week_items(note: Notification, *, resolved: bool) -> tuple[AlertItem, ...]:
    """One item per post the week's message lists (slot, time, approval) with its Approve/Edit/Skip, then each slot
    not made with why and how to fix it."""
    items: list[AlertItem] = []
    for entry in note.payload.get("posts") or ():
        if not isinstance(entry, dict) or not isinstance(entry.get("post_id"), int):
            continue
        pending = entry.get("approval") == "pending"
        text = f"{entry.get('slot_name') or 'Weekly post'} · {entry.get('local_time') or entry.get('local_date')}"
        text += f" · post {entry['post_id']}" + (" · waiting for approval" if pending else "")
        if entry.get("note"):
            text += f"\n{entry['note']}"
        offers = () if resolved else tuple(post_offers(entry["post_id"], pending=pending))
        items.append(AlertItem(text, offers))
    for entry in note.payload.get("not_made") or ():
        if not isinstance(entry, dict):
            continue
        text = f"Not made: {entry.get('slot_name') or 'a slot'} on {entry.get('local_date')}: {entry.get('reason')}"
        if entry.get("remedy"):
            text += f"\nWhat to do: {entry['remedy']}"
        items.append(AlertItem(text))
    return tuple(items)


def approval_lines(note: Notification) -> tuple[str, ...]:
    """An approval request's post: when, who wrote it, its text (the buttons act on it)."""
    payload = note.payload
    lines = [f"When: {payload.get('scheduled_local')}"] if payload.get("scheduled_local") else []
    if payload.get("author"):
        lines.append(f"By: {payload['author']}")
    if payload.get("text"):
        lines.append(str(payload["text"]))
    return tuple(lines)
