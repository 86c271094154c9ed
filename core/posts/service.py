"""Posts: create, edit, reschedule and cancel — times in the venue's zone, validated per provider,
and never racing a delivery that is in flight or already live."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.access.policy import VenueAccess
from core.connections.lifecycle import PROVIDER_LABEL
from core.errors import Conflict, Invalid, NotFound, join_messages
from core.posts import approval
from core.posts.rules import DraftMedia, DraftTarget, check_all, configured_limits
from core.posts.times import format_local, resolve_when
from core.publishing import transitions
from core.publishing.labels import excerpt
from core.publishing.request import google_options
from core.runtime import Runtime
from providers.publishing import GoogleOptions
from storage.models import Connection, ConnectionStatus, DeliveryStatus, Post, PostTarget, Provider, Role
from storage.models.posts import EDITABLE
from storage.queries import accounts as accounts_q
from storage.queries import approvals as approvals_q
from storage.queries import connections as connections_q
from storage.queries import deliveries as deliveries_q
from storage.queries import media as media_q
from storage.queries import posts as posts_q

MAX_FRESHNESS_MINUTES = 7 * 24 * 60
OPTION_KEYS = {
    Provider.instagram.value: {"surface"},
    Provider.facebook.value: {"surface"},
    Provider.google_business.value: set(GoogleOptions.__dataclass_fields__),
}


@dataclass(frozen=True)
class PostDraft:
    """What a person asks for; every field optional on an edit (None = keep)."""

    text: str | None = None
    when: str | None = None
    fold: str | None = None
    connection_ids: Sequence[int] | None = None
    media_ids: Sequence[int] | None = None
    link: str | None = None
    captions: dict[str, str] | None = None
    options: dict[str, dict[str, Any]] | None = None
    freshness_minutes: int | None = None


@dataclass
class Saved:
    post: Post
    targets: list[PostTarget]
    message: str
    changed: list[str] = field(default_factory=list)


async def create_post(runtime: Runtime, session: AsyncSession, access: VenueAccess, draft: PostDraft) -> Saved:
    """Schedule a new post to one or more connections (deliveries start `scheduled`)."""
    if not draft.connection_ids:
        raise Invalid("choose at least one connection to post to", field="connection_ids")
    tz = await _timezone(session, access.account_id)
    now = runtime.clock.now()
    scheduled_at = resolve_when(draft.when or "now", tz, now=now, fold=_fold(draft.fold))
    freshness = _freshness(runtime, draft.freshness_minutes)
    connections = await _connections(session, access.account_id, draft.connection_ids)
    media_ids = list(dict.fromkeys(draft.media_ids or ()))
    post = Post(
        account_id=access.account_id,
        created_by_user_id=access.actor.user_id,
        text=draft.text or "",
        link=_link(draft.link),
        captions=_captions(draft.captions or {}),
        options=_options(draft.options or {}),
        scheduled_at=scheduled_at,
        freshness_minutes=freshness,
        cutoff_at=scheduled_at + timedelta(minutes=freshness),
        version=1,
        created_at=now,
        updated_at=now,
    )
    await _validate(runtime, session, post, connections, media_ids)
    await posts_q.add(session, post)
    await posts_q.set_media(session, post.id, media_ids)
    targets = [_new_target(post, c, now) for c in connections]
    session.add_all(targets)
    await session.flush()
    await access.record(
        session, runtime.clock, "post_created", subject_type="post", subject_id=post.id,
        connections=[c.id for c in connections], scheduled_at=scheduled_at.isoformat(),
    )  # fmt: skip
    when = "now" if scheduled_at <= now else format_local(scheduled_at, tz, now=now)
    waits = await _await_approval(runtime, session, access, post, from_weekly=False)
    return Saved(post, targets, f"Scheduled for {when} on {_names(connections)}.{_waits(connections)}{waits}")


async def update_post(
    runtime: Runtime, session: AsyncSession, access: VenueAccess, post_id: int, draft: PostDraft
) -> Saved:
    """Edit or reschedule; refused (saying which) while a delivery is in flight, live or in doubt."""
    post = await _post(session, access, post_id, lock=True)
    if post.cancelled_at is not None:
        raise Conflict("this post was cancelled", remedy="create a new post instead")
    targets = list(await deliveries_q.targets_of_post(session, post.id, lock=True))
    await _refuse_if_busy(session, targets, "edit")
    tz = await _timezone(session, access.account_id)
    now = runtime.clock.now()
    changed: list[str] = []
    if draft.text is not None and draft.text != post.text:
        post.text = draft.text
        changed.append("text")
    if draft.link is not None and _link(draft.link) != post.link:
        post.link = _link(draft.link)
        changed.append("link")
    if draft.captions is not None:
        post.captions = _captions(draft.captions)
        changed.append("captions")
    if draft.options is not None:
        post.options = _options(draft.options)
        changed.append("options")
    if draft.when is not None:
        post.scheduled_at = resolve_when(draft.when, tz, now=now, fold=_fold(draft.fold))
        changed.append("time")
    if draft.freshness_minutes is not None:
        post.freshness_minutes = _freshness(runtime, draft.freshness_minutes)
        changed.append("freshness")
    post.cutoff_at = post.scheduled_at + timedelta(minutes=post.freshness_minutes)
    media_ids = await posts_q.media_ids(session, post.id)
    if draft.media_ids is not None and list(draft.media_ids) != media_ids:
        media_ids = list(dict.fromkeys(draft.media_ids))
        # Checked before the write: an unknown id (or another venue's) is "not found", as on create, not a
        # foreign-key error from the database.
        await _check_media(session, access.account_id, media_ids)
        await posts_q.set_media(session, post.id, media_ids)
        changed.append("media")
    wanted_ids = list(draft.connection_ids) if draft.connection_ids is not None else [t.connection_id for t in targets]
    if not wanted_ids:
        raise Invalid("a post needs at least one connection; cancel it instead", field="connection_ids")
    connections = await _connections(session, access.account_id, wanted_ids)
    await _validate(runtime, session, post, connections, media_ids)
    keep = {c.id for c in connections}
    for target in targets:
        if target.connection_id not in keep:
            await session.delete(target)
            changed.append(f"removed connection {target.connection_id}")
    have = {t.connection_id for t in targets}
    fresh = [_new_target(post, c, now) for c in connections if c.id not in have]
    session.add_all(fresh)
    if fresh:
        changed.append("connections")
    post.version += 1
    post.updated_at = now
    kept = [t for t in targets if t.connection_id in keep]
    for target in kept:
        _reschedule(target, post, now)
    await session.flush()
    await access.record(
        session, runtime.clock, "post_updated", subject_type="post", subject_id=post.id, changed=changed
    )
    when = format_local(post.scheduled_at, tz, now=now) if post.scheduled_at > now else "now"
    waits = ""
    editor_changed_approved = post.approval == approval.APPROVED and not access.role.at_least(Role.admin)
    if post.approval == approval.PENDING or editor_changed_approved:
        # Still waiting (its new deliveries wait too), or approved and now changed: back to the approvers when
        # the venue asks for this author's posts to be approved (an admin's own edit is its own approval).
        waits = await _await_approval(
            runtime, session, access, post, from_weekly=await approvals_q.is_weekly(session, post.id),
            again=post.approval == approval.PENDING,
        )  # fmt: skip
    message = f"Updated; going out {when} on {_names(connections)}.{_waits(connections)}{waits}"
    return Saved(post, [*kept, *fresh], message, changed)


async def cancel_post(runtime: Runtime, session: AsyncSession, access: VenueAccess, post_id: int) -> Saved:
    """Cancel every delivery not yet out; live ones stay live (the answer says where). A post live on every
    connection has nothing left to cancel: refused like an edit, with its links."""
    post = await _post(session, access, post_id, lock=True)
    targets = list(await deliveries_q.targets_of_post(session, post.id, lock=True))
    all_live = bool(targets) and all(t.status is DeliveryStatus.published for t in targets)
    await _refuse_if_busy(session, targets, "cancel", allow_published=not all_live)
    now = runtime.clock.now()
    live = [t for t in targets if t.status is DeliveryStatus.published]
    for target in targets:
        if target.status in (*EDITABLE, DeliveryStatus.processing):
            transitions.cancel(target, now)
    post.cancelled_at = post.cancelled_at or now
    await session.flush()
    await access.record(session, runtime.clock, "post_cancelled", subject_type="post", subject_id=post.id)
    message = "Cancelled."
    if live:
        links = ", ".join(t.permalink or f"delivery {t.id}" for t in live)
        message = f"Cancelled the rest; already live (remove by hand if needed): {links}."
    return Saved(post, targets, message)


async def _await_approval(
    runtime: Runtime, session: AsyncSession, access: VenueAccess, post: Post, *, from_weekly: bool, again: bool = False
) -> str:
    """Hold the post for approval when the venue asks for it (or it already waits); the words the author reads."""
    account = await accounts_q.get_account(session, post.account_id)
    if account is None:
        raise NotFound(f"venue {post.account_id} not found")
    if not again and not approval.required(account, access.role, from_weekly):
        return ""
    await approval.require(runtime, session, post)
    return " It waits for approval by an admin or owner of the venue before it goes out."


async def account_timezone(session: AsyncSession, account_id: int) -> str:
    """The venue's IANA timezone name, or NotFound."""
    return await _timezone(session, account_id)


# --- helpers -------------------------------------------------------------------------------------


async def _post(session: AsyncSession, access: VenueAccess, post_id: int, *, lock: bool = False) -> Post:
    post = await posts_q.get(session, access.account_id, post_id, lock=lock)
    if post is None:
        raise NotFound(f"post {post_id} not found")
    return post


async def _timezone(session: AsyncSession, account_id: int) -> str:
    account = await accounts_q.get_account(session, account_id)
    if account is None:
        raise NotFound(f"venue {account_id} not found")
    return account.timezone


async def _connections(session: AsyncSession, account_id: int, ids: Sequence[int]) -> list[Connection]:
    found: list[Connection] = []
    for connection_id in dict.fromkeys(ids):
        connection = await connections_q.get(session, account_id, connection_id)
        if connection is None:
            raise NotFound(f"connection {connection_id} not found", field="connection_ids")
        if connection.status is ConnectionStatus.disconnected:
            raise Invalid(
                f"{PROVIDER_LABEL[connection.provider]} {connection.display_name} is disconnected",
                field="connection_ids",
                remedy="connect it again first",
            )
        found.append(connection)
    return found


async def _check_media(session: AsyncSession, account_id: int, media_ids: Sequence[int]) -> None:
    """Refuse a media id that is not in the venue's library, in the words create_post uses."""
    for asset_id in media_ids:
        if await media_q.get(session, account_id, asset_id) is None:
            raise NotFound(f"media {asset_id} not found", field="media_ids")


async def _validate(
    runtime: Runtime, session: AsyncSession, post: Post, connections: list[Connection], media_ids: list[int]
) -> None:
    media: list[DraftMedia] = []
    for asset_id in media_ids:
        asset = await media_q.get(session, post.account_id, asset_id)
        if asset is None:
            raise NotFound(f"media {asset_id} not found", field="media_ids")
        media.append(
            DraftMedia(asset.id, asset.kind, asset.status, asset.width, asset.height, asset.duration, asset.filename)
        )
    drafts = [
        DraftTarget(
            provider=c.provider,
            caption=post.captions.get(c.provider.value) or post.text,
            surface=(post.options.get(c.provider.value) or {}).get("surface", "feed"),
            link=post.link,
            media=tuple(media),
            google=google_options(post) if c.provider is Provider.google_business else None,
        )
        for c in connections
    ]
    problems = check_all(drafts, configured_limits(runtime.settings))
    if problems:
        first = problems[0]
        raise Invalid(
            join_messages(p.message for p in problems),
            field=first.field,
            problems=[{"field": p.field, "rule": p.rule, "message": p.message} for p in problems],
        )


async def _refuse_if_busy(
    session: AsyncSession, targets: list[PostTarget], verb: str, *, allow_published: bool = False
) -> None:
    """A delivery in flight, live or in doubt cannot be changed behind its back: say which and why."""
    reasons: list[str] = []
    for t in targets:
        connection = await session.get(Connection, t.connection_id)
        name = f"{PROVIDER_LABEL[t.provider]} {connection.display_name if connection else t.connection_id}"
        if t.status is DeliveryStatus.claimed:
            since = f" since {t.claimed_at:%H:%M:%S} UTC" if t.claimed_at else ""
            reasons.append(f"publishing to {name} is in progress{since}; try again in a minute")
        elif t.status is DeliveryStatus.processing and t.committed:
            reasons.append(f"{name} is already processing it")
        elif t.status is DeliveryStatus.published and not allow_published:
            reasons.append(f"it is already live on {name}{f' ({t.permalink})' if t.permalink else ''}")
        elif t.status in (DeliveryStatus.in_doubt, DeliveryStatus.needs_attention):
            reasons.append(f"{name} may already have it; decide on that delivery first")
    if reasons:
        raise Conflict(
            f"can't {verb} this post: " + join_messages(reasons),
            remedy="CheersAI never changes a live post silently; edit it on the platform, or post a correction",
        )


def _new_target(post: Post, connection: Connection, now: datetime) -> PostTarget:
    target = PostTarget(
        post_id=post.id,
        account_id=post.account_id,
        connection_id=connection.id,
        provider=connection.provider,
        due_at=post.scheduled_at,
        cutoff_at=post.cutoff_at,
        attempts=0,
        retries=0,
        stage={},
        committed=False,
        content_version=post.version,
        created_at=now,
        updated_at=now,
    )
    transitions.start(target)
    return target


def _reschedule(target: PostTarget, post: Post, now: datetime) -> None:
    """After an edit the delivery starts over with the new content and time (nothing of it is live)."""
    transitions.reschedule(target, due_at=post.scheduled_at, cutoff_at=post.cutoff_at, now=now)
    target.content_version = post.version


def _fold(value: str | None) -> Any:
    if value is None:
        return None
    if value not in ("earlier", "later"):
        raise Invalid("fold must be 'earlier' or 'later'", field="fold")
    return value


def _freshness(runtime: Runtime, minutes: int | None) -> int:
    if minutes is None:
        return runtime.settings.cheers_post_freshness_minutes
    if not 1 <= minutes <= MAX_FRESHNESS_MINUTES:
        raise Invalid(
            f"freshness_minutes must be between 1 and {MAX_FRESHNESS_MINUTES} (a week)", field="freshness_minutes"
        )
    return minutes


def _link(value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if not value.startswith(("https://", "http://")) or len(value) > 2000:
        raise Invalid("link must be an http(s) address of at most 2000 characters", field="link")
    return value


def _captions(captions: dict[str, str]) -> dict[str, str]:
    unknown = [k for k in captions if k not in {p.value for p in Provider}]
    if unknown:
        raise Invalid(f"unknown provider in captions: {', '.join(unknown)}", field="captions")
    return {k: v for k, v in captions.items() if v}


def _options(options: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    cleaned: dict[str, dict[str, Any]] = {}
    for provider, values in options.items():
        allowed = OPTION_KEYS.get(provider)
        if allowed is None:
            raise Invalid(f"unknown provider in options: {provider}", field="options")
        unknown = sorted(set(values) - allowed)
        if unknown:
            raise Invalid(f"unknown {provider} option(s): {', '.join(unknown)}", field=f"options.{provider}")
        cleaned[provider] = dict(values)
    return cleaned


def _names(connections: Sequence[Connection]) -> str:
    return ", ".join(f"{PROVIDER_LABEL[c.provider]} {c.display_name}" for c in connections)


def reconnect_wait(connection: Connection) -> str | None:
    """What a post to `connection` waits for while its access is gone, who can end the wait and how; None if none."""
    if connection.status not in (ConnectionStatus.needs_reconnect, ConnectionStatus.revoked):
        return None
    return (
        f"{PROVIDER_LABEL[connection.provider]} {connection.display_name} needs reconnecting, so this post will wait"
        " until it is reconnected: an owner or admin of the venue can reconnect it"
        f" (POST /api/connections/{connection.id}/reconnect, or"
        f" `cheers connections connect {connection.provider.value} --account {connection.account_id}`)"
    )


def _waits(connections: Sequence[Connection]) -> str:
    # Said at once: otherwise the post looks scheduled and then sits silently at its time.
    return "".join(f" {wait}." for c in connections if (wait := reconnect_wait(c)))


def summary_line(post: Post) -> str:
    return excerpt(post.text) or f"post {post.id}"
