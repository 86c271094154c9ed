"""`cheers weekly list|add|edit|pause|resume|delete`: a venue's weekly plan from the shell, as the operator."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import click

from api.cli_support import as_operator, emit, run, with_operator
from core.access.policy import VenueAccess
from core.errors import Invalid
from core.runtime import Runtime
from core.weekly import slots as slots_core
from core.weekly.slots import SlotChange, SlotDraft, SlotView
from storage.uow import UnitOfWork, transaction

SlotCall = Callable[[Runtime, UnitOfWork, VenueAccess], Awaitable[SlotChange]]


def register(cli: click.Group) -> None:
    """Add the weekly plan commands to the `cheers` group."""

    @cli.group()
    def weekly() -> None:
        """A venue's weekly plan: the posts it makes every week (quiz on Tuesday, roast on Sunday)."""

    @weekly.command("list")
    @click.option("--account", "account_id", type=int, required=True)
    @click.pass_context
    def weekly_list(ctx: click.Context, account_id: int) -> None:
        """The venue's slots in week order, each with its next post."""

        async def go(rt: Runtime, uow: UnitOfWork, access: VenueAccess) -> list[SlotView]:
            return await slots_core.list_slots(rt, uow.session, access)

        listed = with_operator(ctx, account_id, go)
        emit(
            ctx,
            {"slots": [_slot_json(v) for v in listed]},
            "\n".join(slots_core.describe(v) for v in listed) or "no weekly slots",
        )

    @weekly.command("add")
    @click.option("--account", "account_id", type=int, required=True)
    @click.option("--name", required=True, help="What the venue calls it, e.g. 'Quiz night'.")
    @click.option("--weekday", required=True, help="0 (Monday) to 6 (Sunday), or a name: tuesday, tue.")
    @click.option("--time", "local_time", required=True, help="24-hour HH:MM in the venue's timezone.")
    @click.option("--text", "text_template", required=True, help="The text; {date} or {date:%A %d %B} is the date.")
    @click.option("--connection", "connection_ids", type=int, multiple=True, required=True, help="Repeat for more.")
    @click.option("--media", "media_ids", type=int, multiple=True, help="Library media id; several rotate weekly.")
    @click.option("--caption", "captions", multiple=True, help="PLATFORM=TEXT overriding --text for one platform.")
    @click.option("--from", "active_from", type=click.DateTime(["%Y-%m-%d"]), help="First date (YYYY-MM-DD).")
    @click.option("--until", "active_until", type=click.DateTime(["%Y-%m-%d"]), help="Last date (YYYY-MM-DD).")
    @click.option("--paused", is_flag=True, help="Add it paused (it makes no posts until resumed).")
    @click.pass_context
    def weekly_add(ctx: click.Context, /, account_id: int, **values: Any) -> None:
        """Add a slot to the venue's weekly plan."""
        draft = _draft(values)

        async def go(rt: Runtime, uow: UnitOfWork, access: VenueAccess) -> SlotChange:
            return await slots_core.create_slot(rt, uow.session, access, draft)

        _emit_change(ctx, with_operator(ctx, account_id, go))

    @weekly.command("edit")
    @click.argument("slot_id", type=int)
    @click.option("--name", default=None)
    @click.option("--weekday", default=None, help="0 (Monday) to 6 (Sunday), or a name: tuesday, tue.")
    @click.option("--time", "local_time", default=None, help="24-hour HH:MM in the venue's timezone.")
    @click.option("--text", "text_template", default=None, help="The text; {date} or {date:%A %d %B} is the date.")
    @click.option("--connection", "connection_ids", type=int, multiple=True, help="Replaces the connections.")
    @click.option("--media", "media_ids", type=int, multiple=True, help="Replaces the media (several rotate).")
    @click.option("--no-media", is_flag=True, help="Post without media from now on.")
    @click.option("--caption", "captions", multiple=True, help="PLATFORM=TEXT; replaces the captions.")
    @click.option("--from", "active_from", type=click.DateTime(["%Y-%m-%d"]), help="First date (YYYY-MM-DD).")
    @click.option("--until", "active_until", type=click.DateTime(["%Y-%m-%d"]), help="Last date (YYYY-MM-DD).")
    @click.option("--no-from", "clear_from", is_flag=True, help="Active from now on (no first date).")
    @click.option("--no-until", "clear_until", is_flag=True, help="No last date.")
    @click.pass_context
    def weekly_edit(ctx: click.Context, /, slot_id: int, no_media: bool, **values: Any) -> None:
        """Change a slot (its version rises; posts not yet sent follow it when next made)."""
        draft = _draft(values, editing=True, no_media=no_media)

        async def go(rt: Runtime, uow: UnitOfWork, access: VenueAccess) -> SlotChange:
            return await slots_core.update_slot(rt, uow.session, access, slot_id, draft)

        _emit_change(ctx, _on_slot(ctx, slot_id, go))

    def _simple(verb: str, call: Callable[..., Awaitable[SlotChange]], help_text: str) -> None:
        @weekly.command(verb, help=help_text)
        @click.argument("slot_id", type=int)
        @click.pass_context
        def command(ctx: click.Context, slot_id: int) -> None:
            async def go(rt: Runtime, uow: UnitOfWork, access: VenueAccess) -> SlotChange:
                return await call(rt, uow.session, access, slot_id)

            _emit_change(ctx, _on_slot(ctx, slot_id, go))

    _simple("pause", slots_core.pause_slot, "Pause a slot: it makes no new posts until resumed.")
    _simple("resume", slots_core.resume_slot, "Resume a paused slot, from its next date.")
    _simple("delete", slots_core.delete_slot, "Delete a slot (no more posts from it; posts already made stay).")


def _on_slot(ctx: click.Context, slot_id: int, call: SlotCall) -> SlotChange:
    """Run `call` with the operator's access to the slot's own venue (found from the slot), in one transaction."""

    async def main(rt: Runtime) -> SlotChange:
        async with transaction(rt.db, rt.queue) as uow:
            account_id = await slots_core.venue_of_slot(uow.session, slot_id)
        return await as_operator(rt, account_id, ctx.command_path, call)

    return run(main)


def _draft(values: dict[str, Any], *, editing: bool = False, no_media: bool = False) -> SlotDraft:
    """The click options as a SlotDraft; on an edit an option not given keeps the slot's value."""
    connection_ids = list(values.pop("connection_ids") or ())
    media_ids = list(values.pop("media_ids") or ())
    captions = _captions(values.pop("captions") or ())
    active_from: Any = values.pop("active_from")
    active_until: Any = values.pop("active_until")
    clear_from = bool(values.pop("clear_from", False))
    clear_until = bool(values.pop("clear_until", False))
    paused = values.pop("paused", None)
    return SlotDraft(
        **values,
        connection_ids=connection_ids if connection_ids or not editing else None,
        media_asset_ids=[] if no_media else (media_ids if media_ids or not editing else None),
        captions=captions if captions or not editing else None,
        active_from=_day(active_from),
        active_until=_day(active_until),
        clear_active_from=clear_from,
        clear_active_until=clear_until,
        paused=bool(paused) if paused is not None else None,
    )


def _day(value: Any) -> date | None:
    return value.date() if value is not None else None


def _captions(pairs: tuple[str, ...]) -> dict[str, str]:
    captions: dict[str, str] = {}
    for pair in pairs:
        platform, sep, text = pair.partition("=")
        if not sep:
            raise Invalid(f"--caption '{pair}' needs PLATFORM=TEXT", field="captions", remedy="e.g. instagram=Quiz!")
        captions[platform.strip()] = text
    return captions


def _emit_change(ctx: click.Context, change: SlotChange) -> None:
    emit(
        ctx,
        {"message": change.message, "changed": change.changed, "slot": _slot_json(change.view)},
        change.message,
    )


def _slot_json(view: SlotView) -> dict[str, Any]:
    """One slot of `--json` output."""
    return {
        "slot_id": view.id,
        "name": view.name,
        "weekday": view.weekday,
        "weekday_name": view.weekday_name,
        "local_time": view.local_time,
        "text_template": view.text_template,
        "media_asset_ids": view.media_asset_ids,
        "connection_ids": view.connection_ids,
        "targets": view.targets,
        "captions": view.captions,
        "active_from": view.active_from.isoformat() if view.active_from else None,
        "active_until": view.active_until.isoformat() if view.active_until else None,
        "paused": view.paused,
        "version": view.version,
        "state": view.state,
        "next_date": view.next_date.isoformat() if view.next_date else None,
        "next_at": view.next_at,
        "next_local": view.next_local,
        "preview": view.preview,
    }
