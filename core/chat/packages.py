"""A delivery's manual package shared as a file in the thread of its alert (Slack's Manual package button).

Chat-neutral: which message may receive the zip (only one of our alerts about the same venue, in the chat where
it was clicked, so a package never lands in another venue's chat), the zip itself (core.publishing.packages, the
bytes served at /packages/{signed}), a comment naming the post and platform, and the private link to fall back on.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.access.policy import VenueAccess
from core.chat.people import ChatTurn
from core.errors import NotFound
from core.publishing import packages
from core.publishing.labels import excerpt, label_for
from core.publishing.packages import PackageLink
from core.runtime import Runtime
from storage.models import Connection, Post
from storage.queries import chat_alerts as q
from storage.queries import posts as posts_q


@dataclass(frozen=True)
class PackageFile:
    """The zip to share where the alert is, what to say with it, and the private link if sharing fails."""

    target_id: int
    filename: str
    content: bytes
    comment: str
    link: PackageLink


async def is_alert_here(session: AsyncSession, access: VenueAccess, turn: ChatTurn, ref: str) -> bool:
    """Whether message `ref` in the turn's chat is one of our alerts about the venue `access` is for."""
    # A person's own alerts are addressed to their user id (both platforms take it as their DM); the click comes
    # from the DM's own id.
    chat_ids = [turn.chat_id, turn.own_chat_id] if turn.is_direct_message else [turn.chat_id]
    return await q.is_alert_in_chat(
        session,
        account_id=access.account_id,
        platform=turn.platform,
        workspace_id=turn.workspace_id,
        chat_ids=chat_ids,
        ref=ref,
    )


async def package_file(
    runtime: Runtime, session: AsyncSession, access: VenueAccess, target_id: int, *, asked_by: str | None
) -> PackageFile:
    """The delivery's zip (STEPS.txt, caption, media), a comment naming the post and platform, and the private link."""
    target = await posts_q.get_target_in_account(session, access.account_id, target_id)
    if target is None:
        raise NotFound(f"delivery {target_id} not found")
    link = await packages.package_link(runtime, session, access, target_id)  # refuses a cancelled delivery
    filename, content = await packages.build_package(runtime, session, target_id)
    post = await session.get(Post, target.post_id)
    connection = await session.get(Connection, target.connection_id)
    assert post is not None and connection is not None  # foreign keys
    text = f': "{excerpt(post.text)}"' if (post.text or "").strip() else ""
    who = f" Asked for by {asked_by}." if asked_by else ""
    comment = (
        f"Manual package for post {post.id} on {label_for(connection)}{text}. "
        f"The photos or video, the caption and STEPS.txt, to post it by hand.{who}"
    )
    return PackageFile(target_id=target_id, filename=filename, content=content, comment=comment, link=link)
