"""materialise-weekly: turn each venue's weekly plan into the coming week's posts, once per slot and date.

Every slot and local date is one short transaction: the weekly_posts row is inserted first (its unique key is
what makes a rerun, a second scheduler or a crash halfway create nothing twice), then the post is made through
core.posts.service, so a crash leaves either both or neither. Times are the venue's wall time, resolved now, in
the venue's current timezone: a timezone change keeps each slot's wall time, and a daylight-saving gap or overlap
is resolved with the choices the posts API offers (and said in the row's `note`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core.access.audit import Actor
from core.access.policy import VenueAccess
from core.errors import Conflict, DomainError, NotFound
from core.faults import fault_point
from core.notifications import actions, outbox
from core.notifications.actions import Offer
from core.notifications.kinds import NotificationKind
from core.posts import approval, service
from core.posts.service import PostDraft
from core.posts.times import PostTimeInvalid, format_local, resolve_when, zone
from core.runtime import Runtime
from core.weekly.template import render_template
from storage.models import Account, Channel, Post, Role, Severity, WeeklyPost, WeeklySlot
from storage.models.posts import EDITABLE
from storage.queries import accounts as accounts_q
from storage.queries import deliveries as deliveries_q
from storage.queries import posts as posts_q
from storage.queries import weekly as weekly_q
from storage.queries import weekly_posts as weekly_posts_q

log = structlog.get_logger(__name__)

JOB_NAME = "materialise-weekly"
DAYS = 7

MADE = "made"
NOT_MADE = "not_made"
SKIPPED = "skipped"


@dataclass(frozen=True)
class SlotDate:
    """What one slot on one local date came to in this run."""

    account_id: int
    slot_id: int
    slot_name: str
    local_date: date
    # made | updated | not_made | kept_hand_edit | kept_sent | withdrawn
    outcome: str
    post_id: int | None = None
    scheduled_at: datetime | None = None
    local_time: str | None = None
    targets: tuple[int, ...] = ()
    approval: str | None = None
    reason: str | None = None
    remedy: str | None = None
    note: str | None = None

    def as_payload(self) -> dict[str, Any]:
        """The entry as the notification carries it (JSON-ready)."""
        data = asdict(self)
        data["local_date"] = self.local_date.isoformat()
        data["scheduled_at"] = self.scheduled_at.isoformat() if self.scheduled_at else None
        data["targets"] = list(self.targets)
        return data


@dataclass
class MaterialiseResult:
    """Everything a run did, per slot and date (rows it found already made and unchanged are not listed)."""

    entries: list[SlotDate] = field(default_factory=list)
    notifications: int = 0

    def of(self, outcome: str) -> list[SlotDate]:
        """The entries with `outcome`."""
        return [e for e in self.entries if e.outcome == outcome]

    def summary(self) -> dict[str, Any]:
        """Counts for the job run's record and `cheers jobs run`."""
        outcomes = ("made", "updated", "not_made", "kept_hand_edit", "kept_sent", "withdrawn")
        counts = {o: len(self.of(o)) for o in outcomes}
        return {**counts, "notifications": self.notifications}


class _Undo(Exception):
    """Roll the slot's transaction back and report `entry` (a post edit refused halfway)."""

    def __init__(self, entry: SlotDate) -> None:
        super().__init__(entry.outcome)
        self.entry = entry


@dataclass(frozen=True)
class _Instant:
    at: datetime
    note: str | None


async def materialise(runtime: Runtime, *, account_id: int | None = None, days: int = DAYS) -> MaterialiseResult:
    """Make (or bring up to date) the posts of every live slot for the venue's coming `days` local days."""
    result = MaterialiseResult()
    async with runtime.db.session() as session:
        slots = list(await weekly_q.live_slots(session, account_id=account_id))
    by_account: dict[int, list[WeeklySlot]] = {}
    for slot in slots:
        by_account.setdefault(slot.account_id, []).append(slot)
    for venue_id, venue_slots in by_account.items():
        entries = await _materialise_venue(runtime, venue_id, venue_slots, days)
        result.entries.extend(entries)
        if any(e.outcome != "kept_sent" for e in entries) and await _notify(runtime, venue_id, entries):
            result.notifications += 1
    log.info("weekly_materialised", venues=len(by_account), **result.summary())
    return result


async def run_job(runtime: Runtime) -> dict[str, Any]:
    """The periodic job's entry point (core.ops.jobs registry)."""
    return (await materialise(runtime)).summary()


async def skip(runtime: Runtime, session: AsyncSession, access: VenueAccess, post_id: int) -> service.Saved:
    """Skip one week's post of the plan (chat's Skip button): cancel the post and mark its row skipped, in the
    caller's transaction, so no later run makes that slot and date again."""
    row = await weekly_posts_q.get_by_post(session, access.account_id, post_id, lock=True)
    if row is None:
        raise NotFound(f"post {post_id} is not one of the weekly plan's posts", remedy="cancel it instead")
    saved = await service.cancel_post(runtime, session, access, post_id)
    row.outcome = SKIPPED
    row.reason = None
    row.updated_at = runtime.clock.now()
    await session.flush()
    await access.record(
        session, runtime.clock, "weekly_post_skipped", subject_type="post", subject_id=post_id,
        slot_id=row.slot_id, local_date=row.local_date.isoformat(),
    )  # fmt: skip
    return saved


# --- one venue ---------------------------------------------------------------------------------------------


async def _materialise_venue(runtime: Runtime, venue_id: int, slots: Sequence[WeeklySlot], days: int) -> list[SlotDate]:
    async with runtime.db.session() as session:
        account = await accounts_q.get_account(session, venue_id)
    if account is None:
        return []
    now = runtime.clock.now()
    today = now.astimezone(zone(account.timezone)).date()
    entries: list[SlotDate] = []
    for slot in slots:
        dates = _dates(slot, today, days)
        for local_date in dates:
            try:
                entry = await _one(runtime, account, slot, local_date)
            except Exception:
                # One slot's failure must not stop the venue's other posts; the next run tries it again.
                log.exception("weekly_slot_failed", account_id=venue_id, slot_id=slot.id, local_date=str(local_date))
                continue
            if entry is not None:
                entries.append(entry)
        try:
            entries.extend(await _withdraw_moved(runtime, account, slot, today, days, dates))
        except Exception:
            log.exception("weekly_slot_withdraw_failed", account_id=venue_id, slot_id=slot.id)
    return entries


async def _withdraw_moved(
    runtime: Runtime, account: Account, slot: WeeklySlot, today: date, days: int, dates: list[date]
) -> list[SlotDate]:
    """A slot edited to another weekday (or active dates that now leave a date out): its posts made for dates it no
    longer has, not yet sent and not edited by hand, are cancelled (the new date gets its own post)."""
    async with runtime.db.session() as session:
        rows = await weekly_posts_q.made_between(session, slot.id, today, today + timedelta(days=days - 1))
    stale = [r.local_date for r in rows if r.local_date not in dates and r.slot_version != slot.version]
    entries: list[SlotDate] = []
    for local_date in stale:
        async with runtime.uow() as uow:
            session = uow.session
            row = await weekly_posts_q.get_for_date(session, slot.id, local_date, lock=True)
            if row is None or row.outcome != MADE or row.post_id is None or row.slot_version == slot.version:
                continue
            row.slot_version = slot.version  # decided once per edit
            post = await posts_q.get(session, account.id, row.post_id, lock=True)
            entry: SlotDate | None = None
            if post is not None and post.cancelled_at is None:
                targets = list(await deliveries_q.targets_of_post(session, post.id))
                target_ids = [t.connection_id for t in targets]
                if post.version != row.post_version:
                    note = "edited by hand after the plan made it, so it stays although the slot moved"
                    entry = _entry(account, slot, local_date, "kept_hand_edit", post, target_ids, note)
                elif any(t.status not in EDITABLE for t in targets):
                    note = "already sent or being sent, so it stays although the slot moved"
                    entry = _entry(account, slot, local_date, "kept_sent", post, target_ids, note)
                else:
                    await service.cancel_post(runtime, session, _access(account, slot), post.id)
                    row.outcome = SKIPPED
                    row.note = "withdrawn by the plan: the slot no longer falls on this date"
                    entry = _entry(account, slot, local_date, "withdrawn", post, target_ids, row.note)
            row.updated_at = runtime.clock.now()
            await session.flush()
            await uow.commit()
        if entry is not None:
            entries.append(entry)
    return entries


def _dates(slot: WeeklySlot, today: date, days: int) -> list[date]:
    """The slot's dates among the `days` local days from `today`, inside its active dates."""
    found: list[date] = []
    for offset in range(days):
        day = today + timedelta(days=offset)
        if day.weekday() != slot.weekday:
            continue
        if slot.active_from is not None and day < slot.active_from:
            continue
        if slot.active_until is not None and day > slot.active_until:
            continue
        found.append(day)
    return found


def _resolve(slot: WeeklySlot, local_date: date, tz_name: str, now: datetime) -> _Instant:
    """The slot's wall time on `local_date` as an instant, resolved by the posts API's own rules.

    The overlap (the clocks go back) takes the first of the two readings, fold=earlier; the gap (the clocks go
    forward) takes the later of the two times the API offers, the first minute after the change, so a post
    never goes out before its hour. Either way the note says so.
    """
    hour, minute = (int(part) for part in slot.local_time.split(":"))
    wall = datetime.combine(local_date, time(hour, minute)).isoformat(timespec="minutes")
    past_ok = now - timedelta(days=2)  # past instants are filtered by the caller, not refused here
    try:
        at = resolve_when(wall, tz_name, now=past_ok)
    except PostTimeInvalid as exc:
        choices = exc.extra.get("choices") or []
        if exc.reason == "ambiguous" and choices:
            at = resolve_when(wall, tz_name, now=past_ok, fold="earlier")
            note = (
                f"{_plain(exc.message)}; made for the first {slot.local_time} "
                f"({format_local(at, tz_name)}), as the posts API's fold=earlier"
            )
            return _Instant(at, note)
        if exc.reason == "nonexistent" and choices:
            at = datetime.fromisoformat(choices[-1]).astimezone(UTC)
            note = (
                f"{_plain(exc.message)}; made for {format_local(at, tz_name)}, "
                "the first minute after the change (the later of the two times the posts API offers)"
            )
            return _Instant(at, note)
        raise
    return _Instant(at, None)


def _plain(message: str) -> str:
    # The API's message ends by asking the caller to choose; the plan chose, so that part is left out.
    for marker in ("; send fold=", "; choose "):
        if marker in message:
            return message.split(marker)[0]
    return message


async def _one(runtime: Runtime, account: Account, slot: WeeklySlot, local_date: date) -> SlotDate | None:
    """One slot on one date in one short transaction: make it, retry it, bring it up to date, or leave it."""
    now = runtime.clock.now()
    try:
        instant = _resolve(slot, local_date, account.timezone, now)
    except DomainError as exc:
        return SlotDate(
            account.id, slot.id, slot.name, local_date, "not_made", reason=exc.message,
            remedy="set the venue's timezone to a known IANA name (like Europe/London)",
        )  # fmt: skip
    if instant.at <= now:
        return None  # its time has passed: nothing to make for that date
    entry: SlotDate | None
    try:
        async with runtime.uow() as uow:
            session = uow.session
            row = await weekly_posts_q.claim(
                session, slot_id=slot.id, account_id=account.id, local_date=local_date, slot_version=slot.version,
                now=now,
            )  # fmt: skip
            if row is not None:
                entry = await _make(runtime, session, account, slot, local_date, instant, row)
            else:
                row = await weekly_posts_q.get_for_date(session, slot.id, local_date, lock=True)
                if row is None:
                    return None
                entry = await _refresh(runtime, session, account, slot, local_date, instant, row)
            await uow.commit()
    except _Undo as undo:
        # A refused edit may have half-changed the post before it was refused: that transaction is rolled back
        # whole, and the row remembers the slot's version in one of its own, so the refusal is told once.
        entry = undo.entry
        async with runtime.uow() as uow:
            row = await weekly_posts_q.get_for_date(uow.session, slot.id, local_date, lock=True)
            if row is not None:
                row.slot_version = slot.version
                row.updated_at = runtime.clock.now()
            await uow.commit()
    if entry is not None:
        log.info(
            "weekly_slot_materialised", account_id=account.id, slot_id=slot.id, local_date=str(local_date),
            outcome=entry.outcome, post_id=entry.post_id,
        )  # fmt: skip
    return entry


def _access(account: Account, slot: WeeklySlot) -> VenueAccess:
    # The plan acts for the person who made the slot (the post is theirs), through the system channel. Its posts
    # follow the venue's rule for the plan (approve_weekly_posts, applied here), not the rule for editors' posts.
    actor = Actor(user_id=slot.created_by_user_id, channel=Channel.system)
    return VenueAccess(actor=actor, account_id=account.id, role=Role.admin)


def _draft(slot: WeeklySlot, local_date: date, instant: _Instant) -> PostDraft:
    media = list(slot.media_asset_ids or [])
    # One asset a week, turning through the list: the week number picks it, so a rerun picks the same one.
    chosen = [media[local_date.isocalendar().week % len(media)]] if media else []
    return PostDraft(
        text=render_template(slot.text_template, local_date),
        when=instant.at.isoformat(),
        connection_ids=list(slot.connection_ids or []),
        media_ids=chosen,
        captions={k: render_template(str(v), local_date) for k, v in (slot.captions or {}).items() if v},
    )


async def _make(
    runtime: Runtime,
    session: AsyncSession,
    account: Account,
    slot: WeeklySlot,
    local_date: date,
    instant: _Instant,
    row: WeeklyPost,
) -> SlotDate:
    """The row is ours and new: make its post, or record why it could not be made."""
    row.note = instant.note
    try:
        saved = await service.create_post(runtime, session, _access(account, slot), _draft(slot, local_date, instant))
    except DomainError as exc:
        return _not_made(runtime, account, slot, local_date, row, exc)
    post = saved.post
    if account.approve_weekly_posts:
        await _ask_approval(runtime, session, post)
    await fault_point("during_weekly_materialise")  # chaos: die with the row and the post made but not committed
    row.outcome, row.post_id, row.post_version, row.reason = MADE, post.id, post.version, None
    row.slot_version = slot.version
    await session.flush()
    return _entry(account, slot, local_date, "made", post, [t.connection_id for t in saved.targets], row.note)


async def _ask_approval(runtime: Runtime, session: AsyncSession, post: Post) -> None:
    """The venue approves the plan's posts first: the post waits in pending approval and its approvers are asked."""
    await approval.require(runtime, session, post)


def _not_made(
    runtime: Runtime, account: Account, slot: WeeklySlot, local_date: date, row: WeeklyPost, exc: DomainError
) -> SlotDate:
    remedy = exc.remedy or _remedy(exc, slot)
    row.outcome, row.post_id, row.post_version = NOT_MADE, None, None
    row.slot_version = slot.version
    row.reason = f"{exc.message}. {remedy}" if remedy else exc.message
    row.updated_at = runtime.clock.now()
    return SlotDate(
        account.id, slot.id, slot.name, local_date, "not_made", reason=exc.message, remedy=remedy, note=row.note
    )


def _remedy(exc: DomainError, slot: WeeklySlot) -> str:
    field_name = exc.extra.get("field")
    if field_name == "media_ids":
        return f"choose other media for '{slot.name}' (cheers weekly edit {slot.id} --media …) or upload it again"
    if field_name == "connection_ids":
        return f"choose the venue's connections for '{slot.name}' (cheers weekly edit {slot.id} --connections …)"
    return f"fix the slot '{slot.name}' (cheers weekly edit {slot.id}); the next run makes it"


async def _refresh(
    runtime: Runtime,
    session: AsyncSession,
    account: Account,
    slot: WeeklySlot,
    local_date: date,
    instant: _Instant,
    row: WeeklyPost,
) -> SlotDate | None:
    """The row was there: retry a post not made, bring a post up to date after a slot edit or a timezone change,
    and leave alone a post a person edited by hand or one already (being) sent."""
    if row.outcome == SKIPPED:
        return None
    if row.outcome == NOT_MADE or row.post_id is None:
        before = row.reason
        row.note = instant.note
        try:
            saved = await service.create_post(
                runtime, session, _access(account, slot), _draft(slot, local_date, instant)
            )
        except DomainError as exc:
            entry = _not_made(runtime, account, slot, local_date, row, exc)
            # Told once: a slot still not made for the same reason is not news on the next daily run.
            return entry if row.reason != before else None
        if account.approve_weekly_posts:
            await _ask_approval(runtime, session, saved.post)
        row.outcome, row.post_id, row.post_version, row.reason = MADE, saved.post.id, saved.post.version, None
        row.slot_version = slot.version
        await session.flush()
        made_on = [t.connection_id for t in saved.targets]
        return _entry(account, slot, local_date, "made", saved.post, made_on, row.note)
    post = await posts_q.get(session, account.id, row.post_id, lock=True)
    if post is None or post.cancelled_at is not None:
        return None  # cancelled by a person: the plan does not bring it back
    changed = row.slot_version != slot.version or post.scheduled_at != instant.at
    if not changed:
        return None
    targets = list(await deliveries_q.targets_of_post(session, post.id))
    target_ids = [t.connection_id for t in targets]
    draft = _draft(slot, local_date, instant)
    if await _same(session, post, target_ids, draft, instant):
        # A change that changes nothing here (a pause and resume, another date's caption): nothing to apply or say.
        row.slot_version = slot.version
        return None
    if post.version != row.post_version:
        row.slot_version = slot.version  # told once
        note = "edited by hand after the plan made it, so the slot's change was not applied"
        return _entry(account, slot, local_date, "kept_hand_edit", post, target_ids, note)
    if any(t.status not in EDITABLE for t in targets):
        row.slot_version = slot.version
        note = "already sent or being sent, so the slot's change was not applied"
        return _entry(account, slot, local_date, "kept_sent", post, target_ids, note)
    was_at = post.scheduled_at
    try:
        saved = await service.update_post(runtime, session, _access(account, slot), post.id, draft)
    except Conflict as exc:
        raise _Undo(
            SlotDate(
                account.id,
                slot.id,
                slot.name,
                local_date,
                "kept_sent",
                post_id=post.id,
                scheduled_at=was_at,
                targets=tuple(target_ids),
                note=exc.message,
            )
        ) from exc
    except DomainError as exc:
        # The post stays as it was (still going out); the slot's change waits for the fix.
        raise _Undo(
            SlotDate(
                account.id,
                slot.id,
                slot.name,
                local_date,
                "not_made",
                post_id=post.id,
                scheduled_at=was_at,
                targets=tuple(target_ids),
                reason=f"the slot's change could not be applied: {exc.message}",
                remedy=exc.remedy or _remedy(exc, slot),
                note=row.note,
            )
        ) from exc
    row.note = instant.note
    if account.approve_weekly_posts and saved.post.approval != approval.PENDING:
        await _ask_approval(runtime, session, saved.post)
    row.slot_version, row.post_version = slot.version, saved.post.version
    row.updated_at = runtime.clock.now()
    await session.flush()
    return _entry(account, slot, local_date, "updated", saved.post, [t.connection_id for t in saved.targets], row.note)


async def _same(session: AsyncSession, post: Post, target_ids: list[int], draft: PostDraft, at: _Instant) -> bool:
    """Whether the post already says and does what the slot now asks (text, time, media, targets, captions)."""
    return (
        post.text == draft.text
        and post.scheduled_at == at.at
        and await posts_q.media_ids(session, post.id) == list(draft.media_ids or [])
        and sorted(target_ids) == sorted(draft.connection_ids or [])
        and (post.captions or {}) == (draft.captions or {})
    )


def _entry(
    account: Account,
    slot: WeeklySlot,
    local_date: date,
    outcome: str,
    post: Post,
    targets: Sequence[int],
    note: str | None,
) -> SlotDate:
    return SlotDate(
        account.id, slot.id, slot.name, local_date, outcome, post_id=post.id, scheduled_at=post.scheduled_at,
        local_time=format_local(post.scheduled_at, account.timezone), targets=tuple(targets),
        approval=post.approval, note=note,
    )  # fmt: skip


# --- the notification --------------------------------------------------------------------------------------


def _offers_for_week(entries: Sequence[SlotDate]) -> tuple[Offer, ...]:
    """The buttons on the week's message: Approve all while any post waits for approval (Edit and Skip are each
    post's, drawn by the chat from `posts`: core.notifications.actions.post_offers)."""
    if any(e.approval == "pending" for e in entries):
        return tuple(actions.week_offers())
    return ()


async def _notify(runtime: Runtime, venue_id: int, entries: Sequence[SlotDate]) -> bool:
    """One `weekly_materialised` notification for the venue: each post made or changed and each slot not made."""
    posts = [e for e in entries if e.outcome in ("made", "updated", "kept_hand_edit", "withdrawn")]
    not_made = [e for e in entries if e.outcome == "not_made"]
    if not posts and not not_made:
        return False
    made = sum(1 for e in entries if e.outcome == "made")
    parts = [f"{made} post{'s' if made != 1 else ''} made"] if made else []
    if updated := sum(1 for e in entries if e.outcome == "updated"):
        parts.append(f"{updated} updated")
    if withdrawn := sum(1 for e in entries if e.outcome == "withdrawn"):
        parts.append(f"{withdrawn} withdrawn")
    if not_made:
        parts.append(f"{len(not_made)} not made")
    title = f"Next week's posts from the weekly plan: {', '.join(parts) or 'hand edits kept'}"
    payload: dict[str, Any] = {
        "posts": [e.as_payload() for e in posts],
        "not_made": [e.as_payload() for e in not_made],
        "planner_url": f"{runtime.settings.cheers_public_url.rstrip('/')}/api/posts?week=next",
    }
    severity = Severity.warning if not_made else Severity.info
    async with runtime.uow() as uow:
        await outbox.notify(
            uow.session, runtime.clock, account_id=venue_id, kind=NotificationKind.weekly_materialised,
            severity=severity, title=title, subject={"type": "weekly_plan", "account_id": venue_id},
            payload=payload, actions=_offers_for_week(entries),
        )  # fmt: skip
        await uow.commit()
    return True


__all__ = ["JOB_NAME", "MaterialiseResult", "SlotDate", "materialise", "run_job", "skip"]
