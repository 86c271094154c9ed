"""Every kind of notification CheersAI records, who it is for, how serious it usually is and what it offers.

The one table the front doors read (Slack, Telegram, the API feed) and docs/notifications.md describes;
tests/core/test_notification_kinds.py keeps the two in step.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import Invalid
from core.notifications.actions import Action, Offer, offer
from storage.models import Severity


class NotificationKind(enum.StrEnum):
    """What happened; stored as its value in `notifications.kind`."""

    publish_succeeded = "publish_succeeded"
    publish_failed = "publish_failed"
    publish_missed = "publish_missed"
    publish_in_doubt = "publish_in_doubt"
    publish_needs_attention = "publish_needs_attention"
    connection_needs_reconnect = "connection_needs_reconnect"
    connection_expiring = "connection_expiring"
    connection_revoked = "connection_revoked"
    connection_metadata_updated = "connection_metadata_updated"
    derivative_failed = "derivative_failed"
    derivative_skipped = "derivative_skipped"
    queue_stalled = "queue_stalled"
    chat_alerts_stopped = "chat_alerts_stopped"
    weekly_materialised = "weekly_materialised"
    approval_requested = "approval_requested"
    approval_decided = "approval_decided"


class Audience(enum.StrEnum):
    """Who a kind is meant for when a front door fans it out (the feed shows every kind to the whole venue)."""

    admins = "admins"  # the venue's owners and admins: they hold the connections
    team = "team"  # everyone in the venue
    on_call = "on_call"  # the service's staff and on-call, besides the venue's feed
    author = "author"  # the post's author (subject["author_user_id"]): their private chat, besides the venue's feed


@dataclass(frozen=True)
class KindInfo:
    """A kind's usual severity, its audience, the actions it offers (in order) and when it is raised."""

    severity: Severity
    audience: Audience
    offers: tuple[Action, ...]
    summary: str


KINDS: dict[NotificationKind, KindInfo] = {
    NotificationKind.publish_succeeded: KindInfo(
        Severity.info, Audience.team, (), "a delivery went live (once per delivery)"
    ),
    NotificationKind.publish_failed: KindInfo(
        Severity.error,
        Audience.team,
        (Action.retry, Action.manual_package),
        "a delivery failed for good: refused by the platform, broken media, a disconnected connection, "
        "or passing failures past the retry limit",
    ),
    NotificationKind.publish_missed: KindInfo(
        Severity.warning,
        Audience.team,
        (Action.retry, Action.manual_package),
        "a delivery could not go out before its freshness cutoff",
    ),
    NotificationKind.publish_in_doubt: KindInfo(
        Severity.error,
        Audience.team,
        (Action.manual_package,),
        "the request was sent but its answer was lost; CheersAI checks the platform before anything is re-sent",
    ),
    NotificationKind.publish_needs_attention: KindInfo(
        Severity.error,
        Audience.team,
        (Action.mark_published, Action.publish_again, Action.manual_package),
        "CheersAI cannot tell whether a delivery in doubt went out: a person decides",
    ),
    NotificationKind.connection_needs_reconnect: KindInfo(
        Severity.error,
        Audience.admins,
        (Action.reconnect, Action.diagnose),
        "a connection's access is gone (expired, withdrawn or missing a permission)",
    ),
    NotificationKind.connection_expiring: KindInfo(
        Severity.warning,
        Audience.admins,
        (Action.reconnect, Action.diagnose),
        "a Facebook connection's access lapses in 7, 3 or 1 days (error on the last day)",
    ),
    NotificationKind.connection_revoked: KindInfo(
        Severity.error,
        Audience.admins,
        (Action.reconnect, Action.diagnose),
        "Meta told us the person removed CheersAI, or asked for their data to be deleted",
    ),
    NotificationKind.connection_metadata_updated: KindInfo(
        Severity.info,
        Audience.admins,
        (),
        "a reconnect or the metadata backfill changed a connection's ids, scopes or expiry",
    ),
    NotificationKind.derivative_failed: KindInfo(
        Severity.error,
        Audience.team,
        (),
        "a photo or video could not be prepared: the file was refused, or it still failed after the last try",
    ),
    NotificationKind.derivative_skipped: KindInfo(
        Severity.warning,
        Audience.team,
        (),
        "a video is used as uploaded because the video tools (ffmpeg) are missing",
    ),
    NotificationKind.queue_stalled: KindInfo(
        Severity.error,
        Audience.on_call,
        (),
        "posts are due and nothing picks them up (no worker, or workers not claiming)",
    ),
    NotificationKind.chat_alerts_stopped: KindInfo(
        Severity.warning,
        Audience.admins,
        (),
        "a chat stopped getting alerts: the channel is gone (archived, deleted, bot removed) or the bot's install "
        "was revoked",
    ),
    NotificationKind.weekly_materialised: KindInfo(
        Severity.info,
        Audience.team,
        (Action.approve_all, Action.edit, Action.skip),
        "materialise-weekly made or changed the venue's posts for the coming week from its weekly plan, or could "
        "not make a slot (warning: says why and how to fix)",
    ),
    NotificationKind.approval_requested: KindInfo(
        Severity.warning,
        Audience.admins,
        (Action.approve, Action.reject, Action.edit),
        "a post waits for approval by an admin or owner (by an editor, or from the weekly plan, when the venue asks)",
    ),
    NotificationKind.approval_decided: KindInfo(
        Severity.info,
        Audience.author,
        (),
        "an admin or owner approved or rejected (with the reason) a post that waited for approval",
    ),
}


def info(kind: NotificationKind) -> KindInfo:
    """The table's entry for a kind."""
    return KINDS[kind]


def offers_for(
    kind: NotificationKind,
    *,
    target_id: int | None = None,
    connection_id: int | None = None,
    post_id: int | None = None,
) -> list[Offer]:
    """Every action the kind offers, on the given delivery, connection and/or post, in the table's order."""
    return [
        offer(action, target_id=target_id, connection_id=connection_id, post_id=post_id)
        for action in KINDS[kind].offers
    ]


def parse_kinds(values: Sequence[str] | None) -> list[NotificationKind] | None:
    """A filter's kinds checked against the enum; an unknown one is refused, naming the valid ones."""
    if not values:
        return None
    unknown = [v for v in values if v not in NotificationKind._value2member_map_]
    if unknown:
        raise Invalid(
            f"unknown notification kind {', '.join(repr(v) for v in unknown)}; "
            f"valid kinds: {', '.join(k.value for k in NotificationKind)}",
            field="kind",
            valid=[k.value for k in NotificationKind],
        )
    return [NotificationKind(v) for v in values]
