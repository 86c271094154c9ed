"""Approvals: a venue may ask that posts by editors (and, or, the weekly plan's posts) wait for an admin or owner.

A waiting post is `pending` and its deliveries `pending_approval`: never claimed by the dispatcher, and missed at
their cutoff when still waiting ("not approved before its time", core.publishing.dispatcher's sweep). One decision
per post, even when two approvers press at once: the decision is a conditional UPDATE (approval = 'pending'), and
the one that loses is told who decided and when. Every decision is audited and the author told
(`approval_decided`: the feed, and the author's private chat when they take alerts there). docs/weekly.md#approvals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core.access.policy import VenueAccess
from core.errors import Conflict, Invalid, NotFound, PermissionDenied
from core.notifications import outbox as notifications
from core.notifications.kinds import NotificationKind, offers_for
from core.posts.times import format_local
from core.publishing import transitions
from core.publishing.labels import excerpt, label_for
from core.publishing.outcomes import missed_unapproved
from core.publishing.settle import apply_settle
from core.runtime import Runtime
from storage.models import Account, Connection, DeliveryStatus, Post, PostTarget, Role, Severity
from storage.queries import accounts as accounts_q
from storage.queries import approvals as approvals_q
from storage.queries import deliveries as deliveries_q

log = structlog.get_logger(__name__)

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
MAX_REASON = 1000
MAX_BATCH = 200  # the most posts one Approve all decides (a venue's approvals queue is one listing)
# What a post may wait from: a new delivery (scheduled), or one an edit left waiting for its reconnect.
WAITS_FROM = (DeliveryStatus.scheduled, DeliveryStatus.needs_reconnect)


@dataclass(frozen=True)
class Decision:
    """One approver's decision on a post, and what became of its deliveries."""

    post_id: int
    approval: str  # "approved" or "rejected"
    decided_by_user_id: int | None
    decided_at: datetime
    note: str | None  # the reason of a rejection
    message: str  # what the approver reads
    missed: list[int] = field(default_factory=list)  # deliveries approved past their cutoff (marked missed)


def required(account: Account, author_role: Role | None, from_weekly: bool) -> bool:
    """Whether a post must wait for approval: a weekly-plan post when the venue asks for those, and a post by an
    editor (below admin) when the venue asks for editors' posts."""
    if from_weekly and account.approve_weekly_posts:
        return True
    return account.approve_editor_posts and author_role is not None and not author_role.at_least(Role.admin)


async def waits_for(session: AsyncSession, access: VenueAccess) -> list[str] | None:
    """Whether a post `access`'s person writes now would wait for approval (not a weekly-plan post), and if so the
    names of who can approve it (the venue's admins and owners); None when it goes out without approval."""
    account = await _account(session, access.account_id)
    if not required(account, access.role, from_weekly=False):
        return None
    return await approvers(session, access)


async def approvers(session: AsyncSession, access: VenueAccess) -> list[str]:
    """The names of who can approve the venue's posts: its admins and owners."""
    members = await accounts_q.members_of_account(session, access.account_id)
    return [user.name for membership, user in members if membership.role.at_least(Role.admin)]


async def decided_by(session: AsyncSession, user_id: int | None) -> str:
    """Who decided a post's approval, by name ("the operator" for the shell, which has no person)."""
    return await approvals_q.user_name(session, user_id) or "the operator"


async def require(runtime: Runtime, session: AsyncSession, post: Post) -> list[PostTarget]:
    """Put the post `pending` and its waiting deliveries `pending_approval`, and ask the venue's approvers
    (`approval_requested`). Idempotent: a post already pending gets its new deliveries held, and is asked once per
    version. Called by core.posts.service on create/edit and by materialise-weekly; returns the held deliveries."""
    now = runtime.clock.now()
    post.approval = PENDING
    post.approval_decided_by_user_id = post.approval_decided_at = post.approval_note = None
    held: list[PostTarget] = []
    for target in await deliveries_q.targets_of_post(session, post.id, lock=True):
        if target.status in WAITS_FROM:
            transitions.await_approval(target, now)
            held.append(target)
    await session.flush()
    tz = (await _account(session, post.account_id)).timezone
    author = await approvals_q.user_name(session, post.created_by_user_id)
    await notifications.notify(
        session,
        runtime.clock,
        account_id=post.account_id,
        kind=NotificationKind.approval_requested,
        severity=Severity.warning,
        title=f"Waiting for approval: {excerpt(post.text) or f'post {post.id}'}",
        subject={"post_id": post.id, "author_user_id": post.created_by_user_id},
        payload={
            "author": author,
            "scheduled_at": post.scheduled_at.isoformat(),
            "scheduled_local": format_local(post.scheduled_at, tz, now=now),
            "text": post.text,
            "version": post.version,
            "remedy": "An admin or owner approves or rejects it before its time (POST /api/posts/"
            f"{post.id}/approve or /reject, `cheers posts approve {post.id}`); unapproved, it is not sent.",
        },
        actions=offers_for(NotificationKind.approval_requested, post_id=post.id),
        dedup_key=f"approval_requested:{post.id}:{post.version}",
    )
    log.info("post_approval_requested", post_id=post.id, account_id=post.account_id, held=len(held))
    return held


async def approve(runtime: Runtime, session: AsyncSession, access: VenueAccess, post_id: int) -> Decision:
    """Approve a waiting post (admin or owner): its deliveries go out at their time, or are missed when already past
    their cutoff. A post someone already decided is a Conflict naming who and when."""
    _check_approver(access)
    post = await _pending_post(session, access, post_id)
    now = runtime.clock.now()
    if not await approvals_q.decide(
        session, post.id, decision=APPROVED, user_id=access.actor.user_id, at=now, note=None
    ):
        raise await _already_decided(session, post_id)
    await approvals_q.reread(session, post.id)
    by = await _who(session, access)
    missed: list[int] = []
    for target in await deliveries_q.targets_of_post(session, post.id, lock=True):
        if target.status is not DeliveryStatus.pending_approval:
            continue
        if target.cutoff_at <= now:
            connection = await session.get(Connection, target.connection_id)
            assert connection is not None
            await apply_settle(
                runtime, session, target, post, connection, missed_unapproved(label_for(connection), target.cutoff_at)
            )
            missed.append(target.id)
        else:
            transitions.approved(target, now, f"Approved by {by}.")
    await session.flush()
    await access.record(session, runtime.clock, "post_approved", subject_type="post", subject_id=post.id, missed=missed)
    message = f"Approved by {by}."
    if missed:
        message += f" Past its cutoff on {len(missed)} of its connections: missed there (Retry sends it late)."
    else:
        message += " It goes out at its time."
    await _tell_author(runtime, session, post, APPROVED, by, message)
    log.info("post_approved", post_id=post.id, account_id=post.account_id, missed=len(missed))
    return Decision(post.id, APPROVED, access.actor.user_id, now, None, message, missed)


async def reject(runtime: Runtime, session: AsyncSession, access: VenueAccess, post_id: int, reason: str) -> Decision:
    """Reject a waiting post with a reason (admin or owner): its deliveries are cancelled and the author told why.
    A post someone already decided is a Conflict naming who and when."""
    _check_approver(access)
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("say why it is rejected, so its author can put it right", field="reason")
    if len(reason) > MAX_REASON:
        raise Invalid(f"the reason is longer than {MAX_REASON} characters", field="reason")
    post = await _pending_post(session, access, post_id)
    now = runtime.clock.now()
    if not await approvals_q.decide(
        session, post.id, decision=REJECTED, user_id=access.actor.user_id, at=now, note=reason
    ):
        raise await _already_decided(session, post_id)
    await approvals_q.reread(session, post.id)
    by = await _who(session, access)
    for target in await deliveries_q.targets_of_post(session, post.id, lock=True):
        if target.status is DeliveryStatus.pending_approval:
            transitions.rejected(target, now, f"Rejected by {by}: {reason}")
    post.cancelled_at = post.cancelled_at or now
    await session.flush()
    await access.record(session, runtime.clock, "post_rejected", subject_type="post", subject_id=post.id, reason=reason)
    message = f"Rejected by {by}: {reason}. It will not be sent."
    await _tell_author(runtime, session, post, REJECTED, by, message)
    log.info("post_rejected", post_id=post.id, account_id=post.account_id)
    return Decision(post.id, REJECTED, access.actor.user_id, now, reason, message)


@dataclass(frozen=True)
class Batch:
    """What Approve all did: the posts it approved, and each it could not with why (decided meanwhile, gone)."""

    approved: list[Decision]
    refused: list[tuple[int, str]]


async def approve_each(runtime: Runtime, session: AsyncSession, access: VenueAccess, post_ids: Sequence[int]) -> Batch:
    """Approve each of the venue's posts in `post_ids` that still waits (the planner's "Approve all": the posts the
    approver was shown, never one that arrived since). Each is decided on its own, so a post someone else decided
    meanwhile, or another venue's, is reported rather than stopping the rest (refused before anything was written)."""
    _check_approver(access)
    wanted = list(dict.fromkeys(post_ids))
    if not wanted:
        raise Invalid("no posts to approve", field="post_id", remedy="reload the page to see what waits")
    if len(wanted) > MAX_BATCH:
        raise Invalid(f"at most {MAX_BATCH} posts at once", field="post_id")
    approved: list[Decision] = []
    refused: list[tuple[int, str]] = []
    for post_id in wanted:
        try:
            approved.append(await approve(runtime, session, access, post_id))
        except (Conflict, NotFound) as exc:
            refused.append((post_id, exc.message))
    log.info("posts_approved_together", account_id=access.account_id, approved=len(approved), refused=len(refused))
    return Batch(approved, refused)


# --- helpers -------------------------------------------------------------------------------------


def _check_approver(access: VenueAccess) -> None:
    if not access.role.at_least(Role.admin):
        raise PermissionDenied(
            f"approving or rejecting a post needs the admin role in this venue; you are {access.role.value}",
            remedy="ask an owner or admin of the venue to decide it",
        )


async def _account(session: AsyncSession, account_id: int) -> Account:
    account = await accounts_q.get_account(session, account_id)
    if account is None:
        raise NotFound(f"venue {account_id} not found")
    return account


async def _pending_post(session: AsyncSession, access: VenueAccess, post_id: int) -> Post:
    post = await approvals_q.reread(session, post_id)
    if post is None or post.account_id != access.account_id:
        raise NotFound(f"post {post_id} not found")
    if post.approval is None:
        raise Conflict("this post does not need approval", remedy="it goes out at its time as it is")
    if post.approval != PENDING:
        raise await _already_decided(session, post_id)
    return post


async def _already_decided(session: AsyncSession, post_id: int) -> Conflict:
    """The loser of a race (or a late click) is told who decided, when, and how."""
    post = await approvals_q.reread(session, post_id)
    if post is None:
        return Conflict(f"post {post_id} is gone")
    tz = (await _account(session, post.account_id)).timezone
    who = await approvals_q.user_name(session, post.approval_decided_by_user_id) or "the operator"
    when = format_local(post.approval_decided_at, tz) if post.approval_decided_at else "earlier"
    if post.approval == REJECTED:
        return Conflict(
            f"already rejected by {who} at {when}: {post.approval_note}",
            remedy="create the post again if it should go out",
            decided_by=who,
            decided_at=post.approval_decided_at.isoformat() if post.approval_decided_at else None,
        )
    if post.approval == APPROVED:
        return Conflict(
            f"already approved by {who} at {when}",
            remedy="nothing to do: it goes out at its time",
            decided_by=who,
            decided_at=post.approval_decided_at.isoformat() if post.approval_decided_at else None,
        )
    return Conflict("this post does not need approval", remedy="it goes out at its time as it is")


async def _who(session: AsyncSession, access: VenueAccess) -> str:
    return await approvals_q.user_name(session, access.actor.user_id) or "the operator"


async def _tell_author(
    runtime: Runtime, session: AsyncSession, post: Post, decision: str, by: str, message: str
) -> None:
    """`approval_decided`: in the venue's feed, and in the author's private chat when they take alerts there."""
    await notifications.notify(
        session,
        runtime.clock,
        account_id=post.account_id,
        kind=NotificationKind.approval_decided,
        severity=Severity.info if decision == APPROVED else Severity.warning,
        title=f"{decision.capitalize()} by {by}: {excerpt(post.text) or f'post {post.id}'}",
        subject={"post_id": post.id, "author_user_id": post.created_by_user_id},
        payload={"decision": decision, "decided_by": by, "reason": post.approval_note, "message": message},
        dedup_key=f"approval_decided:{post.id}:{post.version}",
    )
