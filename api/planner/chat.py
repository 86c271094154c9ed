"""The planner's Chat page: link Slack and Telegram, the venue's alert chats (kinds, mute, quiet hours, off) and how
the person's own alerts reach them (chat, e-mail or both), through the same core calls as the chat commands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.response import Template

from api.planner.auth import Viewer, require_role
from api.planner.posts import refusal
from api.planner.render import outcome, render
from bot.commands import KIND_GROUPS
from bot.telegram.application import deep_link
from core.access import people_alerts
from core.access.accounts import get_user
from core.chat import alerts as alerts_core
from core.chat import linking
from core.chat.alerts import AlertSettings, Destination
from core.chat.delivery import STOPPED_REMEDY
from core.chat.people import VenueContext
from core.errors import Invalid
from core.notifications.fanout import mute_holds
from core.notifications.kinds import NotificationKind
from core.posts.times import format_local
from core.runtime import Runtime
from storage.models import ChatPlatform, Role
from storage.uow import UnitOfWork

log = structlog.get_logger(__name__)

CHAT_PATH = "/planner/chat"
# Changing a chat's alerts needs what `alerts here|me|mute|off` needs in chat (docs/chat.md: owners and admins).
ALERTS_ROLE = Role.admin
# The kinds in the form, grouped as chat's `alerts here failures,connections` groups them; the rest under "Other".
GROUPED = {kind for kinds in KIND_GROUPS.values() for kind in kinds}
KIND_FIELDSETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    *((name.capitalize(), tuple(k.value for k in kinds)) for name, kinds in KIND_GROUPS.items()),
    ("Other", tuple(k.value for k in NotificationKind if k not in GROUPED)),
)
# How long a mute lasts: the form's choices ("" holds them until the alerts are turned on again, as chat's mute).
MUTE_FOR: dict[str, tuple[str, timedelta | None]] = {
    "1h": ("1 hour", timedelta(hours=1)),
    "2h": ("2 hours", timedelta(hours=2)),
    "8h": ("8 hours", timedelta(hours=8)),
    "24h": ("1 day", timedelta(days=1)),
    "7d": ("1 week", timedelta(days=7)),
    "": ("until alerts are turned on again", None),
}
VIA_WORDS = {
    people_alerts.CHAT: "In my private chat with CheersAI",
    people_alerts.EMAIL: "By e-mail only",
    people_alerts.BOTH: "Both: private chat and e-mail",
}
PLATFORM_WORDS = {ChatPlatform.slack: "Slack", ChatPlatform.telegram: "Telegram"}


@dataclass(frozen=True)
class ChatCard:
    """A chat that gets (or got) the venue's alerts, in plain words."""

    id: int
    where: str
    state: str  # "on", "off" or "stopped"
    kinds: tuple[str, ...] | None
    muted: tuple[str, ...]  # "publish failed until Mon 8 Dec 14:00 GMT"
    quiet: tuple[str, str] | None
    stopped_why: str | None
    stopped_remedy: str | None


@dataclass(frozen=True)
class IssuedCode:
    code: str
    expires: str
    telegram_link: str | None


def _words(kind: str) -> str:
    return kind.replace("_", " ")


def _where(d: Destination) -> str:
    platform = PLATFORM_WORDS.get(d.platform, d.platform.value)
    if d.personal:
        return f"Your own {platform} messages from CheersAI"
    return f"{platform} chat {d.chat_name}" if d.chat_name else f"{platform} chat {d.chat_id}"


def _mutes(muted: dict[str, str | None], now: datetime) -> list[tuple[str, str | None]]:
    """The kinds whose mute still holds at `now`, as the fan-out decides (one that has run out holds nothing), each
    with until when (None: until alerts are turned on again)."""
    return [(kind, until) for kind, until in sorted(muted.items()) if mute_holds(until, now)]


def _card(d: Destination, tz: str, now: datetime) -> ChatCard:
    muted = [
        f"{_words(kind)} until "
        + (format_local(datetime.fromisoformat(until), tz, now=now) if until else "alerts are turned on again")
        for kind, until in _mutes(d.muted, now)
    ]
    return ChatCard(
        id=d.id,
        where=_where(d),
        state="stopped" if d.disabled_reason else "on" if d.alerts else "off",
        kinds=tuple(_words(k) for k in d.kinds) if d.kinds is not None else None,
        muted=tuple(muted),
        quiet=d.quiet,
        stopped_why=d.disabled_reason,
        stopped_remedy=STOPPED_REMEDY.get(d.platform) if d.disabled_reason else None,
    )


async def _page(
    request: Request[Any, Any, Any],
    viewer: Viewer,
    runtime: Runtime,
    uow: UnitOfWork,
    *,
    issued: IssuedCode | None = None,
    status_code: int = 200,
) -> Template:
    now = runtime.clock.now()
    tz = viewer.venue.timezone
    user = await get_user(uow.session, viewer.user.id)
    chats = await alerts_core.destinations(uow.session, viewer.access)
    return render(
        request,
        "planner/chat.html",
        title="Chat",
        status_code=status_code,
        issued=issued,
        linked=await linking.linked_chats(uow.session, viewer.user.id),
        local=lambda instant: format_local(instant, tz, now=now),
        cards=[_card(d, tz, now) for d in chats],
        can_edit=viewer.can(ALERTS_ROLE),
        fieldsets=KIND_FIELDSETS,
        mute_for=[(key, label) for key, (label, _) in MUTE_FOR.items()],
        alert_via=user.alert_via,
        email=user.email,
        via_words=VIA_WORDS,
        platform_words=PLATFORM_WORDS,
        code_minutes=int(linking.CODE_TTL.total_seconds() // 60),
    )


@get("/chat", name="planner.chat")
async def chat_page(request: Request[Any, Any, Any], viewer: Viewer, runtime: Runtime, uow: UnitOfWork) -> Template:
    """Linking chat accounts, the venue's alert chats and their settings, and the person's own alert choice."""
    return await _page(request, viewer, runtime, uow)


@post("/chat/link-code", name="planner.chat_link_code", status_code=200)
async def new_link_code(request: Request[Any, Any, Any], viewer: Viewer, runtime: Runtime, uow: UnitOfWork) -> Template:
    """A one-time code for the signed-in person (any role), shown once on the page, as POST /api/chat/link-codes."""
    issued = await linking.issue_link_code(uow.session, runtime.clock, viewer.actor, viewer.user.id)
    # The deep link needs the bot's username from settings: no call to Telegram while this request holds a
    # transaction (the API asks getMe when it is unset; here the code and `/link CODE` are enough).
    username = runtime.settings.cheers_telegram_bot_username or None
    log.info("planner_link_code", user_id=viewer.user.id, expires_at=issued.expires_at.isoformat())
    code = IssuedCode(
        code=issued.code,
        expires=format_local(issued.expires_at, viewer.venue.timezone, now=runtime.clock.now()),
        telegram_link=deep_link(username, issued.code),
    )
    return await _page(request, viewer, runtime, uow, issued=code)


@post("/chat/alert-via", name="planner.chat_alert_via", status_code=303)
async def choose_alert_via(
    request: Request[Any, Any, Any], viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """How the person's own alerts reach them (chat, email or both), as `alerts by …` and PATCH /api/me."""
    raw = (await request.form()).get("alert_via")
    try:
        via = await people_alerts.set_alert_via(uow.session, runtime.clock, viewer.actor, str(raw or ""))
    except Invalid as exc:
        await uow.rollback()
        return outcome(request, refusal(exc), redirect_to=CHAT_PATH, kind="error")
    log.info("planner_alert_via", user_id=viewer.user.id, via=via)
    return outcome(request, f"Your own alerts now come: {VIA_WORDS[via].lower()}.", redirect_to=CHAT_PATH)


async def _venue(request: Request[Any, Any, Any], viewer: Viewer, runtime: Runtime, uow: UnitOfWork) -> VenueContext:
    """The venue as chat's alert commands need it, authorised at their role (below it, 403 PermissionDenied)."""
    access = await require_role(request, viewer, runtime, uow, ALERTS_ROLE)
    return VenueContext(access=access, name=viewer.venue.name, timezone=viewer.venue.timezone)


def _kinds(form: FormMultiDict, name: str) -> list[str]:
    chosen = [str(v) for v in form.getall(name, []) if v]
    known = {k.value for k in NotificationKind}
    unknown = [k for k in chosen if k not in known]
    if unknown:
        raise Invalid(f"'{unknown[0]}' is not a kind of alert", field=name, remedy="tick kinds from the list")
    return chosen


def _said(settings: AlertSettings, where: str, now: datetime) -> str:
    """The outcome of a change, in plain words: where, on or off, which kinds, what is muted now."""
    if not settings.alerts:
        return f"Alerts are off for {where}."
    kinds = ", ".join(_words(k) for k in settings.kinds) if settings.kinds else "every kind"
    said = f"Alerts are on for {where}: {kinds}."
    muted = [kind for kind, _ in _mutes(settings.muted, now)]
    if muted:
        said += " Muted: " + ", ".join(_words(k) for k in muted) + "."
    if settings.quiet:
        said += f" Quiet {settings.quiet[0]}–{settings.quiet[1]}."
    return said


async def _change(
    request: Request[Any, Any, Any], viewer: Viewer, runtime: Runtime, uow: UnitOfWork, destination_id: int, what: str
) -> Response[Any]:
    """Change one chat's alerts (`what`: on, mute, off, quiet) through core, as the chat's own commands would."""
    venue = await _venue(request, viewer, runtime, uow)
    chat, turn = await alerts_core.turn_for(uow.session, venue.access, destination_id)
    form = await request.form()
    clock = runtime.clock
    try:
        if what == "on":
            if chat.disabled_reason:  # only the chat can say the bot is back (`alerts here` typed there)
                why = f"CheersAI cannot reach this chat: {chat.disabled_reason}"
                raise Invalid(why, remedy=STOPPED_REMEDY[chat.platform])
            kinds = _kinds(form, "kind")
            settings = await alerts_core.subscribe(
                uow.session, clock, venue, turn, kinds or None, personal=turn.is_direct_message
            )
        elif what == "mute":
            kinds = _kinds(form, "kind")
            if not kinds:
                raise Invalid("choose at least one kind of alert to mute", field="kind")
            choice = MUTE_FOR.get(str(form.get("for") or ""))
            if choice is None:
                raise Invalid("choose how long to mute for", field="for")
            until = clock.now() + choice[1] if choice[1] is not None else None
            settings = await alerts_core.mute(uow.session, clock, venue, turn, kinds, until)
        elif what == "quiet":
            start, end = (str(form.get(name) or "").strip() or None for name in ("quiet_start", "quiet_end"))
            if form.get("clear"):
                start = end = None
            settings = await alerts_core.set_quiet_hours(uow.session, clock, venue, turn, start, end)
        else:
            settings = await alerts_core.switch_off(uow.session, clock, venue, turn)
    except Invalid as exc:
        await uow.rollback()  # nothing of a refused change is kept
        log.info("planner_chat_alerts_refused", destination_id=destination_id, change=what, code=exc.code)
        return outcome(request, refusal(exc), redirect_to=CHAT_PATH, kind="error")
    log.info("planner_chat_alerts", destination_id=destination_id, account_id=viewer.account_id, change=what)
    return outcome(request, _said(settings, _where(chat), clock.now()), redirect_to=CHAT_PATH)


@post("/chat/destinations/{destination_id:int}/alerts", name="planner.chat_alerts_on", status_code=303)
async def alerts_on(
    request: Request[Any, Any, Any], destination_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """Alerts on in this chat for the ticked kinds (none: every kind), clearing its mutes, as `alerts here KINDS`."""
    return await _change(request, viewer, runtime, uow, destination_id, "on")


@post("/chat/destinations/{destination_id:int}/mute", name="planner.chat_alerts_mute", status_code=303)
async def alerts_mute(
    request: Request[Any, Any, Any], destination_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """Hold the ticked kinds back in this chat for a while, as `alerts mute KIND for 2h`."""
    return await _change(request, viewer, runtime, uow, destination_id, "mute")


@post("/chat/destinations/{destination_id:int}/quiet", name="planner.chat_alerts_quiet", status_code=303)
async def alerts_quiet(
    request: Request[Any, Any, Any], destination_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """This chat's quiet hours in the venue's time (critical alerts still go at once), or none."""
    return await _change(request, viewer, runtime, uow, destination_id, "quiet")


@post("/chat/destinations/{destination_id:int}/off", name="planner.chat_alerts_off", status_code=303)
async def alerts_off(
    request: Request[Any, Any, Any], destination_id: int, viewer: Viewer, runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    """No more alerts in this chat (a channel stays bound to the venue), as `alerts off`."""
    return await _change(request, viewer, runtime, uow, destination_id, "off")


routes = [chat_page, new_link_code, choose_alert_via, alerts_on, alerts_mute, alerts_quiet, alerts_off]
