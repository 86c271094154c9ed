"""The API's one map from a notification's offered actions to the endpoints that perform them.

Core stores offers as an action plus ids (core.notifications.actions); only the HTTP front door knows paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.notifications.actions import Action, Offer
from storage.models import Notification


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # a template over the offer's target_id / connection_id / post_id


ENDPOINTS: dict[Action, Endpoint] = {
    Action.retry: Endpoint("POST", "/api/targets/{target_id}/retry"),
    Action.manual_package: Endpoint("GET", "/api/targets/{target_id}/package"),
    Action.mark_published: Endpoint("POST", "/api/targets/{target_id}/mark-published"),
    Action.publish_again: Endpoint("POST", "/api/targets/{target_id}/publish-again"),
    Action.reconnect: Endpoint("POST", "/api/connections/{connection_id}/reconnect"),
    Action.diagnose: Endpoint("POST", "/api/connections/{connection_id}/diagnose"),
    Action.approve: Endpoint("POST", "/api/posts/{post_id}/approve"),
    Action.reject: Endpoint("POST", "/api/posts/{post_id}/reject"),
    Action.edit: Endpoint("PATCH", "/api/posts/{post_id}"),
}

# Performed in chat only: skip acts on a weekly slot's date (the API edits or cancels the post instead) and
# Approve all on a chat message (the API approves post by post); the ops_* buttons sit on incidents in ops chats,
# never in a venue's feed (staff use `cheers incidents` and /api/ops/incidents instead).
CHAT_ONLY = frozenset(
    {
        Action.skip,
        Action.approve_all,
        Action.ops_run_job,
        Action.ops_retry_failed,
        Action.ops_silence,
        Action.ops_runbook,
    }
)


def link(offer: Offer, account_id: int) -> tuple[str, str]:
    """The method and URL that perform `offer` in venue `account_id` (named, so it works for people in several)."""
    endpoint = ENDPOINTS.get(offer.action)
    if endpoint is None:  # a chat-only action (skip, approve_all): shown as stored
        raise ValueError(f"the API has no endpoint for {offer.action}")
    path = endpoint.path.format(target_id=offer.target_id, connection_id=offer.connection_id, post_id=offer.post_id)
    return endpoint.method, f"{path}?account={account_id}"


def payload_with_links(notification: Notification) -> dict[str, Any]:
    """The stored payload with `method` and `url` beside each offered action."""
    actions = notification.payload.get("actions")
    if not isinstance(actions, list):
        return notification.payload
    rendered: list[Any] = []
    for raw in actions:
        try:
            method, url = link(Offer.from_payload(raw), notification.account_id)
        except (ValueError, TypeError, AttributeError):
            rendered.append(raw)  # not an offer this version knows: shown as stored rather than hidden
            continue
        rendered.append({**raw, "method": method, "url": url})
    return {**notification.payload, "actions": rendered}
