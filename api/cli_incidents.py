"""`cheers incidents list|show|silence`: the service's own incidents, for operators (docs/runbook.md "On call").

Each command is one core call in one unit of work, as the operator (`core.access.policy.OPERATOR`, staff); a
silence is audited by core like one from chat or the API.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import click

from api.cli_support import emit, run_in_uow
from core.access.policy import OPERATOR
from core.errors import Invalid
from core.ops import incidents as incidents_core
from core.ops.incident_view import IncidentView, incident_view
from core.posts.phrases import read_duration
from core.runtime import Runtime
from storage.uow import UnitOfWork


class Duration(click.ParamType[int, Any]):
    """A duration such as 1h, 30m, 2h or 90 mins, as whole minutes (the words chat's commands read too)."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            minutes = int(read_duration(str(value).strip().lower()).total_seconds() // 60)
        except Invalid:
            self.fail(f"'{value}' is not a duration; try 1h, 30m or 2h", param, ctx)
        if minutes < 1:
            self.fail(f"'{value}' is under a minute; try 30m or 1h", param, ctx)
        return minutes


def _when(at: datetime | None) -> str:
    return "-" if at is None else f"{at:%Y-%m-%d %H:%M}Z"


def _line(v: IncidentView) -> str:
    silenced = f"  (silenced until {v.silenced_until:%H:%M}Z)" if v.silenced and v.silenced_until else ""
    return f"#{v.id:<5} {v.status:<9} {v.severity:<9} {v.rule:<15} {v.lasted:>12}  {v.title}{silenced}"


def _details(v: IncidentView) -> str:
    lines = [
        f"#{v.id} {v.title}",
        f"  {v.status}, {v.severity}, rule {v.rule} (key {v.key})",
        f"  opened {_when(v.opened_at)}, last seen {_when(v.last_seen_at)}, lasted {v.lasted}",
    ]
    if v.detail:
        lines.append(f"  {v.detail}")
    if v.resolved_at is not None:
        lines.append(f"  resolved {_when(v.resolved_at)}: {v.resolved_note or ''}".rstrip())
    if v.silenced:
        lines.append(f"  silenced until {_when(v.silenced_until)}")
    lines += [f"  {name}: {value}" for name, value in {**v.subject, **v.facts}.items()]
    lines.append(f"  runbook: {v.runbook}")
    return "\n".join(lines)


@click.group()
def incidents() -> None:
    """The service's own incidents: jobs failing, the scheduler or workers gone, queues or alerts stuck."""


@incidents.command("list")
@click.option("--all", "everything", is_flag=True, help="Resolved incidents too, not only the open ones.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500))
@click.pass_context
def incidents_list(ctx: click.Context, everything: bool, limit: int) -> None:
    """Open incidents, newest first (with --all, resolved ones too)."""

    async def go(rt: Runtime, uow: UnitOfWork) -> list[IncidentView]:
        incidents_core.require_staff(OPERATOR)
        found = await incidents_core.list_incidents(uow.session, status=None if everything else "open", limit=limit)
        return [incident_view(rt.settings, i, rt.clock.now()) for i in found]

    views = run_in_uow(go)
    empty = "no incidents" if everything else "no open incidents (`cheers incidents list --all` shows resolved ones)"
    emit(ctx, {"incidents": [asdict(v) for v in views]}, "\n".join(_line(v) for v in views) or empty)


@incidents.command("show")
@click.argument("incident_id", type=int, metavar="ID")
@click.pass_context
def incidents_show(ctx: click.Context, incident_id: int) -> None:
    """One incident: what it is about, the numbers behind it, how long it lasted, its runbook section."""

    async def go(rt: Runtime, uow: UnitOfWork) -> IncidentView:
        incidents_core.require_staff(OPERATOR)
        found = await incidents_core.get_incident(uow.session, incident_id)
        return incident_view(rt.settings, found, rt.clock.now())

    view = run_in_uow(go)
    emit(ctx, asdict(view), _details(view))


@incidents.command("silence")
@click.argument("incident_id", type=int, metavar="ID")
@click.option(
    "--for",
    "minutes",
    type=Duration(),
    default=None,
    help="How long: 1h, 30m, 2h ... (default CHEERS_OPS_SILENCE_MINUTES, 60 min).",
)
@click.pass_context
def incidents_silence(ctx: click.Context, incident_id: int, minutes: int | None) -> None:
    """Stop telling ops chats and e-mails about an open incident for a while (audited)."""

    async def go(rt: Runtime, uow: UnitOfWork) -> IncidentView:
        wanted = minutes or rt.settings.cheers_ops_silence_minutes
        silenced = await incidents_core.silence(uow.session, rt.clock, OPERATOR, incident_id, wanted)
        return incident_view(rt.settings, silenced, rt.clock.now())

    view = run_in_uow(go)
    emit(ctx, asdict(view), f"#{view.id} silenced until {_when(view.silenced_until)}: {view.title}")


def register(cli: click.Group) -> None:
    """Add `cheers incidents` to the `cheers` group."""
    cli.add_command(incidents)
