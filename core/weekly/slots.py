"""The weekly plan: a venue's recurring slots (quiz on Tuesday 20:00, roast on Sunday 12:00), validated and audited.

Every front door (API, CLI, chat) calls these with a VenueAccess: reading needs viewer, changing needs editor, as
for posts. A slot of another venue is "not found". Each change raises the slot's `version` (the materialise job
tells an edited slot by it) and is recorded in the audit log.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core.access.policy import VenueAccess
from core.clock import Clock
from core.connections.lifecycle import PROVIDER_LABEL
from core.errors import Invalid, NotFound, PermissionDenied, join_messages
from core.posts.rules import DraftMedia, DraftTarget, check_all, configured_limits
from core.posts.times import format_local, zone
from core.runtime import Runtime
from core.weekly.template import TemplateInvalid, check_template, render_template
from storage.models import Connection, ConnectionStatus, Provider, Role, WeeklySlot
from storage.queries import accounts as accounts_q
from storage.queries import connections as connections_q
from storage.queries import media as media_q
from storage.queries import weekly as weekly_q

log = structlog.get_logger(__name__)

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAX_NAME = 120
MAX_MEDIA = 52  # a year of weekly rotation
MAX_CONNECTIONS = 50
_TIME = re.compile(r"(?P<h>[0-9]{1,2}):(?P<m>[0-9]{2})")  # ASCII digits: what is stored is what is shown
_LOOKAHEAD_DAYS = 7 * 60  # far enough to step over a pause between active dates, short enough to stay cheap


@dataclass(frozen=True)
class SlotDraft:
    """What a person asks for; on an edit every field is optional (None = keep)."""

    name: str | None = None
    weekday: int | str | None = None
    local_time: str | None = None
    text_template: str | None = None
    media_asset_ids: Sequence[int] | None = None
    connection_ids: Sequence[int] | None = None
    captions: dict[str, str] | None = None
    active_from: date | None = None
    active_until: date | None = None
    paused: bool | None = None
    # An edit can't say "no start/end date" with None (that means keep): these clear them.
    clear_active_from: bool = False
    clear_active_until: bool = False


@dataclass(frozen=True)
class SlotView:
    """A slot as front doors show it, with its next post's time and text (None when it makes no more posts)."""

    id: int
    name: str
    weekday: int
    weekday_name: str
    local_time: str
    text_template: str
    media_asset_ids: list[int]
    connection_ids: list[int]
    captions: dict[str, str]
    active_from: date | None
    active_until: date | None
    paused: bool
    version: int
    state: str  # "active", "paused", "not started" (before active_from), "ended" (after active_until)
    next_date: date | None
    next_at: datetime | None
    next_local: str | None  # "Tue 8 Dec 20:00 GMT"
    preview: str | None  # the text of the next post, the date filled in
    targets: list[str] = field(default_factory=list)  # "Facebook The Red Lion"


@dataclass(frozen=True)
class SlotChange:
    """A slot after a change, the sentence that says what happened, and which fields changed."""

    view: SlotView
    message: str
    changed: list[str] = field(default_factory=list)


async def list_slots(runtime: Runtime, session: AsyncSession, access: VenueAccess) -> list[SlotView]:
    """The venue's weekly plan in week order (Monday first), each with its next post."""
    tz = await _timezone(session, access.account_id)
    slots = await weekly_q.list_slots(session, access.account_id)
    # The venue's connections read once for every slot's targets, not once per slot and connection.
    connections = {c.id: c for c in await connections_q.list_for_account(session, access.account_id)}
    return [await _view(session, slot, tz, runtime.clock, connections) for slot in slots]


async def get_slot(runtime: Runtime, session: AsyncSession, access: VenueAccess, slot_id: int) -> SlotView:
    """One slot of the venue (NotFound for another venue's or a deleted one)."""
    tz = await _timezone(session, access.account_id)
    return await _view(session, await _slot(session, access, slot_id), tz, runtime.clock)


async def find_slot(runtime: Runtime, session: AsyncSession, access: VenueAccess, ref: str) -> SlotView:
    """The slot `ref` names: its id ("3", "#3") or a part of its name that only one slot has."""
    cleaned = ref.strip().lstrip("#")
    if cleaned.isdigit() and len(cleaned) <= 18:
        return await get_slot(runtime, session, access, int(cleaned))
    wanted = ref.strip().casefold()
    slots = await weekly_q.list_slots(session, access.account_id)
    exact = [s for s in slots if s.name.casefold() == wanted]
    matches = exact or [s for s in slots if wanted and wanted in s.name.casefold()]
    if not matches:
        names = ", ".join(f"{s.name} (slot {s.id})" for s in slots) or "none yet"
        raise NotFound(f"no weekly slot called '{ref.strip()}'", remedy=f"the venue's slots: {names}")
    if len(matches) > 1:
        names = ", ".join(f"{s.name} (slot {s.id})" for s in matches)
        raise Invalid(
            f"'{ref.strip()}' matches {len(matches)} slots: {names}", remedy="say more of the name, or the id"
        )
    tz = await _timezone(session, access.account_id)
    return await _view(session, matches[0], tz, runtime.clock)


async def create_slot(runtime: Runtime, session: AsyncSession, access: VenueAccess, draft: SlotDraft) -> SlotChange:
    """Add a slot to the venue's weekly plan (version 1)."""
    _need_editor(access)
    missing = [
        name
        for name, value in (
            ("name", draft.name),
            ("weekday", draft.weekday),
            ("local_time", draft.local_time),
            ("text_template", draft.text_template),
        )
        if value is None or (isinstance(value, str) and not value.strip())
    ]
    if missing:
        raise Invalid(f"a weekly slot needs {', '.join(missing)}", field=missing[0])
    if not draft.connection_ids:
        raise Invalid("choose at least one connection to post to", field="connection_ids")
    assert draft.name is not None and draft.local_time is not None and draft.text_template is not None
    now = runtime.clock.now()
    slot = WeeklySlot(
        account_id=access.account_id,
        name=_name(draft.name),
        weekday=parse_weekday(draft.weekday),
        local_time=parse_local_time(draft.local_time),
        text_template=draft.text_template,
        media_asset_ids=_unique(draft.media_asset_ids or (), "media_asset_ids", MAX_MEDIA),
        connection_ids=_unique(draft.connection_ids, "connection_ids", MAX_CONNECTIONS),
        captions=_captions(draft.captions or {}),
        active_from=None if draft.clear_active_from else draft.active_from,
        active_until=None if draft.clear_active_until else draft.active_until,
        paused=bool(draft.paused),
        version=1,
        created_by_user_id=access.actor.user_id,
        created_at=now,
        updated_at=now,
    )
    tz = await _timezone(session, access.account_id)
    await _validate(runtime, session, slot, tz)
    await weekly_q.add_slot(session, slot)
    await access.record(
        session, runtime.clock, "weekly_slot_created", subject_type="weekly_slot", subject_id=slot.id,
        name=slot.name, weekday=slot.weekday, local_time=slot.local_time, connections=list(slot.connection_ids),
    )  # fmt: skip
    log.info("weekly_slot_created", account_id=access.account_id, slot_id=slot.id)
    view = await _view(session, slot, tz, runtime.clock)
    return SlotChange(view, f"Added {slot.name}: every {WEEKDAYS[slot.weekday]} at {slot.local_time}. {_next(view)}")


async def update_slot(
    runtime: Runtime, session: AsyncSession, access: VenueAccess, slot_id: int, draft: SlotDraft
) -> SlotChange:
    """Edit a slot; its version rises when anything changed (posts not yet sent follow it when next made)."""
    _need_editor(access)
    slot = await _slot(session, access, slot_id, lock=True)
    changed: list[str] = []

    def put(name: str, value: Any) -> None:
        if getattr(slot, name) != value:
            setattr(slot, name, value)
            changed.append(name)

    if draft.name is not None:
        put("name", _name(draft.name))
    if draft.weekday is not None:
        put("weekday", parse_weekday(draft.weekday))
    if draft.local_time is not None:
        put("local_time", parse_local_time(draft.local_time))
    if draft.text_template is not None:
        put("text_template", draft.text_template)
    if draft.media_asset_ids is not None:
        put("media_asset_ids", _unique(draft.media_asset_ids, "media_asset_ids", MAX_MEDIA))
    if draft.connection_ids is not None:
        if not draft.connection_ids:
            raise Invalid("a slot needs at least one connection; pause or delete it instead", field="connection_ids")
        put("connection_ids", _unique(draft.connection_ids, "connection_ids", MAX_CONNECTIONS))
    if draft.captions is not None:
        put("captions", _captions(draft.captions))
    if draft.clear_active_from or draft.active_from is not None:
        put("active_from", None if draft.clear_active_from else draft.active_from)
    if draft.clear_active_until or draft.active_until is not None:
        put("active_until", None if draft.clear_active_until else draft.active_until)
    if draft.paused is not None:
        put("paused", draft.paused)
    tz = await _timezone(session, access.account_id)
    # Pausing or renaming can't stop a post being made: a slot whose connection has since gone is still pausable.
    if set(changed) - {"paused", "name"}:
        await _validate(runtime, session, slot, tz)
    if not changed:
        view = await _view(session, slot, tz, runtime.clock)
        return SlotChange(view, f"{slot.name} is unchanged. {_next(view)}")
    _bump(slot, runtime.clock)
    await session.flush()
    await access.record(
        session, runtime.clock, "weekly_slot_updated", subject_type="weekly_slot", subject_id=slot.id,
        changed=changed, version=slot.version,
    )  # fmt: skip
    log.info("weekly_slot_updated", account_id=access.account_id, slot_id=slot.id, changed=changed)
    view = await _view(session, slot, tz, runtime.clock)
    return SlotChange(view, f"Updated {slot.name} ({', '.join(changed)}). {_next(view)}", changed)


async def pause_slot(runtime: Runtime, session: AsyncSession, access: VenueAccess, slot_id: int) -> SlotChange:
    """Stop a slot making posts (posts already made stay as they are); pausing a paused slot changes nothing."""
    return await _set_paused(runtime, session, access, slot_id, paused=True)


async def resume_slot(runtime: Runtime, session: AsyncSession, access: VenueAccess, slot_id: int) -> SlotChange:
    """Let a paused slot make posts again, from its next date."""
    return await _set_paused(runtime, session, access, slot_id, paused=False)


async def delete_slot(runtime: Runtime, session: AsyncSession, access: VenueAccess, slot_id: int) -> SlotChange:
    """Remove a slot from the plan (kept, marked deleted, so what it made stays explained); no more posts from it."""
    _need_editor(access)
    slot = await _slot(session, access, slot_id, lock=True)
    tz = await _timezone(session, access.account_id)
    slot.deleted_at = runtime.clock.now()
    _bump(slot, runtime.clock)
    await session.flush()
    await access.record(
        session, runtime.clock, "weekly_slot_deleted", subject_type="weekly_slot", subject_id=slot.id,
        name=slot.name, version=slot.version,
    )  # fmt: skip
    log.info("weekly_slot_deleted", account_id=access.account_id, slot_id=slot.id)
    view = await _view(session, slot, tz, runtime.clock)
    return SlotChange(
        view, f"Deleted {slot.name}: it makes no more posts (posts already made stay; cancel them if needed)."
    )


async def venue_of_slot(session: AsyncSession, slot_id: int) -> int:
    """The venue a (not deleted) slot belongs to, for the operator's CLI, which names only the slot; or NotFound."""
    slot = await weekly_q.get_slot_any(session, slot_id)
    if slot is None or slot.deleted_at is not None:
        raise NotFound(f"weekly slot {slot_id} not found")
    return slot.account_id


def describe(view: SlotView) -> str:
    """One line for a listing: 'Quiz night (slot 3): Tuesday 20:00 on Facebook Page 1; next Tue 1 Dec 20:00 GMT'."""
    where = ", ".join(view.targets) or "no connections"
    if view.next_local is not None:
        upcoming = f"next {view.next_local}"
    else:
        upcoming = {"paused": "paused", "ended": f"ended {view.active_until}"}.get(view.state, "no more posts")
    return f"{view.name} (slot {view.id}): {view.weekday_name} {view.local_time} on {where}; {upcoming}"


def parse_weekday(value: int | str | None) -> int:
    """0 (Monday) … 6 (Sunday) from a number or a day's name or its first three letters ("tue", "Tuesday")."""
    if isinstance(value, bool):  # a bool is an int in Python; true is not Tuesday
        value = None
    if isinstance(value, int):
        if 0 <= value <= 6:
            return value
    elif isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit() and 0 <= int(text) <= 6:
            return int(text)
        for number, day in enumerate(WEEKDAYS):
            if len(text) >= 3 and day.lower().startswith(text):
                return number
    raise Invalid(
        f"'{value}' is not a weekday", field="weekday", remedy="use 0 (Monday) to 6 (Sunday), or a name like Tuesday"
    )


def parse_local_time(value: str) -> str:
    """A wall time as "HH:MM" (24-hour; "8:05" becomes "08:05"), or Invalid."""
    match = _TIME.fullmatch(value.strip())
    if match is None or int(match["h"]) > 23 or int(match["m"]) > 59:
        raise Invalid(
            f"'{value}' is not a time of day", field="local_time", remedy="use 24-hour HH:MM, like 20:00 or 12:30"
        )
    return f"{int(match['h']):02d}:{match['m']}"


def next_date(
    slot: WeeklySlot, today: date, *, after_time: str | None = None, even_if_paused: bool = False
) -> date | None:
    """The slot's next local date from `today` (today only if `after_time` is before its wall time), within its
    active dates; None when paused (unless `even_if_paused`), deleted, or past its last date."""
    if (slot.paused and not even_if_paused) or slot.deleted_at is not None:
        return None
    try:
        start = today if after_time is None or after_time < slot.local_time else today + timedelta(days=1)
        if slot.active_from is not None and slot.active_from > start:
            start = slot.active_from
        candidate = start + timedelta(days=(slot.weekday - start.weekday()) % 7)
    except OverflowError:  # the week after the calendar's last day: there is no next date
        return None
    if slot.active_until is not None and candidate > slot.active_until:
        return None
    return candidate


def wall_instant(local_date: date, local_time: str, tz_name: str) -> datetime:
    """The UTC instant of `local_time` on `local_date` in the venue's zone (a time in a DST gap moves forward, as
    zoneinfo reads it; the materialise job resolves and reports gaps itself)."""
    hours, minutes = (int(part) for part in local_time.split(":"))
    local = datetime.combine(local_date, time(hours, minutes), tzinfo=zone(tz_name))
    return local.astimezone(UTC)


# --- helpers -------------------------------------------------------------------------------------


def _need_editor(access: VenueAccess) -> None:
    # Front doors ask for the role already; this keeps a new front door from forgetting it.
    if not access.role.at_least(Role.editor):
        raise PermissionDenied(
            f"changing the weekly plan needs the editor role in this venue; you are {access.role.value}",
            remedy="ask an owner or admin of the venue to change your role",
        )


async def _slot(session: AsyncSession, access: VenueAccess, slot_id: int, *, lock: bool = False) -> WeeklySlot:
    slot = await weekly_q.get_slot(session, access.account_id, slot_id, lock=lock)
    if slot is None:
        raise NotFound(f"weekly slot {slot_id} not found")
    return slot


async def _timezone(session: AsyncSession, account_id: int) -> str:
    account = await accounts_q.get_account(session, account_id)
    if account is None:
        raise NotFound(f"venue {account_id} not found")
    return account.timezone


async def _set_paused(
    runtime: Runtime, session: AsyncSession, access: VenueAccess, slot_id: int, *, paused: bool
) -> SlotChange:
    _need_editor(access)
    slot = await _slot(session, access, slot_id, lock=True)
    tz = await _timezone(session, access.account_id)
    verb = "paused" if paused else "resumed"
    if slot.paused == paused:
        view = await _view(session, slot, tz, runtime.clock)
        return SlotChange(view, f"{slot.name} was already {'paused' if paused else 'running'}. {_next(view)}")
    slot.paused = paused
    _bump(slot, runtime.clock)
    await session.flush()
    await access.record(
        session, runtime.clock, f"weekly_slot_{verb}", subject_type="weekly_slot", subject_id=slot.id,
        version=slot.version,
    )  # fmt: skip
    log.info(f"weekly_slot_{verb}", account_id=access.account_id, slot_id=slot.id)
    view = await _view(session, slot, tz, runtime.clock)
    if paused:
        message = f"Paused {slot.name}: it makes no new posts (posts already made stay; cancel them if needed)."
    else:
        message = f"Resumed {slot.name}. {_next(view)}"
    return SlotChange(view, message, ["paused"])


def _bump(slot: WeeklySlot, clock: Clock) -> None:
    slot.version += 1
    slot.updated_at = clock.now()


def _next(view: SlotView) -> str:
    if view.next_local is None:
        return {
            "paused": "It is paused: resume it to make posts again.",
            "ended": f"Its last date ({view.active_until}) has passed: it makes no more posts.",
        }.get(view.state, "It makes no more posts.")
    return f"Next: {view.next_local}."


async def _view(
    session: AsyncSession, slot: WeeklySlot, tz: str, clock: Clock, connections: Mapping[int, Connection] | None = None
) -> SlotView:
    """The slot as it is read (`connections`: the venue's, by id, when already loaded; else each target is read)."""
    now = clock.now()
    local_now = now.astimezone(zone(tz))
    upcoming = next_date(slot, local_now.date(), after_time=f"{local_now:%H:%M}")
    try:
        at = wall_instant(upcoming, slot.local_time, tz) if upcoming is not None else None
    except OverflowError:  # 31 Dec 9999 west of Greenwich is in year 10000 UTC: no such instant
        upcoming = at = None
    targets = []
    for connection_id in slot.connection_ids:
        connection = (
            connections.get(connection_id)
            if connections is not None
            else await connections_q.get(session, slot.account_id, connection_id)
        )
        targets.append(
            f"{PROVIDER_LABEL[connection.provider]} {connection.display_name}"
            if connection is not None
            else f"connection {connection_id} (gone)"
        )
    return SlotView(
        id=slot.id,
        name=slot.name,
        weekday=slot.weekday,
        weekday_name=WEEKDAYS[slot.weekday],
        local_time=slot.local_time,
        text_template=slot.text_template,
        media_asset_ids=list(slot.media_asset_ids),
        connection_ids=list(slot.connection_ids),
        captions=dict(slot.captions),
        active_from=slot.active_from,
        active_until=slot.active_until,
        paused=slot.paused,
        version=slot.version,
        state=_state(slot, local_now.date()),
        next_date=upcoming,
        next_at=at,
        next_local=format_local(at, tz, now=now) if at is not None else None,
        preview=_preview(slot.text_template, upcoming),
        targets=targets,
    )


def _preview(template: str, upcoming: date | None) -> str | None:
    if upcoming is None:
        return None
    try:
        return render_template(template, upcoming)
    except TemplateInvalid as exc:  # saved before a rule was tightened: the listing still shows the rest
        return f"(the template can't be filled in: {exc.message})"


def _state(slot: WeeklySlot, today: date) -> str:
    if slot.paused:
        return "paused"
    if slot.active_until is not None and slot.active_until < today:
        return "ended"
    if slot.active_from is not None and slot.active_from > today:
        return "not started"
    return "active"


def _name(value: str) -> str:
    name = " ".join(value.split())
    if not name:
        raise Invalid("a weekly slot needs a name, like Quiz night", field="name")
    if len(name) > MAX_NAME:
        raise Invalid(f"the name is longer than {MAX_NAME} characters", field="name")
    return name


def _unique(ids: Sequence[int], field_name: str, most: int) -> list[int]:
    unique = list(dict.fromkeys(ids))
    if len(unique) > most:
        raise Invalid(f"at most {most} ids in {field_name}", field=field_name)
    return unique


def _captions(captions: dict[str, str]) -> dict[str, str]:
    unknown = [k for k in captions if k not in {p.value for p in Provider}]
    if unknown:
        raise Invalid(
            f"unknown platform in captions: {', '.join(unknown)}",
            field="captions",
            remedy=f"use {', '.join(p.value for p in Provider)}",
        )
    return {k: v for k, v in captions.items() if v}


async def _validate(runtime: Runtime, session: AsyncSession, slot: WeeklySlot, tz: str) -> None:
    """Refuse a slot that couldn't make its posts: a bad template, dates out of order, media or connections not
    the venue's, or text and media a platform would refuse (checked on the next date, shown in the message)."""
    check_template(slot.text_template)
    for provider, caption in slot.captions.items():
        check_template(caption, field=f"captions.{provider}")
    if slot.active_from is not None and slot.active_until is not None and slot.active_until < slot.active_from:
        raise Invalid(
            f"active_until ({slot.active_until}) is before active_from ({slot.active_from})", field="active_until"
        )
    connections = [await _connection(session, slot.account_id, cid) for cid in slot.connection_ids]
    media = [await _media(session, slot.account_id, aid) for aid in slot.media_asset_ids]
    local_today = runtime.clock.now().astimezone(zone(tz)).date()
    # Preview on the date the slot next falls (a paused slot is checked as it would resume).
    sample = next_date(slot, local_today, even_if_paused=True) or local_today
    text = render_template(slot.text_template, sample)
    captions = {p: render_template(c, sample, field=f"captions.{p}") for p, c in slot.captions.items()}
    # Each post carries one asset of the rotation, so each asset is checked on its own against every target.
    for_each: list[tuple[DraftMedia, ...]] = [(m,) for m in media] or [()]
    drafts = [
        DraftTarget(provider=c.provider, caption=captions.get(c.provider.value) or text, media=one)
        for c in connections
        for one in for_each
    ]
    problems = check_all(drafts, configured_limits(runtime.settings))
    if problems:
        first = problems[0]
        raise Invalid(
            join_messages(p.message for p in problems),
            field=first.field,
            remedy=f"on {sample:%a} {sample.day} {sample:%b} the post would read: {_excerpt(text)}",
            preview=text,
            preview_date=sample.isoformat(),
            problems=[{"field": p.field, "rule": p.rule, "message": p.message} for p in problems],
        )


def _excerpt(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return f"“{flat}”" if len(flat) <= limit else f"“{flat[: limit - 1]}…”"


async def _connection(session: AsyncSession, account_id: int, connection_id: int) -> Connection:
    connection = await connections_q.get(session, account_id, connection_id)
    if connection is None:
        raise NotFound(f"connection {connection_id} not found", field="connection_ids")
    if connection.status is ConnectionStatus.disconnected:
        raise Invalid(
            f"{PROVIDER_LABEL[connection.provider]} {connection.display_name} is disconnected",
            field="connection_ids",
            remedy="connect it again first, or choose another connection",
        )
    return connection


async def _media(session: AsyncSession, account_id: int, asset_id: int) -> DraftMedia:
    asset = await media_q.get(session, account_id, asset_id)
    if asset is None:
        raise NotFound(
            f"media {asset_id} not found in the venue's library", field="media_asset_ids",
            remedy="upload it to the library first (POST /api/media), then use its id",
        )  # fmt: skip
    return DraftMedia(asset.id, asset.kind, asset.status, asset.width, asset.height, asset.duration, asset.filename)
