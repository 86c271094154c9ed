"""What a notification offers a person to do next, chat-neutral: the action and the ids it acts on.

An offer names no URL or button: each front door renders it (the API as a link, Slack as a button,
Telegram as a keyboard key) and performs it through the core use-case the action names.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class Action(enum.StrEnum):
    """One thing a person can do from a notification; each maps onto one existing core use-case."""

    retry = "retry"  # core.publishing.actions.retry_target (needs target_id)
    reconnect = "reconnect"  # core.connections.oauth.start for the connection (needs connection_id)
    manual_package = "manual_package"  # core.publishing.packages.package_link (needs target_id)
    mark_published = "mark_published"  # core.publishing.actions.mark_published (needs target_id)
    publish_again = "publish_again"  # core.publishing.actions.publish_again (needs target_id)
    diagnose = "diagnose"  # core.connections.lifecycle.diagnose (needs connection_id)


# Which id each action acts on: an offer without it could not be performed.
TARGET_ACTIONS = frozenset({Action.retry, Action.manual_package, Action.mark_published, Action.publish_again})
CONNECTION_ACTIONS = frozenset({Action.reconnect, Action.diagnose})

LABELS: dict[Action, str] = {
    Action.retry: "Retry",
    Action.reconnect: "Reconnect",
    Action.manual_package: "Download the manual package",
    Action.mark_published: "It is there: mark as published",
    Action.publish_again: "It is not there: publish again",
    Action.diagnose: "Diagnose",
}


@dataclass(frozen=True)
class Offer:
    """An action offered on one notification, with the ids it needs (never a path: front doors build those)."""

    action: Action
    label: str
    target_id: int | None = None
    connection_id: int | None = None

    def __post_init__(self) -> None:
        if self.action in TARGET_ACTIONS and self.target_id is None:
            raise ValueError(f"the {self.action} offer needs a target_id")
        if self.action in CONNECTION_ACTIONS and self.connection_id is None:
            raise ValueError(f"the {self.action} offer needs a connection_id")

    def to_payload(self) -> dict[str, Any]:
        """The JSON-safe form stored in `payload["actions"]`."""
        return {
            "action": self.action.value,
            "label": self.label,
            "target_id": self.target_id,
            "connection_id": self.connection_id,
        }

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> Offer:
        """Read a stored offer back; ValueError when it names no known action or lacks the id it needs."""
        try:
            action = Action(data["action"])
        except (KeyError, ValueError) as exc:
            raise ValueError(f"not a notification action: {data.get('action')!r}") from exc
        return cls(
            action=action,
            label=str(data.get("label") or LABELS[action]),
            target_id=_optional_id(data.get("target_id")),
            connection_id=_optional_id(data.get("connection_id")),
        )


def offer(action: Action, *, target_id: int | None = None, connection_id: int | None = None) -> Offer:
    """An offer with the action's usual label."""
    return Offer(action, LABELS[action], target_id=target_id, connection_id=connection_id)


def _optional_id(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"an offer's ids are integers, got {value!r}")
    return value
