"""One chat turn: what a chat identity typed (`handle_turn`) or clicked (`handle_offer`) in a chat, performed as its
linked person, answered as a ChatMessage.

Chat-neutral (Slack and Telegram both call `handle_turn`). Each handler parses nothing more, authorises through
core.chat.people (core.access underneath: the venue is the chat's, or the object's for an id), makes the same core
call the API route makes, and renders with bot.render. A core refusal rolls the turn's writes back, as a refused
request does, and becomes a message saying what happened and what to do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bot import approval_render, render
from bot.commands import (
    AlertsHere,
    AlertsMe,
    AlertsMute,
    AlertsOff,
    AlertsOps,
    AlertsVia,
    ChooseVenue,
    Command,
    CommandUnclear,
    Diagnose,
    EditPost,
    Help,
    Link,
    OpsIncidents,
    OpsStatus,
    Package,
    Reconnect,
    Retry,
    RetryFailed,
    RunJob,
    Schedule,
    ScheduleForm,
    Status,
    Week,
    WeeklyPause,
    WeeklyPlan,
    WeeklyResume,
    parse_command,
)
from bot.messages import ChatLink, ChatMessage
from core.access import accounts, people_alerts
from core.access.policy import VenueAccess, authorize
from core.chat import alerts as alerts_core
from core.chat import approvals as chat_approvals
from core.chat import connections as chat_connections
from core.chat import linking, people, posting
from core.chat import packages as chat_packages
from core.chat.people import ChatPerson, ChatTurn, VenueContext
from core.chat.sending import AlertMessage
from core.errors import DomainError, NotFound, PermissionDenied
from core.notifications.actions import Action, Offer
from core.ops import actions as ops_actions
from core.ops import alerts as ops_alerts
from core.ops import destinations as ops_destinations
from core.ops import incidents as ops_incidents
from core.ops import jobs as jobs_core
from core.ops.status import service_status
from core.posts import approval, views
from core.publishing import actions as delivery_actions
from core.publishing import packages as packages_core
from core.runtime import Runtime
from core.vocabulary import Role
from core.weekly import materialise
from core.weekly import slots as weekly_slots

log = structlog.get_logger(__name__)


class TurnUnit(Protocol):
    """The turn's unit of work (storage.uow.UnitOfWork): the front door opens it and commits it after the answer."""

    session: AsyncSession

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...

    def after_commit(self, hook: Callable[[], Awaitable[None]]) -> None: ...


@dataclass(frozen=True)
class Turn:
    runtime: Runtime
    uow: TurnUnit
    chat: ChatTurn
    person: ChatPerson

    @property
    def session(self) -> AsyncSession:
        return self.uow.session

    async def venue(self, minimum: Role, purpose: str) -> VenueContext:
        """The venue this chat acts for, with the person's role checked against `minimum`."""
        return await people.venue_for_turn(
            self.session, self.runtime.clock, self.person, self.chat, minimum, purpose=f"chat {purpose}"
        )


async def handle_turn(runtime: Runtime, uow: TurnUnit, turn: ChatTurn, text: str) -> ChatMessage:
    """What the bot answers to `text` typed by `turn`'s chat identity (the caller commits `uow` afterwards)."""
    unclear: CommandUnclear | None = None
    command: Command | None = None
    try:
        command = parse_command(text)
    except CommandUnclear as exc:
        unclear = exc
    if isinstance(command, Help):
        return render.help_message(command.topic, turn.platform)
    if isinstance(command, Link):
        return render.link_outcome(await linking.redeem_code(uow.session, runtime.clock, turn, command.code))
    if unclear is not None and unclear.suggestion in ("link", "help"):
        return render.unclear(unclear, turn.platform)  # a mistyped `link` is answered as such, linked or not
    person = await people.find_person(uow.session, turn)
    if not person.linked:
        return render.how_to_link()
    if command is None:
        assert unclear is not None
        return render.unclear(unclear, turn.platform)
    return await _perform(Turn(runtime, uow, turn, person), HANDLERS[type(command)], command)


async def handle_offer(
    runtime: Runtime,
    uow: TurnUnit,
    turn: ChatTurn,
    offer: Offer,
    *,
    permalink: str | None = None,
    reason: str | None = None,
) -> ChatMessage:
    """What clicking `offer` (a button under an alert or a listing) does, as the person who clicked it.

    The clicker is authorised against the venue of the delivery, connection or post the offer names, whoever the
    message was for; `permalink` is what a person gave for Mark published (a Slack modal asks for it), `reason`
    why they reject a post (asked the same way).
    """
    person = await people.find_person(uow.session, turn)
    if not person.linked:
        return render.how_to_link()
    handler: Handler = OFFER_HANDLERS[offer.action]
    return await _perform(Turn(runtime, uow, turn, person), handler, _Click(offer, permalink, reason))


async def handle_package_in_thread(
    runtime: Runtime, uow: TurnUnit, turn: ChatTurn, target_id: int, *, message_ref: str
) -> chat_packages.PackageFile | ChatMessage:
    """Manual package clicked on the message `message_ref`: the zip to share in that message's thread when it is one
    of our alerts about the delivery's venue in this chat, else the private link (or a refusal), as the clicker."""
    person = await people.find_person(uow.session, turn)
    if not person.linked:
        return render.how_to_link()
    t = Turn(runtime, uow, turn, person)
    try:
        access = await people.access_for_target(
            uow.session, runtime.clock, person, target_id, Role.viewer, purpose="chat package"
        )
        here = await chat_packages.is_alert_here(uow.session, access, turn, message_ref)
        if not here:  # not our alert about this venue (a listing, another chat): the zip stays private
            return await _package(t, Package(target_id))
        return await chat_packages.package_file(runtime, uow.session, access, target_id, asked_by=person.name)
    except DomainError as exc:
        await uow.rollback()
        log.info("chat_turn_refused", what="package_in_thread", code=exc.code, user_id=person.user_id)
        return render.refusal(exc)


async def home(runtime: Runtime, uow: TurnUnit, turn: ChatTurn, *, more_url: str | None) -> tuple[ChatMessage, ...]:
    """What `turn`'s person sees on their home: problems and this week's posts in each of their venues (read only)."""
    person = await people.find_person(uow.session, turn)
    if not person.linked:
        return (render.how_to_link(), render.help_message(None, turn.platform))
    shown = []
    for option in await people.venues_of(uow.session, person):
        access = await authorize(
            uow.session, runtime.clock, person.actor, option.account_id, Role.viewer, purpose="chat home"
        )
        posts = await views.list_posts(uow.session, access, week="this", clock=runtime.clock)
        states = await chat_connections.connection_states(uow.session, access)
        shown.append(render.HomeVenue(option.name, posts, states))
    return render.home(shown, more_url=more_url)


async def _perform(t: Turn, handler: Handler, what: object) -> ChatMessage:
    try:
        return await handler(t, what)
    except DomainError as exc:
        # Nothing of a refused command is kept, as with a refused request (a wrong link code is not refused).
        await t.uow.rollback()
        log.info("chat_turn_refused", what=type(what).__name__, code=exc.code, user_id=t.person.user_id)
        return render.refusal(exc)


# --- one handler per command: authorise, one core call, render -------------------------------------------------


async def _schedule(t: Turn, c: Schedule) -> ChatMessage:
    venue = await t.venue(Role.editor, "schedule")
    done = await posting.schedule_from_chat(
        t.runtime, t.session, venue.access, when=c.when, text=c.text, platforms=c.platforms
    )
    view = await views.post_view(t.session, venue.access, done.saved.post, clock=t.runtime.clock)
    return render.scheduled(done.saved.message, view, done.left_out)


async def _schedule_form(t: Turn, c: ScheduleForm) -> ChatMessage:
    return render.schedule_form(t.chat.platform)


async def _week(t: Turn, c: Week) -> ChatMessage:
    venue = await t.venue(Role.viewer, "week")
    which = "next" if c.next else "this"
    posts = await views.list_posts(t.session, venue.access, week=which, clock=t.runtime.clock)
    return render.week(venue.name, posts, next_week=c.next)


async def _status(t: Turn, c: Status) -> ChatMessage:
    if c.post_id is None:
        venue = await t.venue(Role.viewer, "status")
        posts = await views.list_posts(t.session, venue.access, week="this", clock=t.runtime.clock)
        states = await chat_connections.connection_states(t.session, venue.access)
        return render.venue_status(venue.name, posts, states)
    access = await people.access_for_post(
        t.session, t.runtime.clock, t.person, c.post_id, Role.viewer, purpose="chat status"
    )
    return render.post_status(await views.get_post(t.session, access, c.post_id, clock=t.runtime.clock))


async def _retry(t: Turn, c: Retry) -> ChatMessage:
    access = await people.access_for_target(
        t.session, t.runtime.clock, t.person, c.target_id, Role.editor, purpose="chat retry"
    )
    result = await delivery_actions.retry_target(t.runtime, t.session, access, c.target_id)
    return render.retried(result.message, await views.delivery_view(t.session, access, result.target))


async def _reconnect(t: Turn, c: Reconnect) -> ChatMessage:
    venue = await t.venue(Role.viewer, "reconnect")
    if not venue.access.role.at_least(Role.admin):
        return await _who_can_reconnect(t, venue.access)
    return render.consent(await chat_connections.start_reconnect(t.runtime, t.session, venue.access, c.platform))


async def _who_can_reconnect(t: Turn, access: VenueAccess) -> ChatMessage:
    """A member below admin asked to reconnect: nothing happens, and they learn whom in this venue to ask."""
    log.info("chat_turn_refused", what="reconnect", code="permission_denied", user_id=t.person.user_id)
    members = await accounts.members(t.session, access)
    return render.reconnect_refused(sorted(user.name for m, user in members if m.role.at_least(Role.admin)))


async def _diagnose(t: Turn, c: Diagnose) -> ChatMessage:
    if c.connection_id is None:
        venue = await t.venue(Role.editor, "diagnose")
        access, connection_id = venue.access, await chat_connections.pick_for_diagnosis(t.session, venue.access)
    else:
        connection_id = c.connection_id
        access = await people.access_for_connection(
            t.session, t.runtime.clock, t.person, connection_id, Role.editor, purpose="chat diagnose"
        )
    return render.diagnosed(await chat_connections.diagnose(t.runtime, t.session, access, connection_id))


async def _package(t: Turn, c: Package) -> ChatMessage:
    access = await people.access_for_target(
        t.session, t.runtime.clock, t.person, c.target_id, Role.viewer, purpose="chat package"
    )
    return render.package(await packages_core.package_link(t.runtime, t.session, access, c.target_id), c.target_id)


async def _alerts_here(t: Turn, c: AlertsHere) -> ChatMessage:
    venue = await t.venue(Role.admin, "alerts here")
    kinds = [k.value for k in c.kinds] if c.kinds else None
    return render.alerts(
        await alerts_core.subscribe(t.session, t.runtime.clock, venue, t.chat, kinds, personal=False), t.chat.platform
    )


async def _alerts_me(t: Turn, c: AlertsMe) -> ChatMessage:
    venue = await t.venue(Role.admin, "alerts me")
    kinds = [k.value for k in c.kinds] if c.kinds else None
    return render.alerts(
        await alerts_core.subscribe(t.session, t.runtime.clock, venue, t.chat, kinds, personal=True), t.chat.platform
    )


async def _alerts_mute(t: Turn, c: AlertsMute) -> ChatMessage:
    venue = await t.venue(Role.admin, "alerts mute")
    until = t.runtime.clock.now() + c.duration if c.duration is not None else None
    kinds = [k.value for k in c.kinds]
    return render.alerts(
        await alerts_core.mute(t.session, t.runtime.clock, venue, t.chat, kinds, until), t.chat.platform
    )


async def _alerts_off(t: Turn, c: AlertsOff) -> ChatMessage:
    venue = await t.venue(Role.admin, "alerts off")
    return render.alerts(await alerts_core.switch_off(t.session, t.runtime.clock, venue, t.chat), t.chat.platform)


async def _choose_venue(t: Turn, c: ChooseVenue) -> ChatMessage:
    return render.venue_chosen(await people.choose_venue(t.session, t.person, c.name), t.chat.platform)


async def _edit(t: Turn, c: EditPost) -> ChatMessage:
    access = await people.access_for_post(
        t.session, t.runtime.clock, t.person, c.post_id, Role.editor, purpose="chat edit"
    )
    saved = await posting.edit_from_chat(t.runtime, t.session, access, c.post_id, text=c.text, when=c.when)
    view = await views.get_post(t.session, access, c.post_id, clock=t.runtime.clock)
    return approval_render.edited(saved.message, view)


async def _run_job(t: Turn, c: RunJob) -> ChatMessage:
    if not t.person.is_staff:
        raise PermissionDenied("only CheersAI staff can run jobs", remedy="ask the CheersAI operators")
    spec = jobs_core.get_job(c.name)
    # The job owns its transactions (and SQLite has one writer): end the turn's before it starts.
    await t.uow.commit()
    return render.job_ran(
        spec.name, await jobs_core.run_job(t.runtime, spec.name, trigger="manual", actor=t.person.actor)
    )


# --- ops: the service's own incidents (staff only; core.ops refuses others with a remedy) -------------------------


def _ops_chat(t: Turn) -> ops_destinations.OpsChat:
    return ops_destinations.OpsChat(t.chat.platform, t.chat.workspace_id, t.chat.chat_id)


async def _alerts_ops(t: Turn, c: AlertsOps) -> ChatMessage:
    sub: ops_destinations.OpsSubscription | None
    if c.on:
        sub = await ops_destinations.subscribe(t.session, t.runtime.clock, t.person.actor, _ops_chat(t))
    else:
        sub = await ops_destinations.unsubscribe(t.session, t.runtime.clock, t.person.actor, _ops_chat(t))
    return render.ops_alerts(sub, t.chat.platform)


async def _alerts_via(t: Turn, c: AlertsVia) -> ChatMessage:
    return render.alert_via(await people_alerts.set_alert_via(t.session, t.runtime.clock, t.person.actor, c.via))


async def _open_incidents(t: Turn) -> list[AlertMessage]:
    now = t.runtime.clock.now()
    found = await ops_incidents.list_incidents(t.session, status="open")
    return [ops_alerts.render_incident(i, t.runtime.settings, now) for i in found]


async def _ops_status(t: Turn, c: OpsStatus) -> ChatMessage:
    ops_incidents.require_staff(t.person.actor)
    status = await service_status(t.runtime)
    return render.ops_status(status, await _open_incidents(t), t.runtime.clock.now())


async def _ops_incidents(t: Turn, c: OpsIncidents) -> ChatMessage:
    ops_incidents.require_staff(t.person.actor)
    return render.ops_incidents(await _open_incidents(t))


async def _retry_failed(t: Turn, c: RetryFailed) -> ChatMessage:
    since_at = t.runtime.clock.now() - c.since
    count = await ops_actions.count_failed(t.runtime, t.uow, t.person.actor, since_at)
    return render.retry_failed_confirm(count, c.since, since_at)


# --- the weekly plan: list its slots, pause or resume one (by number or a part of its name) ----------------------


async def _weekly_plan(t: Turn, c: WeeklyPlan) -> ChatMessage:
    venue = await t.venue(Role.viewer, "weekly")
    return render.weekly_plan(venue.name, await weekly_slots.list_slots(t.runtime, t.session, venue.access))


async def _weekly_pause(t: Turn, c: WeeklyPause) -> ChatMessage:
    venue = await t.venue(Role.editor, "weekly pause")
    slot = await weekly_slots.find_slot(t.runtime, t.session, venue.access, c.slot)
    return render.weekly_changed(await weekly_slots.pause_slot(t.runtime, t.session, venue.access, slot.id))


async def _weekly_resume(t: Turn, c: WeeklyResume) -> ChatMessage:
    venue = await t.venue(Role.editor, "weekly resume")
    slot = await weekly_slots.find_slot(t.runtime, t.session, venue.access, c.slot)
    return render.weekly_changed(await weekly_slots.resume_slot(t.runtime, t.session, venue.access, slot.id))


# --- buttons: each offer performs the same core call as its command -------------------------------------------


@dataclass(frozen=True)
class _Click:
    offer: Offer
    permalink: str | None
    reason: str | None = None


async def _click_retry(t: Turn, c: _Click) -> ChatMessage:
    assert c.offer.target_id is not None  # an Offer for a target action always names it
    return await _retry(t, Retry(c.offer.target_id))


async def _click_package(t: Turn, c: _Click) -> ChatMessage:
    assert c.offer.target_id is not None
    return await _package(t, Package(c.offer.target_id))


async def _click_diagnose(t: Turn, c: _Click) -> ChatMessage:
    assert c.offer.connection_id is not None
    return await _diagnose(t, Diagnose(c.offer.connection_id))


async def _click_reconnect(t: Turn, c: _Click) -> ChatMessage:
    assert c.offer.connection_id is not None
    access = await people.access_for_connection(
        t.session, t.runtime.clock, t.person, c.offer.connection_id, Role.viewer, purpose="chat reconnect"
    )
    if not access.role.at_least(Role.admin):
        return await _who_can_reconnect(t, access)
    return render.consent(
        await chat_connections.reconnect_connection(t.runtime, t.session, access, c.offer.connection_id)
    )


async def _click_mark_published(t: Turn, c: _Click) -> ChatMessage:
    assert c.offer.target_id is not None
    access = await people.access_for_target(
        t.session, t.runtime.clock, t.person, c.offer.target_id, Role.editor, purpose="chat mark published"
    )
    result = await delivery_actions.mark_published(t.runtime, t.session, access, c.offer.target_id, c.permalink)
    # Told to the person who marked it (with the link they gave); the alert itself is edited to say it is resolved.
    return render.marked(result.message, await views.delivery_view(t.session, access, result.target))


async def _click_publish_again(t: Turn, c: _Click) -> ChatMessage:
    assert c.offer.target_id is not None
    access = await people.access_for_target(
        t.session, t.runtime.clock, t.person, c.offer.target_id, Role.editor, purpose="chat publish again"
    )
    result = await delivery_actions.publish_again(t.runtime, t.session, access, c.offer.target_id)
    return render.retried(result.message, await views.delivery_view(t.session, access, result.target))


async def _post_access(t: Turn, c: _Click, minimum: Role, purpose: str) -> tuple[int, VenueAccess]:
    assert c.offer.post_id is not None  # an Offer for a post action always names it
    access = await people.access_for_post(
        t.session, t.runtime.clock, t.person, c.offer.post_id, minimum, purpose=purpose
    )
    return c.offer.post_id, access


async def _click_approve(t: Turn, c: _Click) -> ChatMessage:
    # Viewer here: core.posts.approval refuses below admin in its own words ("ask an owner or admin").
    post_id, access = await _post_access(t, c, Role.viewer, "chat approve")
    decision = await approval.approve(t.runtime, t.session, access, post_id)
    return approval_render.decided(
        decision.message, await views.get_post(t.session, access, post_id, clock=t.runtime.clock)
    )


async def _click_reject(t: Turn, c: _Click) -> ChatMessage:
    post_id, access = await _post_access(t, c, Role.viewer, "chat reject")
    decision = await approval.reject(t.runtime, t.session, access, post_id, c.reason or "")
    return approval_render.decided(
        decision.message, await views.get_post(t.session, access, post_id, clock=t.runtime.clock)
    )


async def _click_approve_all(t: Turn, c: _Click) -> ChatMessage:
    if c.offer.notification_id is None:
        raise NotFound("this button is out of date", remedy="type `week next` to see next week's posts")
    return approval_render.approved_all(
        await chat_approvals.approve_all(t.runtime, t.session, t.person, c.offer.notification_id)
    )


async def _click_skip(t: Turn, c: _Click) -> ChatMessage:
    post_id, access = await _post_access(t, c, Role.editor, "chat skip")
    saved = await materialise.skip(t.runtime, t.session, access, post_id)
    return approval_render.skipped(post_id, saved.message)


async def _click_edit(t: Turn, c: _Click) -> ChatMessage:
    post_id, access = await _post_access(t, c, Role.editor, "chat edit")
    view = await views.get_post(t.session, access, post_id, clock=t.runtime.clock)
    return approval_render.edit_help(view, t.chat.platform)


async def _click_ops_run_job(t: Turn, c: _Click) -> ChatMessage:
    assert c.offer.incident_id is not None  # an incident action always names it
    return render.job_queued(await ops_actions.run_now(t.runtime, t.uow, t.person.actor, c.offer.incident_id))


async def _click_ops_retry_failed(t: Turn, c: _Click) -> ChatMessage:
    since = datetime.fromtimestamp(c.offer.since, UTC) if c.offer.since is not None else None
    done = await ops_actions.retry_failed(
        t.runtime, t.uow, t.person.actor, incident_id=c.offer.incident_id, since=since
    )
    return render.retried_failed(done)


async def _click_ops_silence(t: Turn, c: _Click) -> ChatMessage:
    assert c.offer.incident_id is not None
    minutes = t.runtime.settings.cheers_ops_silence_minutes
    incident = await ops_incidents.silence(t.session, t.runtime.clock, t.person.actor, c.offer.incident_id, minutes)
    return render.incident_silenced(incident.id, incident.silenced_until)


async def _click_link(t: Turn, c: _Click) -> ChatMessage:
    # A link button opens its URL in the chat app; a platform that reports the click anyway gets the link back.
    return ChatMessage(title="Open the runbook", links=(ChatLink("Runbook", c.offer.url or ""),), private=True)


Handler = Callable[[Turn, Any], Awaitable[ChatMessage]]

OFFER_HANDLERS: dict[Action, Handler] = {
    Action.retry: _click_retry,
    Action.manual_package: _click_package,
    Action.diagnose: _click_diagnose,
    Action.reconnect: _click_reconnect,
    Action.mark_published: _click_mark_published,
    Action.publish_again: _click_publish_again,
    Action.approve: _click_approve,
    Action.reject: _click_reject,
    Action.approve_all: _click_approve_all,
    Action.skip: _click_skip,
    Action.edit: _click_edit,
    Action.ops_run_job: _click_ops_run_job,
    Action.ops_retry_failed: _click_ops_retry_failed,
    Action.ops_silence: _click_ops_silence,
    Action.ops_runbook: _click_link,
}

HANDLERS: dict[type, Handler] = {
    Schedule: _schedule,
    ScheduleForm: _schedule_form,
    Week: _week,
    Status: _status,
    Retry: _retry,
    Reconnect: _reconnect,
    Diagnose: _diagnose,
    Package: _package,
    AlertsHere: _alerts_here,
    AlertsMe: _alerts_me,
    AlertsMute: _alerts_mute,
    AlertsOff: _alerts_off,
    ChooseVenue: _choose_venue,
    RunJob: _run_job,
    AlertsOps: _alerts_ops,
    AlertsVia: _alerts_via,
    OpsStatus: _ops_status,
    OpsIncidents: _ops_incidents,
    RetryFailed: _retry_failed,
    WeeklyPlan: _weekly_plan,
    WeeklyPause: _weekly_pause,
    WeeklyResume: _weekly_resume,
    EditPost: _edit,
}
