"""The one chat command grammar: what a person types in Slack or Telegram, parsed into a command value.

Parsing only reads words; who may do it and in which venue is decided by the handler through core.access,
and times are placed in the venue's zone by core.posts.phrases once the venue is known.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import timedelta

from core.errors import Invalid
from core.notifications.kinds import NotificationKind
from core.posts.phrases import read_duration
from core.posts.times import PostTimeInvalid
from core.vocabulary import Provider


class CommandUnclear(Invalid):
    """Input that isn't a command we know, or a known command with missing or bad words; says what would work."""

    def __init__(self, message: str, *, example: str, suggestion: str | None = None) -> None:
        super().__init__(message, remedy=f"for example: {example}", example=example, suggestion=suggestion)
        self.example = example
        self.suggestion = suggestion


@dataclass(frozen=True)
class Schedule:
    when: str
    text: str
    platforms: tuple[Provider, ...] | None  # None: every active connection of the venue that can take it


@dataclass(frozen=True)
class ScheduleForm:
    """`schedule` with nothing after it: open the form (a Slack modal; a guided reply on Telegram)."""


@dataclass(frozen=True)
class Week:
    next: bool


@dataclass(frozen=True)
class Status:
    post_id: int | None


@dataclass(frozen=True)
class Retry:
    target_id: int


@dataclass(frozen=True)
class Reconnect:
    platform: Provider | None


@dataclass(frozen=True)
class Diagnose:
    connection_id: int | None


@dataclass(frozen=True)
class Package:
    target_id: int


@dataclass(frozen=True)
class AlertsHere:
    kinds: tuple[NotificationKind, ...] | None  # None: every kind


@dataclass(frozen=True)
class AlertsMe:
    kinds: tuple[NotificationKind, ...] | None


@dataclass(frozen=True)
class AlertsMute:
    kinds: tuple[NotificationKind, ...]
    duration: timedelta | None  # None: until unmuted


@dataclass(frozen=True)
class AlertsOff:
    pass


@dataclass(frozen=True)
class AlertsOps:
    """`alerts ops here` / `alerts ops off`: this chat takes the service's incidents (staff only), or stops."""

    on: bool


@dataclass(frozen=True)
class AlertsVia:
    """`alerts by email|chat|both`: how the person who types it gets their own alerts."""

    via: str


@dataclass(frozen=True)
class OpsStatus:
    """`ops status`: workers, scheduler, queue and the open incidents (staff only)."""


@dataclass(frozen=True)
class OpsIncidents:
    """`ops incidents`: the open incidents, each with its buttons (staff only)."""


@dataclass(frozen=True)
class RetryFailed:
    """`retry failed [since 1h]`: count the deliveries that failed since then and offer to retry them (staff only)."""

    since: timedelta


@dataclass(frozen=True)
class ChooseVenue:
    name: str


@dataclass(frozen=True)
class Link:
    code: str


@dataclass(frozen=True)
class RunJob:
    name: str


@dataclass(frozen=True)
class WeeklyPlan:
    """`weekly`: the venue's weekly slots, each with its next post."""


@dataclass(frozen=True)
class WeeklyPause:
    slot: str  # the slot's id, or a part of its name only one slot has


@dataclass(frozen=True)
class WeeklyResume:
    slot: str


@dataclass(frozen=True)
class Help:
    topic: str | None


@dataclass(frozen=True)
class EditPost:
    """`edit POST_ID text "…"` or `edit POST_ID when PHRASE`: one change to a scheduled post."""

    post_id: int
    text: str | None = None
    when: str | None = None


Command = (
    Schedule
    | ScheduleForm
    | Week
    | Status
    | Retry
    | Reconnect
    | Diagnose
    | Package
    | AlertsHere
    | AlertsMe
    | AlertsMute
    | AlertsOff
    | AlertsOps
    | AlertsVia
    | OpsStatus
    | OpsIncidents
    | RetryFailed
    | ChooseVenue
    | Link
    | RunJob
    | WeeklyPlan
    | WeeklyPause
    | WeeklyResume
    | Help
    | EditPost
)


@dataclass(frozen=True)
class Usage:
    syntax: str
    example: str
    summary: str


USAGE: dict[str, Usage] = {
    "schedule": Usage(
        'schedule WHEN "TEXT" [to facebook,instagram,google]',
        'schedule fri 6pm "Quiz night from 8, free entry!" to fb,ig',
        "schedule a post (just `schedule` opens a form)",
    ),
    "week": Usage("week [next]", "week next", "this week's posts (or next week's)"),
    "status": Usage("status [POST_ID]", "status 42", "where a post (or the venue) stands"),
    "retry": Usage(
        "retry TARGET_ID | retry failed [since 1h]",
        "retry 17",
        "publish a failed delivery again (staff: every delivery failed since then, after a confirmation)",
    ),
    "reconnect": Usage(
        "reconnect [facebook|instagram|google]", "reconnect facebook", "a private link to reconnect an account"
    ),
    "diagnose": Usage("diagnose [CONNECTION_ID]", "diagnose 3", "check a connection with the platform"),
    "package": Usage("package TARGET_ID", "package 17", "a zip to publish a delivery by hand"),
    "weekly": Usage(
        "weekly | weekly pause SLOT | weekly resume SLOT",
        "weekly pause quiz",
        "the weekly plan's slots and their next posts; pause or resume one (its number or name)",
    ),
    "alerts": Usage(
        "alerts here [KINDS] | alerts me [KINDS] | alerts mute KIND [for 2h] | alerts off | alerts by email|chat|both"
        " | alerts ops here|off",
        "alerts here failures,connections",
        "where alerts go (admins and owners); how you get yours (anyone); the service's incidents here (staff)",
    ),
    "venue": Usage("venue NAME", "venue The Red Lion", "choose the venue this chat acts for"),
    "link": Usage("link CODE", "link 4F7Q-92KD", "link this chat account to your CheersAI person"),
    "jobs": Usage("jobs run NAME", "jobs run reconcile", "run a periodic job now (staff only)"),
    "ops": Usage("ops status | ops incidents", "ops status", "the service's health and open incidents (staff only)"),
    "edit": Usage(
        'edit POST_ID text "TEXT" | edit POST_ID when WHEN',
        "edit 42 when fri 8pm",
        "change a scheduled post's text or time",
    ),
    "help": Usage("help [COMMAND]", "help schedule", "what you can ask"),
}

PLATFORM_NAMES: dict[str, Provider] = {
    "facebook": Provider.facebook,
    "fb": Provider.facebook,
    "instagram": Provider.instagram,
    "ig": Provider.instagram,
    "insta": Provider.instagram,
    "google": Provider.google_business,
    "gbp": Provider.google_business,
    "gmb": Provider.google_business,
    "google_business": Provider.google_business,
}

# Friendly names for groups of alert kinds; every kind's own name works too.
KIND_GROUPS: dict[str, tuple[NotificationKind, ...]] = {
    "failures": (
        NotificationKind.publish_failed,
        NotificationKind.publish_missed,
        NotificationKind.publish_in_doubt,
        NotificationKind.publish_needs_attention,
    ),
    "published": (NotificationKind.publish_succeeded,),
    "connections": (
        NotificationKind.connection_needs_reconnect,
        NotificationKind.connection_expiring,
        NotificationKind.connection_revoked,
        NotificationKind.connection_metadata_updated,
    ),
    "media": (NotificationKind.derivative_failed, NotificationKind.derivative_skipped),
    "ops": (NotificationKind.queue_stalled,),
}

_QUOTES = '"“”„«»'
_BOT_PREFIX = re.compile(r"^/(?:cheers\b)?(?P<rest>[^\s@]*)(?:@\w+)?")


def parse_command(text: str) -> Command:
    """The command `text` asks for: accepts 'schedule …', '/cheers schedule …', '/retry@CheersBot 17'."""
    words = _strip_prefix(text.strip())
    head, _, rest = words.partition(" ")
    name, rest = head.lower(), rest.strip()
    if not name:
        return Help(topic=None)
    parser = _PARSERS.get(name)
    if parser is None:
        raise _unknown(name)
    return parser(rest)


def _strip_prefix(text: str) -> str:
    match = _BOT_PREFIX.match(text)
    if match is None:
        return text
    # '/cheers retry 17' → 'retry 17'; '/retry@CheersBot 17' (Telegram) → 'retry 17'
    return f"{match['rest']} {text[match.end() :]}".strip()


def _unknown(name: str) -> CommandUnclear:
    close = difflib.get_close_matches(name, USAGE, n=1, cutoff=0.6)
    if close:
        usage = USAGE[close[0]]
        return CommandUnclear(
            f"I don't know '{name}'. Did you mean `{close[0]}`? {usage.syntax}",
            example=usage.example,
            suggestion=close[0],
        )
    return CommandUnclear(
        f"I don't know '{name}'. I understand: {', '.join(USAGE)} (`help` explains each)",
        example=USAGE["schedule"].example,
    )


def _bad(command: str, problem: str) -> CommandUnclear:
    usage = USAGE[command]
    return CommandUnclear(f"{problem}. Use: {usage.syntax}", example=usage.example, suggestion=command)


def _id(command: str, value: str, what: str) -> int:
    cleaned = value.strip().lstrip("#")
    if not cleaned.isdigit() or len(cleaned) > 18:
        raise _bad(command, f"'{value.strip()}' is not a {what} number" if value.strip() else f"say which {what}")
    return int(cleaned)


def _schedule(rest: str) -> Schedule | ScheduleForm:
    if not rest:
        return ScheduleForm()
    opening = next((i for i, ch in enumerate(rest) if ch in _QUOTES), None)
    closing = next((i for i in range(len(rest) - 1, -1, -1) if rest[i] in _QUOTES), None)
    if opening is None or closing is None or closing == opening:
        raise _bad("schedule", "put the post's text in quotes, after the time")
    when, text, after = rest[:opening].strip(), rest[opening + 1 : closing].strip(), rest[closing + 1 :].strip()
    if not when:
        raise _bad("schedule", "say when, before the text")
    if not text:
        raise _bad("schedule", "the post's text is empty")
    platforms: tuple[Provider, ...] | None = None
    if after:
        target_words = re.fullmatch(r"to\s+(?P<names>.+)", after, flags=re.IGNORECASE)
        if target_words is None:
            raise _bad("schedule", f"I don't understand '{after}' after the text")
        platforms = _platforms(target_words["names"])
    return Schedule(when=when, text=text, platforms=platforms)


def _platforms(names: str) -> tuple[Provider, ...]:
    chosen: list[Provider] = []
    for raw in re.split(r"[,\s]+|\band\b", names.lower()):
        if not raw:
            continue
        provider = PLATFORM_NAMES.get(raw)
        if provider is None:
            raise _bad("schedule", f"'{raw}' is not a platform; say facebook (fb), instagram (ig) or google (gbp)")
        if provider not in chosen:
            chosen.append(provider)
    if not chosen:
        raise _bad("schedule", "say which platforms after 'to'")
    return tuple(chosen)


def _week(rest: str) -> Week:
    if rest.lower() not in ("", "next", "this"):
        raise _bad("week", f"'{rest}' isn't a week I know; say `week` or `week next`")
    return Week(next=rest.lower() == "next")


def _status(rest: str) -> Status:
    return Status(post_id=_id("status", rest, "post") if rest else None)


DEFAULT_RETRY_SINCE = timedelta(hours=1)


def _retry(rest: str) -> Retry | RetryFailed:
    word, _, more = rest.partition(" ")
    if word.lower() != "failed":
        return Retry(target_id=_id("retry", rest, "delivery"))
    more = more.strip()
    if not more:
        return RetryFailed(since=DEFAULT_RETRY_SINCE)
    since = re.fullmatch(r"(?:since|for|in the last)\s+(?P<length>.+)", more, flags=re.IGNORECASE)
    if since is None:
        raise _bad("retry", f"say `retry failed since 1h` (got '{more}')")
    try:
        return RetryFailed(since=read_duration(since["length"].strip()))
    except PostTimeInvalid:
        raise _bad("retry", f"'{since['length'].strip()}' is not a length of time like 1h or 30 minutes") from None


def _package(rest: str) -> Package:
    return Package(target_id=_id("package", rest, "delivery"))


def _reconnect(rest: str) -> Reconnect:
    if not rest:
        return Reconnect(platform=None)
    provider = PLATFORM_NAMES.get(rest.lower())
    if provider is None:
        raise _bad("reconnect", f"'{rest}' is not a platform; say facebook, instagram or google")
    return Reconnect(platform=provider)


def _diagnose(rest: str) -> Diagnose:
    return Diagnose(connection_id=_id("diagnose", rest, "connection") if rest else None)


VIA = ("email", "chat", "both")


def _alerts(rest: str) -> AlertsHere | AlertsMe | AlertsMute | AlertsOff | AlertsOps | AlertsVia:
    verb, _, more = rest.partition(" ")
    verb, more = verb.lower(), more.strip()
    if verb == "ops":
        if more.lower() not in ("here", "off"):
            raise _bad("alerts", f"say `alerts ops here` or `alerts ops off` (got '{rest}')")
        return AlertsOps(on=more.lower() == "here")
    if verb == "by":
        via = more.lower().replace("e-mail", "email")
        if via not in VIA:
            raise _bad("alerts", f"say `alerts by email`, `alerts by chat` or `alerts by both` (got '{rest}')")
        return AlertsVia(via=via)
    if verb == "here":
        return AlertsHere(kinds=_kinds(more) if more else None)
    if verb == "me":
        return AlertsMe(kinds=_kinds(more) if more else None)
    if verb == "off":
        if more:
            raise _bad("alerts", f"`alerts off` takes nothing after it (got '{more}')")
        return AlertsOff()
    if verb == "mute":
        return _mute(more)
    raise _bad(
        "alerts",
        f"say `alerts here`, `alerts me`, `alerts mute KIND`, `alerts off` or `alerts by email|chat|both` "
        f"(got '{rest}')",
    )


def _mute(more: str) -> AlertsMute:
    parts = re.split(r"\s+for\s+", more, maxsplit=1, flags=re.IGNORECASE)
    if not parts[0].strip():
        raise _bad("alerts", "say which kind to mute, e.g. `alerts mute published for 2h`")
    duration: timedelta | None = None
    if len(parts) == 2:
        try:
            duration = read_duration(parts[1].strip())
        except PostTimeInvalid:
            raise _bad("alerts", f"'{parts[1].strip()}' is not a length of time like 2h or 30 minutes") from None
    return AlertsMute(kinds=_kinds(parts[0]), duration=duration)


def _kinds(text: str) -> tuple[NotificationKind, ...]:
    chosen: list[NotificationKind] = []
    for raw in re.split(r"[,\s]+", text.lower()):
        if not raw:
            continue
        group = KIND_GROUPS.get(raw)
        if group is None and raw in NotificationKind._value2member_map_:
            group = (NotificationKind(raw),)
        if group is None:
            raise _bad(
                "alerts",
                f"'{raw}' is not a kind of alert; say {', '.join(KIND_GROUPS)}, or a kind like publish_failed",
            )
        chosen.extend(k for k in group if k not in chosen)
    return tuple(chosen)


def _venue(rest: str) -> ChooseVenue:
    name = rest.strip().strip(_QUOTES).strip()
    if not name:
        raise _bad("venue", "say the venue's name")
    return ChooseVenue(name=name)


def _link(rest: str) -> Link:
    code = rest.strip()
    if not code or " " in code:
        raise _bad("link", "say the code you got from CheersAI (one word)")
    return Link(code=code)


def _jobs(rest: str) -> RunJob:
    verb, _, name = rest.partition(" ")
    if verb.lower() != "run" or not name.strip():
        raise _bad("jobs", "say `jobs run NAME`")
    return RunJob(name=name.strip())


def _ops(rest: str) -> OpsStatus | OpsIncidents:
    verb = rest.strip().lower()
    if verb in ("", "status"):
        return OpsStatus()
    if verb == "incidents":
        return OpsIncidents()
    raise _bad("ops", f"say `ops status` or `ops incidents` (got '{rest}')")


def _edit(rest: str) -> EditPost:
    number, _, more = rest.partition(" ")
    post_id = _id("edit", number, "post")
    what, _, value = more.strip().partition(" ")
    value = value.strip()
    if what.lower() == "text":
        if len(value) < 2 or value[0] not in _QUOTES or value[-1] not in _QUOTES:
            raise _bad("edit", 'put the new text in quotes, e.g. edit 42 text "Quiz night from 8"')
        text = value[1:-1].strip()
        if not text:
            raise _bad("edit", "the new text is empty")
        return EditPost(post_id=post_id, text=text)
    if what.lower() == "when":
        if not value:
            raise _bad("edit", "say the new time, e.g. edit 42 when fri 8pm")
        return EditPost(post_id=post_id, when=value)
    raise _bad("edit", "say `text` or `when` after the post's number")


def _weekly(rest: str) -> WeeklyPlan | WeeklyPause | WeeklyResume:
    verb, _, slot = rest.partition(" ")
    verb, slot = verb.lower(), slot.strip().strip(_QUOTES).strip()
    if not verb:
        return WeeklyPlan()
    if verb in ("pause", "resume"):
        if not slot:
            raise _bad("weekly", f"say which slot to {verb}: its number or a part of its name")
        return WeeklyPause(slot) if verb == "pause" else WeeklyResume(slot)
    raise _bad("weekly", f"say `weekly`, `weekly pause SLOT` or `weekly resume SLOT` (got '{rest}')")


def _help(rest: str) -> Help:
    topic = rest.strip().lower() or None
    if topic is not None and topic not in USAGE:
        raise _unknown(topic)
    return Help(topic=topic)


_PARSERS = {
    "schedule": _schedule,
    "week": _week,
    "status": _status,
    "retry": _retry,
    "reconnect": _reconnect,
    "diagnose": _diagnose,
    "package": _package,
    "alerts": _alerts,
    "venue": _venue,
    "link": _link,
    "jobs": _jobs,
    "ops": _ops,
    "weekly": _weekly,
    "edit": _edit,
    "help": _help,
}
