"""What a notification offers to do, as the API shows it: each action with the method and URL that perform it."""

from __future__ import annotations

import json
from typing import Any

import httpx

from api.app import create_app
from api.links import CHAT_ONLY, ENDPOINTS
from core.notifications.actions import Action, Offer
from core.notifications.kinds import NotificationKind, offers_for
from core.runtime import Runtime
from storage.models import Severity
from tests import factories

FEED = "/api/notifications"


def shown(actions: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(a["action"], a["method"], a["url"]) for a in actions]


async def test_feed_and_export_give_each_offered_action_the_url_that_performs_it(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=venue)
    await factories.record_notification(
        runtime,
        venue,
        kind=NotificationKind.publish_needs_attention,
        severity=Severity.error,
        subject={"target_id": 41, "connection_id": 7},
        actions=offers_for(NotificationKind.publish_needs_attention, target_id=41),
    )
    await factories.record_notification(
        runtime,
        venue,
        kind=NotificationKind.connection_needs_reconnect,
        severity=Severity.error,
        subject={"connection_id": 7},
        actions=offers_for(NotificationKind.connection_needs_reconnect, connection_id=7),
    )
    expected = {
        "publish_needs_attention": [
            ("mark_published", "POST", f"/api/targets/41/mark-published?account={venue}"),
            ("publish_again", "POST", f"/api/targets/41/publish-again?account={venue}"),
            ("manual_package", "GET", f"/api/targets/41/package?account={venue}"),
        ],
        "connection_needs_reconnect": [
            ("reconnect", "POST", f"/api/connections/7/reconnect?account={venue}"),
            ("diagnose", "POST", f"/api/connections/7/diagnose?account={venue}"),
        ],
    }

    r = await client.get(FEED, headers=me.headers)
    assert r.status_code == 200, r.text
    feed = {i["kind"]: shown(i["payload"]["actions"]) for i in r.json()["items"]}
    assert feed == expected, f"the feed should show each action with its link: {feed}"
    labels = [a["label"] for i in r.json()["items"] for a in i["payload"]["actions"]]
    assert all(labels), f"every action should carry a label a person can read: {labels}"

    r = await client.get("/api/notifications/export", params={"format": "jsonl"}, headers=me.headers)
    assert r.status_code == 200, r.text
    exported = {rec["kind"]: shown(rec["payload"]["actions"]) for rec in map(json.loads, r.text.splitlines())}
    assert exported == expected, f"the export should show the same links as the feed: {exported}"


async def test_stored_offers_name_ids_not_paths(runtime: Runtime) -> None:
    venue = await factories.venue(runtime)
    recorded = await factories.record_notification(
        runtime,
        venue,
        kind=NotificationKind.publish_failed,
        severity=Severity.error,
        actions=offers_for(NotificationKind.publish_failed, target_id=5),
    )
    assert recorded is not None
    stored = recorded.payload["actions"]
    assert [Offer.from_payload(a).action for a in stored] == [Action.retry, Action.manual_package], stored
    assert not any("url" in a or "/api/" in json.dumps(a) for a in stored), f"a path leaked into storage: {stored}"


async def test_every_action_links_to_an_endpoint_the_api_serves(runtime: Runtime) -> None:
    missing_endpoints = set(Action) - set(ENDPOINTS) - CHAT_ONLY
    assert not missing_endpoints, f"actions without an API endpoint: {missing_endpoints}"
    assert not set(ENDPOINTS) & CHAT_ONLY, "an action is either chat-only or has an endpoint"
    paths = create_app(runtime=runtime, configure_logs=False).openapi_schema.paths or {}
    missing = [
        f"{e.method} {e.path}"
        for e in ENDPOINTS.values()
        if e.path not in paths or getattr(paths[e.path], e.method.lower(), None) is None
    ]
    assert not missing, f"these action links point at no route: {missing}"
