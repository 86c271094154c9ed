"""What core returned, as chat-neutral ChatMessages: posts and their deliveries, the week, refusals, links.

Pure functions (no database, no platform): Slack renders the result with bot.slack.blocks, Telegram its own way.
Offers are core's `Offer`s (an action and the ids it acts on); whoever clicks one is authorised again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bot.commands import USAGE, CommandUnclear
from bot.messages import ChatLink, ChatMessage, Item
from core.chat.alerts import AlertSettings
from core.chat.connections import ConnectionChoice, ConnectionUnclear, Consent, Diagnosed
from core.chat.linking import CODE_TTL, LinkOutcome
from core.chat.people import VenueOption, VenueUnclear
from core.chat.sending import AlertMessage
from core.errors import Conflict, DomainError, NotFound, PermissionDenied
from core.notifications.actions import Action, Offer, offer
from core.ops.actions import JobQueued, Retried
from core.ops.destinations import OpsSubscription
from core.ops.incidents import describe_duration
from core.ops.status import ServiceStatus
from core.posts.times import PostTimeInvalid
from core.posts.views import DeliveryView, PostView
from core.publishing.labels import excerpt
from core.publishing.packages import PackageLink
from core.vocabulary import ChatPlatform, ConnectionStatus, DeliveryStatus
from core.weekly.slots import SlotChange, SlotView
from core.weekly.slots import describe as describe_slot

# What a person can do about a delivery in each state (the same offers its alert makes).
DELIVERY_OFFERS: dict[DeliveryStatus, tuple[Action, ...]] = {
    DeliveryStatus.failed: (Action.retry, Action.manual_package),
    DeliveryStatus.missed: (Action.retry, Action.manual_package),
    DeliveryStatus.in_doubt: (Action.manual_package,),
    DeliveryStatus.needs_attention: (Action.mark_published, Action.publish_again, Action.manual_package),
    DeliveryStatus.needs_reconnect: (Action.reconnect,),
}
TROUBLE = frozenset(DELIVERY_OFFERS)
BROKEN_CONNECTIONS = frozenset(s.value for s in (ConnectionStatus.needs_reconnect, ConnectionStatus.revoked))
CODE_MINUTES = int(CODE_TTL.total_seconds() // 60)


def words(status: DeliveryStatus | str) -> str:
    """A status as people read it: needs_reconnect → 'needs reconnect'."""
    return str(status.value if isinstance(status, DeliveryStatus) else status).replace("_", " ")


def delivery_offers(d: DeliveryView) -> tuple[Offer, ...]:
    """The offers that apply to one delivery in its current state."""
    made: list[Offer] = []
    for action in DELIVERY_OFFERS.get(d.status, ()):
        if action is Action.reconnect:
            made.append(offer(action, connection_id=d.connection_id))
        else:
            made.append(offer(action, target_id=d.target_id))
    return tuple(made)


def delivery_line(d: DeliveryView) -> str:
    """'Facebook Page The Red Lion: failed: (#100) bad link — delivery 17'."""
    line = f"{d.connection_label}: {words(d.status)}"
    if d.status is DeliveryStatus.published and d.permalink:
        line += f" {d.permalink}"
    reason = d.last_error if d.status in TROUBLE else None
    if reason:
        line += f": {reason}"
    if d.note and d.status is not DeliveryStatus.published:
        line += f" ({d.note})"
    return f"{line} — delivery {d.target_id}"


# --- answers to commands ---------------------------------------------------------------------------------------


def help_message(topic: str | None, platform: ChatPlatform) -> ChatMessage:
    """What a person can ask (or how to ask for `topic`), as they type it on `platform`: Slack's words after
    `/cheers` (or alone in a DM), Telegram's as slash commands, where a bare `/schedule` starts the guided flow."""
    telegram = platform is ChatPlatform.telegram
    if topic is not None:
        usage = USAGE[topic]
        summary = TELEGRAM_SUMMARIES.get(topic, usage.summary) if telegram else usage.summary
        if telegram:
            return ChatMessage(
                title=f"`/{topic}`: {summary}",
                lines=(f"Use: {_slashed(usage.syntax)}", f"For example: /{usage.example}"),
            )
        return ChatMessage(
            title=f"`{topic}`: {summary}",
            lines=(f"Use: {usage.syntax}", f"For example: {usage.example}"),
        )
    if telegram:
        lines = tuple(
            f"{_slashed(usage.syntax)} — {TELEGRAM_SUMMARIES.get(name, usage.summary)}" for name, usage in USAGE.items()
        )
        return ChatMessage(title="What I can do", lines=(*lines, TELEGRAM_CANCEL))
    return ChatMessage(
        title="What I can do",
        lines=tuple(f"{usage.syntax} — {usage.summary}" for usage in USAGE.values()),
    )


# Telegram's own words where Slack's summary names Slack's idiom (its schedule form is a modal).
TELEGRAM_SUMMARIES = {
    "schedule": "schedule a post (a bare /schedule asks you step by step, in your private chat with me)",
}
TELEGRAM_CANCEL = "/cancel — stop a step-by-step /schedule, or the question Mark published asks"


def _slashed(syntax: str) -> str:
    """A grammar syntax as typed in Telegram: 'alerts here | alerts off' → '/alerts here | /alerts off'."""
    return " | ".join(f"/{alternative}" for alternative in syntax.split(" | "))


def how_to_link() -> ChatMessage:
    """The one answer an unlinked chat account gets to anything but `link` and `help`."""
    return ChatMessage(
        title="Link your chat account to CheersAI first",
        lines=(
            "I don't know who you are in CheersAI yet, so I can't act for you.",
            "Get a link code: signed in to CheersAI, ask for one (POST /api/chat/link-codes), or ask your "
            "CheersAI operator to run `cheers chat link-code --user YOUR_ID`.",
            f"Then type `link CODE` here. A code works once, for {CODE_MINUTES} minutes.",
        ),
        private=True,
    )


def link_outcome(outcome: LinkOutcome) -> ChatMessage:
    if outcome.linked:
        return ChatMessage(
            title=outcome.message,
            lines=("Type `help` to see what you can ask.",),
            private=True,
        )
    lines = (outcome.message,) + ((f"What to do: {outcome.remedy}.",) if outcome.remedy else ())
    return ChatMessage(title="Not linked", lines=lines, private=True)


def scheduled(message: str, view: PostView, left_out: Sequence[str]) -> ChatMessage:
    lines = [message]
    lines.extend(f"Not sent to {note}" for note in left_out)
    return ChatMessage(
        title=f"Post {view.id} scheduled",
        lines=tuple(lines),
        items=tuple(Item(delivery_line(d), delivery_offers(d)) for d in view.deliveries),
    )


def week(venue: str, posts: Sequence[PostView], *, next_week: bool) -> ChatMessage:
    which = "Next week" if next_week else "This week"
    if not posts:
        return ChatMessage(
            title=f"{which} at {venue}: nothing scheduled",
            lines=(f"Schedule one: {USAGE['schedule'].example}",),
        )
    items = []
    for view in posts:
        head = f"Post {view.id} · {view.scheduled_local} · {view.excerpt or '(no text)'}"
        if view.cancelled:
            head += " · cancelled"
        body = "\n".join(f"  {delivery_line(d)}" for d in view.deliveries)
        offers = tuple(o for d in view.deliveries for o in delivery_offers(d))
        items.append(Item(f"{head}\n{body}" if body else head, offers))
    count = f"{len(posts)} post{'s' if len(posts) != 1 else ''}"
    return ChatMessage(title=f"{which} at {venue}: {count}", items=tuple(items))


def weekly_plan(venue: str, slots: Sequence[SlotView]) -> ChatMessage:
    """The venue's weekly slots in week order: when each posts, where, its next post and that post's text."""
    if not slots:
        return ChatMessage(
            title=f"Weekly plan at {venue}: no slots",
            lines=(
                "A slot makes a post every week, like a quiz on Tuesday at 20:00:"
                " add them with POST /api/weekly-slots or `cheers weekly add`.",
            ),
        )
    items = []
    for view in slots:
        text = describe_slot(view)
        if view.preview is not None:
            text += f"\n  {excerpt(view.preview) or '(no text)'}"
        items.append(Item(text))
    count = f"{len(slots)} slot{'s' if len(slots) != 1 else ''}"
    return ChatMessage(
        title=f"Weekly plan at {venue}: {count}",
        items=tuple(items),
        lines=("Pause or resume one: `weekly pause SLOT`, `weekly resume SLOT` (its number or a part of its name)",),
    )


def weekly_changed(change: SlotChange) -> ChatMessage:
    """A slot paused or resumed: what happened, and the slot as it is now."""
    return ChatMessage(title=change.message, items=(Item(describe_slot(change.view)),))


@dataclass(frozen=True)
class HomeVenue:
    """One of a person's venues as their home shows it: this week's posts and its connections."""

    name: str
    posts: Sequence[PostView]
    connections: Sequence[ConnectionChoice]


def home(venues: Sequence[HomeVenue], *, more_url: str | None) -> tuple[ChatMessage, ...]:
    """A person's home: the open problems across their venues first, then each venue's week, with the alerts' offers."""
    problems: list[Item] = []
    for venue in venues:
        for c in venue.connections:
            if c.status in BROKEN_CONNECTIONS:
                fix = tuple(offer(a, connection_id=c.connection_id) for a in (Action.reconnect, Action.diagnose))
                text = f"{venue.name} · {c.label} (connection {c.connection_id}): {words(c.status)}"
                problems.append(Item(text, fix))
        for view in venue.posts:
            for d in view.deliveries:
                if d.status in TROUBLE:
                    problems.append(Item(f"{venue.name} · post {view.id} · {delivery_line(d)}", delivery_offers(d)))
    if problems:
        title = f"{len(problems)} problem{'s' if len(problems) != 1 else ''} to fix"
        first = ChatMessage(title=title, items=tuple(problems), more_url=more_url)
    else:
        first = ChatMessage(title="Nothing needs you right now", lines=("Alerts will say when something does.",))
    weeks = tuple(replace(week(v.name, v.posts, next_week=False), more_url=more_url) for v in venues)
    if not venues:
        weeks = (ChatMessage(title="You are not in a venue yet", lines=("Ask an owner or admin to add you.",)),)
    return (first, *weeks)


def post_status(view: PostView) -> ChatMessage:
    fields = (("When", view.scheduled_local), ("Status", words(view.status)))
    lines = (view.text,) if view.text else ()
    items = []
    for d in view.deliveries:
        text = delivery_line(d)
        if d.remedy and d.status in TROUBLE:
            text += f"\nWhat to do: {d.remedy}"
        items.append(Item(text, delivery_offers(d)))
    return ChatMessage(title=f"Post {view.id}: {words(view.status)}", lines=lines, fields=fields, items=tuple(items))


def venue_status(venue: str, posts: Sequence[PostView], connections: Sequence[ConnectionChoice]) -> ChatMessage:
    troubled = [d for view in posts for d in view.deliveries if d.status in TROUBLE]
    lines = [f"{c.label} (connection {c.connection_id}): {words(c.status)}" for c in connections]
    if not connections:
        lines.append("Nothing is connected yet.")
    if not troubled:
        lines.append("No delivery this week needs anything from you.")
    return ChatMessage(
        title=f"{venue}: {len(troubled)} problem{'s' if len(troubled) != 1 else ''} this week",
        lines=tuple(lines),
        items=tuple(Item(delivery_line(d), delivery_offers(d)) for d in troubled),
    )


def retried(message: str, d: DeliveryView) -> ChatMessage:
    return ChatMessage(title=message, items=(Item(delivery_line(d), delivery_offers(d)),))


def consent(found: Consent) -> ChatMessage:
    verb = "Reconnect" if found.reconnecting else "Connect"
    return ChatMessage(
        title=f"{verb} {found.label}",
        lines=(
            "This link is for you only: open it in your browser, confirm, and sign in with the platform.",
            f"It works once, until {found.link.expires_at:%H:%M} UTC.",
        ),
        links=(ChatLink(f"{verb} {found.label}", found.link.url),),
        private=True,
    )


def reconnect_refused(admins: Sequence[str]) -> ChatMessage:
    """Reconnecting is for the venue's owners and admins: say who they are, by name, to the person who asked."""
    who = f": {', '.join(admins)}. Ask one of them." if admins else ", and it has none yet. Ask CheersAI support."
    return ChatMessage(
        title="You can't do that",
        lines=(f"Only the venue's owners and admins can reconnect{who}",),
        private=True,
    )


def package(link: PackageLink, target_id: int, *, not_shared: str | None = None) -> ChatMessage:
    """The private download link; `not_shared` says why the zip couldn't go into the alert's thread instead."""
    why = (f"I couldn't put it in the alert's thread ({not_shared}), so here is a private link instead.",)
    return ChatMessage(
        title=f"Manual package for delivery {target_id}",
        lines=(
            *(why if not_shared else ()),
            f"{link.filename}: the photos or video, the caption and the steps to post it by hand.",
            # With its day: the link lasts a day, so a bare time reads as already past.
            f"Anyone holding this link can download it until {link.expires_at:%a %d %b %H:%M} UTC, "
            "so keep it to yourself.",
        ),
        links=(ChatLink(f"Download {link.filename}", link.url),),
        private=True,
    )


def package_shared(filename: str, target_id: int) -> ChatMessage:
    return ChatMessage(
        title=f"Manual package for delivery {target_id} is in the alert's thread",
        lines=(f"{filename}: the photos or video, the caption and STEPS.txt, for everyone in this chat.",),
        private=True,
    )


def marked(message: str, d: DeliveryView) -> ChatMessage:
    """A person's word that the post is live, confirmed to them alone (the alert itself is edited to say so)."""
    lines = (f"Its link: {d.permalink}",) if d.permalink else ()
    return ChatMessage(
        title=message,
        lines=(*lines, "The alert will say it is resolved, by you."),
        items=(Item(delivery_line(d)),),
        private=True,
    )


def diagnosed(found: Diagnosed) -> ChatMessage:
    doc: dict[str, Any] = found.doc
    lines = []
    for finding in doc.get("findings", []):
        mark = "OK" if finding.get("ok") else "Problem"
        line = f"{mark}: {finding.get('message')}"
        if not finding.get("ok") and finding.get("remedy"):
            line += f" What to do: {finding['remedy']}"
        lines.append(line)
    fields = []
    if doc.get("expires_at"):
        fields.append(("Access lapses", str(doc["expires_at"])))
    health = "healthy" if doc.get("healthy") else "needs attention"
    return ChatMessage(title=f"{found.label}: {health}", lines=tuple(lines), fields=tuple(fields))


# Where a chat's alerts go, in each platform's words: Telegram has chats (groups and the private chat with the bot).
ALERTS_WHERE: dict[ChatPlatform, tuple[str, str]] = {  # (a person's own, the chat's)
    ChatPlatform.slack: ("your direct messages with CheersAI", "this channel"),
    ChatPlatform.telegram: ("your private chat with the bot", "this chat"),
}


def alerts(settings: AlertSettings, platform: ChatPlatform) -> ChatMessage:
    """A chat's alert settings after `alerts here|me|mute|off`, saying where they go in `platform`'s words."""
    own, chat = ALERTS_WHERE[platform]
    where = own if settings.personal else chat
    if not settings.alerts:
        return ChatMessage(title=f"Alerts for {settings.venue} are off in {where}")
    kinds = ", ".join(settings.kinds) if settings.kinds else "every kind"
    lines = [f"Alerts: {kinds}."]
    for kind, until in settings.muted.items():
        lines.append(f"Muted: {kind} " + (f"until {_until(until)}" if until else "until `alerts here` again"))
    return ChatMessage(title=f"{settings.venue}'s alerts go to {where}", lines=tuple(lines))


def venue_chosen(choice: VenueOption, platform: ChatPlatform) -> ChatMessage:
    """The venue a person now acts for, outside chats bound to one (Slack's channels, Telegram's groups)."""
    chats = "groups" if platform is ChatPlatform.telegram else "channels"
    return ChatMessage(
        title=f"Now acting for {choice.name}",
        lines=(
            f"You are {choice.role.value} there. When you talk to me, and in {chats} not set up for a venue, "
            "I act for this venue until you choose another.",
        ),
        private=True,
    )


def schedule_form(platform: ChatPlatform) -> ChatMessage:
    """`schedule` with nothing after it where no form opens (Slack opens its modal first): how to schedule here."""
    usage = USAGE["schedule"]
    if platform is ChatPlatform.telegram:
        return ChatMessage(
            title="Schedule a post",
            lines=("Send /schedule and I'll ask step by step.", f"Or in one line: /{usage.example}"),
        )
    return ChatMessage(title="Schedule a post", lines=(f"Type: {usage.syntax}", f"For example: {usage.example}"))


def job_ran(name: str, result: dict[str, Any]) -> ChatMessage:
    return ChatMessage(
        title=f"Ran {name}",
        fields=tuple((str(k), str(v)) for k, v in result.items()),
        private=True,
    )


# --- ops: the service's own incidents, for staff ------------------------------------------------------------------


def ops_alerts(sub: OpsSubscription | None, platform: ChatPlatform) -> ChatMessage:
    """This chat's ops subscription after `alerts ops here|off`."""
    where = "this group" if platform is ChatPlatform.telegram else "this channel"
    if sub is None or not sub.active:
        return ChatMessage(title=f"The service's incidents no longer go to {where}",
                           lines=("`alerts ops here` starts them again.",))  # fmt: skip
    return ChatMessage(
        title=f"The service's incidents go to {where}",
        lines=(
            "Each incident is posted once, edited as it changes and when it is resolved, with Run now, Retry failed, "
            "Silence and Runbook buttons (staff only), plus the daily digest. `alerts ops off` stops them.",
        ),
    )


def alert_via(via: str) -> ChatMessage:
    """How the person's own alerts reach them after `alerts by email|chat|both`."""
    said = {"chat": "in chat", "email": "by e-mail", "both": "in chat and by e-mail"}.get(via, via)
    return ChatMessage(title=f"Your alerts now come {said}", private=True)


def incident_item(incident: AlertMessage) -> Item:
    """One open incident in a listing (as its ops message reads), with the buttons that message carries."""
    return Item(" ".join([f"{incident.title}.", *incident.lines]), incident.offers)


def ops_incidents(incidents: Sequence[AlertMessage]) -> ChatMessage:
    if not incidents:
        return ChatMessage(title="No open incidents", lines=("Everything the rules watch is as it should be.",))
    return ChatMessage(
        title=f"{len(incidents)} open incident{'s' if len(incidents) != 1 else ''}",
        items=tuple(incident_item(i) for i in incidents),
    )


def ops_status(status: ServiceStatus, incidents: Sequence[AlertMessage], now: datetime) -> ChatMessage:
    """`ops status`: the service's health in a few fields, its problems, then the open incidents."""

    def component(c: Any) -> str:
        if c.age_seconds is None:
            return "never seen"
        return f"{'ok' if c.healthy else 'stale'}, last beat {describe_duration(now - c.last_beat_at)} ago"

    fields = [
        ("Workers", f"{component(status.worker)} ({len(status.worker.instances)} running)"),
        ("Scheduler", component(status.scheduler)),
        ("Queue", "unknown" if status.queue_depth is None else f"{status.queue_depth} waiting"),
        ("Open incidents", str(len(incidents))),
    ]
    if status.oldest_due_job is not None:
        fields.append(("Overdue job", f"{status.oldest_due_job['job']} ({status.oldest_due_job['overdue_seconds']} s)"))
    return ChatMessage(
        title="The service is healthy" if status.healthy and not incidents else "The service needs attention",
        lines=tuple(status.problems),
        fields=tuple(fields),
        items=tuple(incident_item(i) for i in incidents),
    )


def retry_failed_confirm(count: int, since: timedelta, since_at: datetime) -> ChatMessage:
    """The count before a bulk retry and the button that does it (the click is authorised again)."""
    ago = describe_duration(since)
    if count == 0:
        return ChatMessage(title=f"No deliveries failed in the last {ago}", private=True)
    plural = "delivery" if count == 1 else "deliveries"
    button = offer(Action.ops_retry_failed, since=int(since_at.timestamp()),
                   label=f"Retry {count} failed {plural}")  # fmt: skip
    return ChatMessage(
        title=f"{count} {plural} failed in the last {ago}",
        lines=("Nothing is sent until you press the button below.",),
        offers=(button,),
    )


def retried_failed(done: Retried) -> ChatMessage:
    what = {"deliveries": "delivery", "derivatives": "derivative"}.get(done.what, done.what)
    what = done.what if done.retried != 1 else what
    lines = [f"{done.refused} could not be retried:", *done.reasons] if done.refused else []
    return ChatMessage(title=f"Retried {done.retried} failed {what}", lines=tuple(lines))


def job_queued(queued: JobQueued) -> ChatMessage:
    return ChatMessage(
        title=f"{queued.job} is queued",
        lines=("A worker runs it in a moment; the incident's message changes if it clears.",),
    )


def incident_silenced(incident_id: int, until_at: datetime | None) -> ChatMessage:
    until = f"{until_at:%H:%M} UTC" if until_at else "later"
    return ChatMessage(title=f"Incident #{incident_id} is silenced until {until}",
                       lines=("Its message is edited, nothing new is sent about it until then.",))  # fmt: skip


# --- refusals --------------------------------------------------------------------------------------------------


def refusal(exc: DomainError) -> ChatMessage:
    """A core refusal as 'what happened; what to do', only for the person who asked."""
    lines = [_sentence(exc.message)]
    items: tuple[Item, ...] = ()
    if isinstance(exc, CommandUnclear):
        return unclear(exc, ChatPlatform.slack)
    if isinstance(exc, PostTimeInvalid):
        choices = exc.extra.get("choices") or []
        if choices:
            lines.append("Did you mean: " + " or ".join(_choice(c) for c in choices) + "?")
    if isinstance(exc, VenueUnclear):
        items = tuple(Item(f"`venue {v.name}` ({v.role.value})") for v in exc.options)
    if isinstance(exc, ConnectionUnclear):
        items = tuple(Item(f"{c.label} (connection {c.connection_id}): {words(c.status)}") for c in exc.choices)
    if exc.remedy:
        lines.append(f"What to do: {_sentence(exc.remedy)}")
    return ChatMessage(title=_title(exc), lines=tuple(lines), items=items, private=True)


def unclear(exc: CommandUnclear, platform: ChatPlatform) -> ChatMessage:
    """Input the grammar didn't take: what would work, written as it is typed on `platform` (Telegram: slashed)."""
    message, example = exc.message, exc.example
    if platform is ChatPlatform.telegram:
        for usage in USAGE.values():  # a syntax quoted whole ("Use: retry TARGET_ID"), never one already slashed
            message = re.sub(rf"(?<!/){re.escape(usage.syntax)}", _slashed(usage.syntax), message)
        message = message.replace(f"I understand: {', '.join(USAGE)}", f"I understand: /{', /'.join(USAGE)}")
        example = f"/{example}"
    lines = (_sentence(message), f"For example: {example}")
    return ChatMessage(title="I didn't understand that", lines=lines, private=True)


def _title(exc: DomainError) -> str:
    if isinstance(exc, PermissionDenied):
        return "You can't do that"
    if isinstance(exc, NotFound):
        return "Not found"
    if isinstance(exc, PostTimeInvalid):
        return "When should it go out?"
    if isinstance(exc, VenueUnclear):
        return "Which venue?"
    if isinstance(exc, Conflict):
        return "Can't do that now"
    return "That didn't work"


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _choice(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return f"'{value}'"
    return f"{moment:%a %d %b %H:%M}" + (f" (UTC{moment:%z})" if moment.tzinfo else "")


def _until(value: str) -> str:
    try:
        return f"{datetime.fromisoformat(value):%a %d %b %H:%M} UTC"
    except ValueError:
        return value
