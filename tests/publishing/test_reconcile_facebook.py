"""Facebook deliveries in doubt, reconciled against the Meta twin over HTTP: the Page's recent posts are
matched by text and time; found → published, absent (after the listing delay) → sent exactly once more,
two identical posts → a person decides."""

from __future__ import annotations

import asyncio

import httpx

from core.clock import FrozenClock
from core.connections.lifecycle import credentials
from core.publishing.reconcile import reconcile_in_doubt
from core.runtime import Runtime
from storage.models import Connection, DeliveryStatus, Provider
from tests.connections.browser import ConsentBrowser
from tests.connections.conftest import Twins
from tests.publishing.conftest import Drain
from tests.publishing.reconcile_support import clock, explain, only_delivery, place, reconcile, settings
from tests.publishing.support import attempts, notifications_of, schedule

__all__ = ["clock", "settings"]  # fixtures for this module


async def _in_doubt(runtime: Runtime, drain: Drain, venue_id: int, page: Connection, text: str, **draft: object) -> int:
    saved = await schedule(runtime, venue_id, [page.id], text=text, **draft)
    await drain()
    target = await only_delivery(runtime, saved.post.id)
    assert target.status is DeliveryStatus.in_doubt, f"the lost answer did not leave it in doubt: {explain(target)}"
    return saved.post.id


async def test_ghost_success_is_found_on_the_page_and_marked_published_with_facebooks_id(
    runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, twins: Twins, drain: Drain
) -> None:
    venue_id, page, photo = await place(runtime, client, browser, Provider.facebook)
    await twins.meta.commit_then_error(1, code=2)  # Facebook creates the photo post, then answers 500
    post_id = await _in_doubt(
        runtime, drain, venue_id, page, "Sunday roast  from 12", media_ids=[photo], link="https://redlion.example/roast"
    )
    result = await reconcile(runtime)
    target = await only_delivery(runtime, post_id)
    [live] = await twins.meta.visible_posts(page.page_id)
    assert target.status is DeliveryStatus.published, f"the post Facebook has was not found: {explain(target)}"
    assert target.external_id == live["id"], "published under an id Facebook does not know"
    assert target.permalink and target.permalink.startswith("https://www.facebook.com/"), target.permalink
    assert "Found on" in (target.note or ""), target.note
    assert result["found"] == 1, result
    check = (await attempts(runtime, target.id))[-1]
    assert [e["step"] for e in check.exchanges] == ["reconcile: recent posts"], "the check's snapshot was not kept"
    token = credentials(page, runtime.cipher()).access_token
    assert token and token not in str(check.exchanges), "the Page token leaked into the snapshot"
    await drain()
    assert len(await twins.meta.visible_posts(page.page_id)) == 1, "reconciling made a second post"
    assert len(await notifications_of(runtime, venue_id, "publish_succeeded")) == 1


async def test_nothing_on_the_page_is_sent_again_exactly_once_after_the_listing_delay(
    runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, twins: Twins, drain: Drain, clock: FrozenClock
) -> None:
    venue_id, page, _ = await place(runtime, client, browser, Provider.facebook, photo=False)
    await twins.meta.server_error(1, code=2, path_contains="/feed")  # 500 after sending; nothing is created
    post_id = await _in_doubt(runtime, drain, venue_id, page, "Quiz night from 8")
    await reconcile(runtime)
    await drain()
    target = await only_delivery(runtime, post_id)
    assert target.status is DeliveryStatus.in_doubt, f"absent before Facebook could list it: {explain(target)}"
    assert await twins.meta.visible_posts(page.page_id) == [], "sent again before the listing delay"
    clock.advance(seconds=61)
    result = await reconcile(runtime)
    assert result["absent"] == 1, result
    assert (await only_delivery(runtime, post_id)).status is DeliveryStatus.scheduled
    await drain()
    await reconcile(runtime)
    await drain()
    target = await only_delivery(runtime, post_id)
    posts = await twins.meta.visible_posts(page.page_id)
    assert target.status is DeliveryStatus.published, explain(target)
    assert [p["id"] for p in posts] == [target.external_id], f"expected exactly one post on the Page: {posts}"


async def test_two_identical_posts_in_the_window_need_a_person_with_both_decisions_offered(
    runtime: Runtime,
    client: httpx.AsyncClient,
    browser: ConsentBrowser,
    network: httpx.AsyncClient,
    twins: Twins,
    drain: Drain,
) -> None:
    venue_id, page, _ = await place(runtime, client, browser, Provider.facebook, photo=False)
    await twins.meta.publishing(duplicate_code=0)  # this Page accepts the same text twice
    await twins.meta.commit_then_error(1, code=2)
    post_id = await _in_doubt(runtime, drain, venue_id, page, "Live music Friday")
    token = credentials(page, runtime.cipher()).access_token
    by_hand = await network.post(  # someone posts the same words straight on the Page meanwhile
        f"{twins.meta_url}/{page.page_id}/feed",
        data={"message": "Live music Friday"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert by_hand.status_code == 200, by_hand.text
    await reconcile(runtime)
    await drain()
    target = await only_delivery(runtime, post_id)
    assert target.status is DeliveryStatus.needs_attention, f"guessed between two posts: {explain(target)}"
    assert target.remedy and "Mark as published" in target.remedy and "Publish again" in target.remedy
    [alert] = await notifications_of(runtime, venue_id, "publish_needs_attention")
    offered = [(a["action"], a["target_id"]) for a in alert.payload["actions"]]
    decisions = [("mark_published", target.id), ("publish_again", target.id), ("manual_package", target.id)]
    assert offered == decisions, f"both decisions (and the package) should be offered on this delivery: {alert.payload}"
    assert len(alert.payload["candidates"]) == 2, alert.payload
    await reconcile(runtime)
    assert len(await twins.meta.visible_posts(page.page_id)) == 2, "CheersAI posted a third copy"


async def test_two_checkers_at_once_check_a_delivery_only_once(
    runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, twins: Twins, drain: Drain
) -> None:
    venue_id, page, _ = await place(runtime, client, browser, Provider.facebook, photo=False)
    await twins.meta.commit_then_error(1, code=2)
    post_id = await _in_doubt(runtime, drain, venue_id, page, "Steak night")
    results = await asyncio.gather(reconcile_in_doubt(runtime), reconcile_in_doubt(runtime))
    assert sum(r["checked"] for r in results) == 1, f"both checkers took the delivery: {results}"
    target = await only_delivery(runtime, post_id)
    checks = [a for a in await attempts(runtime, target.id) if a.worker.startswith("reconcile")]
    assert target.status is DeliveryStatus.published and len(checks) == 1, explain(target)
