"""Business Profile deliveries in doubt, reconciled against the Google twin over HTTP: the location's
recent local posts are matched by summary and createTime."""

from __future__ import annotations

import httpx

from core.clock import FrozenClock
from core.runtime import Runtime
from sandbox.google.twin import POSTS_API
from storage.models import DeliveryStatus, Provider
from tests.connections.browser import ConsentBrowser
from tests.connections.conftest import Twins
from tests.publishing.conftest import Drain
from tests.publishing.reconcile_support import clock, explain, only_delivery, place, reconcile, settings
from tests.publishing.support import notifications_of, schedule

__all__ = ["clock", "settings"]  # fixtures for this module

LOCATION_ID = "2001"


async def _in_doubt(runtime: Runtime, drain: Drain, venue_id: int, connection_id: int, text: str) -> int:
    saved = await schedule(runtime, venue_id, [connection_id], text=text)
    await drain()
    target = await only_delivery(runtime, saved.post.id)
    assert target.status is DeliveryStatus.in_doubt, f"the lost answer did not leave it in doubt: {explain(target)}"
    return saved.post.id


async def test_post_google_made_before_answering_500_is_found_live_and_published_with_its_name(
    runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, twins: Twins, drain: Drain, clock: FrozenClock
) -> None:
    venue_id, location, _ = await place(runtime, client, browser, Provider.google_business, photo=False)
    await twins.google.commit_then_error(1, status=500)
    post_id = await _in_doubt(runtime, drain, venue_id, location.id, "Curry club tonight")
    clock.advance(seconds=16)  # Google has reviewed it: LIVE
    result = await reconcile(runtime)
    target = await only_delivery(runtime, post_id)
    [made] = await twins.google.local_posts(LOCATION_ID)
    assert target.status is DeliveryStatus.published, f"Google's post was not found: {explain(target)}"
    assert target.external_id == made.name, "published under a name Google does not know"
    assert target.permalink == made.resource["searchUrl"], target.permalink
    assert result["found"] == 1, result
    await drain()
    assert await twins.google.visible_post_count(LOCATION_ID) == 1, "reconciling posted it twice"
    assert len(await notifications_of(runtime, venue_id, "publish_succeeded")) == 1


async def test_post_found_still_in_review_is_followed_to_live_without_posting_again(
    runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, twins: Twins, drain: Drain, clock: FrozenClock
) -> None:
    venue_id, location, _ = await place(runtime, client, browser, Provider.google_business, photo=False)
    await twins.google.commit_then_error(1, status=500)
    post_id = await _in_doubt(runtime, drain, venue_id, location.id, "Pie night")
    await reconcile(runtime)  # straight away: Google still reviews it
    target = await only_delivery(runtime, post_id)
    assert target.status is DeliveryStatus.processing and target.committed, explain(target)
    clock.advance(seconds=31)
    await drain()
    target = await only_delivery(runtime, post_id)
    [made] = await twins.google.local_posts(LOCATION_ID)
    assert target.status is DeliveryStatus.published and target.external_id == made.name, explain(target)
    assert len(await twins.google.received_post_bodies(LOCATION_ID)) == 1, "the post was sent to Google twice"


async def test_nothing_at_the_location_is_sent_again_exactly_once(
    runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, twins: Twins, drain: Drain, clock: FrozenClock
) -> None:
    venue_id, location, _ = await place(runtime, client, browser, Provider.google_business, photo=False)
    await twins.google.server_error(1, status=500, apis=[POSTS_API])  # after sending; nothing is made
    post_id = await _in_doubt(runtime, drain, venue_id, location.id, "Quiz from 8")
    await reconcile(runtime)
    assert (await only_delivery(runtime, post_id)).status is DeliveryStatus.in_doubt, "absent before Google could list"
    clock.advance(seconds=61)
    result = await reconcile(runtime)
    assert result["absent"] == 1, result
    await drain()
    clock.advance(seconds=31)
    await drain()
    await reconcile(runtime)
    target = await only_delivery(runtime, post_id)
    assert target.status is DeliveryStatus.published, explain(target)
    assert await twins.google.visible_post_count(LOCATION_ID) == 1, "expected exactly one post at the location"
