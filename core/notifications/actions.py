"""What a notification offers a person to do next, chat-neutral: the action and the ids it acts on.

An offer names no URL or button: each front door renders it (the API as a link, Slack as a button,
Telegram as a keyboard key) and performs it through the core use-case the action names.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any


class Action(enum.StrEnum):
    """One thing a person can do from a notification; each maps onto one existing core use-case."""

    retry = "retry"  # core.publishing.actions.retry_target (needs target_id)
    reconnect = "reconnect"  # core.connections.oauth.start for the connection (needs connection_id)
    manual_package = "manual_package"  # core.publishing.packages.package_link (needs target_id)
    mark_published = "mark_published"  # core.publishing.actions.mark_published (needs target_id)
    publish_again = "publish_again"  # core.publishing.actions.publish_again (needs target_id)
    diagnose = "diagnose"  # core.connections.lifecycle.diagnose (needs connection_id)
    approve = "approve"  # core.posts.approval.approve (needs post_id)
    reject = "reject"  # core.posts.approval.reject, with a reason asked of the clicker (needs post_id)
    edit = "edit"  # shows the post's text and time with the `edit` commands that change them (needs post_id)
    skip = "skip"  # core.weekly.materialise.skip: this week's post of a slot is not made (needs post_id)
    # Approves every post of a weekly_materialised notification still pending (needs notification_id; stored
    # without it, as the notification's id is only known once recorded: front doors bind it when they render).
    approve_all = "approve_all"
    # Service incidents in ops chats (staff only, core.ops.actions; need incident_id), and a link to the runbook.
    ops_run_job = "ops_run_job"  # core.ops.actions.run_now: the incident's job, queued for a worker
    ops_retry_failed = "ops_retry_failed"  # core.ops.actions.retry_failed: the failed deliveries or derivatives
    ops_silence = "ops_silence"  # core.ops.incidents.silence for CHEERS_OPS_SILENCE_MINUTES
    ops_runbook = "ops_runbook"  # a link (needs url): the incident's section of the runbook


# Which id each action acts on: an offer without it could not be performed.
TARGET_ACTIONS = frozenset({Action.retry, Action.manual_package, Action.mark_published, Action.publish_again})
CONNECTION_ACTIONS = frozenset({Action.reconnect, Action.diagnose})
POST_ACTIONS = frozenset({Action.approve, Action.reject, Action.edit, Action.skip})
NOTIFICATION_ACTIONS = frozenset({Action.approve_all})
INCIDENT_ACTIONS = frozenset({Action.ops_run_job, Action.ops_retry_failed, Action.ops_silence})
# Retry failed also stands alone, as the confirmation `retry failed since 1h` offers: then it names `since`.
SINCE_ACTIONS = frozenset({Action.ops_retry_failed})
LINK_ACTIONS = frozenset({Action.ops_runbook})

LABELS: dict[Action, str] = {
    Action.retry: "Retry",
    Action.reconnect: "Reconnect",
    Action.manual_package: "Download the manual package",
    Action.mark_published: "It is there: mark as published",
    Action.publish_again: "It is not there: publish again",
    Action.diagnose: "Diagnose",
    Action.approve: "Approve",
    Action.reject: "Reject",
    Action.edit: "Edit",
    Action.skip: "Skip",
    Action.approve_all: "Approve all",
    Action.ops_run_job: "Run now",
    Action.ops_retry_failed: "Retry failed",
    Action.ops_silence: "Silence 1 h",
    Action.ops_runbook: "Runbook",
}


@dataclass(frozen=True)
class Offer:
    """An action offered on one notification, with the ids it needs (never a path: front doors build those)."""

    action: Action
    label: str
    target_id: int | None = None
    connection_id: int | None = None
    post_id: int | None = None
    notification_id: int | None = None  # approve_all: None in storage means "the notification carrying it"
    incident_id: int | None = None  # the ops_* actions: the incident they act on
    url: str | None = None  # a link offer (ops_runbook): front doors render it as a link button, no click comes back
    since: int | None = None  # ops_retry_failed without an incident: what failed since this Unix time (seconds)

    def __post_init__(self) -> None:
        if self.action in TARGET_ACTIONS and self.target_id is None:
            raise ValueError(f"the {self.action} offer needs a target_id")
        if self.action in CONNECTION_ACTIONS and self.connection_id is None:
            raise ValueError(f"the {self.action} offer needs a connection_id")
        if self.action in POST_ACTIONS and self.post_id is None:
            raise ValueError(f"the {self.action} offer needs a post_id")
        if (
            self.action in INCIDENT_ACTIONS
            and self.incident_id is None
            and not (self.action in SINCE_ACTIONS and self.since is not None)
        ):
            raise ValueError(f"the {self.action} offer needs an incident_id")
        if self.action in LINK_ACTIONS and not self.url:
            raise ValueError(f"the {self.action} offer needs a url")

    @property
    def performable(self) -> bool:
        """Whether it names every id its action needs (an approve_all not yet bound to its notification does not)."""
        return self.action not in NOTIFICATION_ACTIONS or self.notification_id is not None

    def bound_to(self, notification_id: int) -> Offer:
        """This offer as shown on notification `notification_id`: an approve_all gets the id it acts on."""
        if self.action in NOTIFICATION_ACTIONS and self.notification_id is None:
            return replace(self, notification_id=notification_id)
        return self

    def to_payload(self) -> dict[str, Any]:
        """The JSON-safe form stored in `payload["actions"]`; newer ids only when set, so old readers see no change."""
        stored: dict[str, Any] = {
            "action": self.action.value,
            "label": self.label,
            "target_id": self.target_id,
            "connection_id": self.connection_id,
        }
        if self.post_id is not None:
            stored["post_id"] = self.post_id
        if self.notification_id is not None:
            stored["notification_id"] = self.notification_id
        if self.incident_id is not None:
            stored["incident_id"] = self.incident_id
        if self.url is not None:
            stored["url"] = self.url
        if self.since is not None:
            stored["since"] = self.since
        return stored

    @classmethod
    def from_payload(cls, data: Mapping[str, Any], *, notification_id: int | None = None) -> Offer:
        """Read a stored offer back (bound to `notification_id` when given: the notification it was stored on);
        ValueError when it names no known action or lacks the id it needs."""
        try:
            action = Action(data["action"])
        except (KeyError, ValueError) as exc:
            raise ValueError(f"not a notification action: {data.get('action')!r}") from exc
        read = cls(
            action=action,
            label=str(data.get("label") or LABELS[action]),
            target_id=_optional_id(data.get("target_id")),
            connection_id=_optional_id(data.get("connection_id")),
            post_id=_optional_id(data.get("post_id")),
            notification_id=_optional_id(data.get("notification_id")),
            incident_id=_optional_id(data.get("incident_id")),
            url=str(data["url"]) if data.get("url") else None,
            since=_optional_id(data.get("since")),
        )
        return read if notification_id is None else read.bound_to(notification_id)


def offer(
    action: Action,
    *,
    target_id: int | None = None,
    connection_id: int | None = None,
    post_id: int | None = None,
    notification_id: int | None = None,
    incident_id: int | None = None,
    url: str | None = None,
    since: int | None = None,
    label: str | None = None,
) -> Offer:
    """An offer with the action's usual label (or `label`, e.g. "Skip Quiz night")."""
    return Offer(
        action,
        label or LABELS[action],
        target_id=target_id,
        connection_id=connection_id,
        post_id=post_id,
        notification_id=notification_id,
        incident_id=incident_id,
        url=url,
        since=since,
    )


def approval_offers(post_id: int) -> list[Offer]:
    """What an approver is offered on a post waiting for approval: Approve, Reject (with a reason), Edit."""
    return [
        offer(Action.approve, post_id=post_id),
        offer(Action.reject, post_id=post_id),
        offer(Action.edit, post_id=post_id),
    ]


def week_offers() -> list[Offer]:
    """The offers on the whole week's message: Approve all (bound to the notification when rendered)."""
    return [offer(Action.approve_all)]


def post_offers(post_id: int, *, pending: bool) -> list[Offer]:
    """The offers on one post of the week's message: Approve while it waits for approval, then Edit and Skip."""
    offers = [offer(Action.approve, post_id=post_id)] if pending else []
    return [*offers, offer(Action.edit, post_id=post_id), offer(Action.skip, post_id=post_id)]


def post_offers_payload(post_id: int, *, pending: bool) -> list[dict[str, Any]]:
    """`post_offers` as stored in a weekly_materialised payload's post entry (`posts[i]["actions"]`)."""
    return [o.to_payload() for o in post_offers(post_id, pending=pending)]


def _optional_id(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"an offer's ids are integers, got {value!r}")
    return value
