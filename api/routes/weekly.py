"""The weekly plan API: a venue's recurring slots (list, add, read, edit, pause, resume, delete)."""

from __future__ import annotations

from datetime import date, datetime

from litestar import delete, get, patch, post
from pydantic import BaseModel, Field

from api.deps import require
from core.access.policy import VenueAccess
from core.runtime import Runtime
from core.weekly import slots as slots_core
from core.weekly.slots import SlotChange, SlotView
from storage.models import Role
from storage.uow import UnitOfWork

_TEMPLATE = (
    "The post's text; {date} is replaced by the post's date (Tuesday 8 December) and {date:FORMAT} by the date in"
    " strftime codes, e.g. 'Quiz night tonight, {date:%A %d %B}, from 8pm'. No other placeholders; {{ }} for braces"
)
_WEEKDAY = "0 (Monday) to 6 (Sunday), or a day's name (Tuesday, tue)"


class SlotIn(BaseModel):
    name: str = Field(max_length=120, description="What the venue calls it, e.g. Quiz night")
    weekday: int | str = Field(description=_WEEKDAY)
    local_time: str = Field(description="Wall time in the venue's timezone, 24-hour HH:MM (20:00)")
    text_template: str = Field(max_length=70_000, description=_TEMPLATE)
    media_asset_ids: list[int] = Field(
        default_factory=list,
        max_length=52,
        description="Library media; with several, each week's post takes the next (by ISO week number)",
    )
    connection_ids: list[int] = Field(description="Where to publish: the venue's connection ids", max_length=50)
    captions: dict[str, str] = Field(
        default_factory=dict, description="Per-provider text overriding text_template (same placeholders)"
    )
    active_from: date | None = Field(default=None, description="First date it makes a post (inclusive)")
    active_until: date | None = Field(default=None, description="Last date it makes a post (inclusive)")
    paused: bool = Field(default=False, description="A paused slot makes no posts")


class SlotPatch(BaseModel):
    name: str | None = Field(default=None, max_length=120)
    weekday: int | str | None = Field(default=None, description=_WEEKDAY)
    local_time: str | None = Field(default=None, description="24-hour HH:MM in the venue's timezone")
    text_template: str | None = Field(default=None, max_length=70_000, description=_TEMPLATE)
    media_asset_ids: list[int] | None = Field(default=None, max_length=52)
    connection_ids: list[int] | None = Field(default=None, max_length=50)
    captions: dict[str, str] | None = None
    active_from: date | None = Field(default=None, description="null clears it (active from now on)")
    active_until: date | None = Field(default=None, description="null clears it (no last date)")
    paused: bool | None = None


class SlotOut(BaseModel):
    id: int
    name: str
    weekday: int = Field(description="0 Monday … 6 Sunday")
    weekday_name: str
    local_time: str
    text_template: str
    media_asset_ids: list[int]
    connection_ids: list[int]
    targets: list[str] = Field(description="The connections by platform and name")
    captions: dict[str, str]
    active_from: date | None
    active_until: date | None
    paused: bool
    version: int = Field(description="Rises with every change")
    state: str = Field(description="active, paused, not started (before active_from) or ended (after active_until)")
    next_date: date | None = Field(description="The next local date it makes a post for; null when none")
    next_at: datetime | None = Field(description="That post's instant (UTC)")
    next_local: str | None = Field(description="That post's time as the venue reads it: Tue 8 Dec 20:00 GMT")
    preview: str | None = Field(description="The next post's text, the date filled in")


class SlotChangeOut(BaseModel):
    message: str
    changed: list[str]
    slot: SlotOut


def _out(view: SlotView) -> SlotOut:
    return SlotOut(
        id=view.id,
        name=view.name,
        weekday=view.weekday,
        weekday_name=view.weekday_name,
        local_time=view.local_time,
        text_template=view.text_template,
        media_asset_ids=view.media_asset_ids,
        connection_ids=view.connection_ids,
        targets=view.targets,
        captions=view.captions,
        active_from=view.active_from,
        active_until=view.active_until,
        paused=view.paused,
        version=view.version,
        state=view.state,
        next_date=view.next_date,
        next_at=view.next_at,
        next_local=view.next_local,
        preview=view.preview,
    )


def _changed(change: SlotChange) -> SlotChangeOut:
    return SlotChangeOut(message=change.message, changed=change.changed, slot=_out(change.view))


def _draft(data: SlotIn | SlotPatch) -> slots_core.SlotDraft:
    values = data.model_dump(exclude_unset=isinstance(data, SlotPatch))
    # In a PATCH, an explicit null for a date clears it; a missing field keeps it.
    clear_from = isinstance(data, SlotPatch) and "active_from" in data.model_fields_set and data.active_from is None
    clear_until = isinstance(data, SlotPatch) and "active_until" in data.model_fields_set and data.active_until is None
    return slots_core.SlotDraft(**values, clear_active_from=clear_from, clear_active_until=clear_until)


@get(
    "/api/weekly-slots",
    tags=["weekly"],
    summary="The venue's weekly plan: each slot with its next post's time and text",
    dependencies={"access": require(Role.viewer)},
)
async def list_slots(access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> list[SlotOut]:
    return [_out(v) for v in await slots_core.list_slots(runtime, uow.session, access)]


@post(
    "/api/weekly-slots",
    tags=["weekly"],
    summary="Add a weekly slot (checked against each platform's rules on its next date)",
    dependencies={"access": require(Role.editor)},
)
async def create_slot(data: SlotIn, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> SlotChangeOut:
    return _changed(await slots_core.create_slot(runtime, uow.session, access, _draft(data)))


@get(
    "/api/weekly-slots/{slot_id:int}",
    tags=["weekly"],
    summary="One weekly slot",
    dependencies={"access": require(Role.viewer)},
)
async def get_slot(slot_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> SlotOut:
    return _out(await slots_core.get_slot(runtime, uow.session, access, slot_id))


@patch(
    "/api/weekly-slots/{slot_id:int}",
    tags=["weekly"],
    summary="Edit a weekly slot (its version rises; posts made from it and not yet sent follow when next made)",
    dependencies={"access": require(Role.editor)},
)
async def update_slot(
    slot_id: int, data: SlotPatch, access: VenueAccess, runtime: Runtime, uow: UnitOfWork
) -> SlotChangeOut:
    return _changed(await slots_core.update_slot(runtime, uow.session, access, slot_id, _draft(data)))


@delete(
    "/api/weekly-slots/{slot_id:int}",
    tags=["weekly"],
    summary="Delete a weekly slot (no more posts from it; posts already made stay)",
    dependencies={"access": require(Role.editor)},
    status_code=200,
)
async def delete_slot(slot_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> SlotChangeOut:
    return _changed(await slots_core.delete_slot(runtime, uow.session, access, slot_id))


@post(
    "/api/weekly-slots/{slot_id:int}/pause",
    tags=["weekly"],
    summary="Pause a weekly slot: it makes no new posts until resumed",
    dependencies={"access": require(Role.editor)},
    status_code=200,
)
async def pause_slot(slot_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> SlotChangeOut:
    return _changed(await slots_core.pause_slot(runtime, uow.session, access, slot_id))


@post(
    "/api/weekly-slots/{slot_id:int}/resume",
    tags=["weekly"],
    summary="Resume a paused weekly slot, from its next date",
    dependencies={"access": require(Role.editor)},
    status_code=200,
)
async def resume_slot(slot_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> SlotChangeOut:
    return _changed(await slots_core.resume_slot(runtime, uow.session, access, slot_id))


routes = [list_slots, create_slot, get_slot, update_slot, delete_slot, pause_slot, resume_slot]
