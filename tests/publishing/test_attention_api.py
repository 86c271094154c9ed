"""A person's decisions over HTTP on deliveries CheersAI could not settle, against the Meta twin:
mark as published, publish again; both audited; refusals in plain words."""

from __future__ import annotations

from datetime import timedelta

import httpx

from core.runtime import Runtime
from storage.models import Connection, DeliveryStatus, Provider, Role
from storage.queries import claims as claims_q
from tests import factories
from tests.connections.browser import ConsentBrowser
from tests.connections.conftest import Twins
from tests.publishing.conftest import Drain
from tests.publishing.reconcile_support import clock, explain, only_delivery, place, reconcile, settings
from tests.publishing.support import schedule

__all__ = ["clock", "settings"]  # fixtures for this module


async def _doubtful(
    runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, twins: Twins, drain: Drain, *, ghost: bool
) -> tuple[int, Connection, int, factories.Person]:
    """A Facebook delivery in doubt: Facebook made the post (ghost) or nothing; (venue, page, target, editor)."""
    venue_id, page, _ = await place(runtime, client, browser, Provider.facebook, photo=False)
    if ghost:
        await twins.meta.commit_then_error(1, code=2)
    else:
        await twins.meta.server_error(1, code=2, path_contains="/feed")
    saved = await schedule(runtime, venue_id, [page.id], text="Beer festival this weekend")
    await drain()
    target = await only_delivery(runtime, saved.post.id)
    assert target.status is DeliveryStatus.in_doubt, explain(target)
    editor = await factories.person(runtime, venue_id=venue_id, role=Role.editor)
    return venue_id, page, target.id, editor


async def test_mark_published_records_the_link_and_who_decided_and_refuses_a_second_time(
    runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, twins: Twins, drain: Drain
) -> None:
    _, page, target_id, editor = await _doubtful(runtime, client, browser, twins, drain, ghost=True)
    [live] = await twins.meta.visible_posts(page.page_id)
    link = f"https://www.facebook.com/{live['id']}"  # what the manager copied from the Page
    r = await client.post(f"/api/targets/{target_id}/mark-published", json={"permalink": link}, headers=editor.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["target"]["status"], r.json()["target"]["permalink"]) == ("published", link), r.text
    target = await only_delivery(runtime, r.json()["target"]["post_id"])
    assert target.status is DeliveryStatus.published and "by a person" in (target.note or ""), explain(target)
    [entry] = await factories.audit_entries(runtime, "delivery_marked_published")
    assert (entry.actor_user_id, entry.subject_id) == (editor.user_id, str(target_id)), "who decided was not audited"
    assert entry.details["previous"] == "in_doubt", entry.details
    again = await client.post(f"/api/targets/{target_id}/mark-published", json={}, headers=editor.headers)
    assert again.status_code == 409 and "already live" in again.json()["detail"], again.text
    await reconcile(runtime)
    await drain()
    assert len(await twins.meta.visible_posts(page.page_id)) == 1, "a decided delivery was sent again"


async def test_publish_again_sends_it_once_and_is_audited(
    runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, twins: Twins, drain: Drain
) -> None:
    _, page, target_id, editor = await _doubtful(runtime, client, browser, twins, drain, ghost=False)
    first = await client.post(f"/api/targets/{target_id}/publish-again", headers=editor.headers)
    second = await client.post(f"/api/targets/{target_id}/publish-again", headers=editor.headers)
    assert (first.status_code, first.json()["changed"]) == (202, True), first.text
    assert (second.status_code, second.json()["changed"]) == (202, False), "pressed twice, queued twice"
    await drain()
    posts = await twins.meta.visible_posts(page.page_id)
    assert len(posts) == 1, f"expected exactly one post after 'publish again': {posts}"
    [entry] = await factories.audit_entries(runtime, "delivery_published_again")
    assert (entry.actor_user_id, entry.details["previous"]) == (editor.user_id, "in_doubt"), entry.details


async def test_decisions_are_refused_in_plain_words_where_they_do_not_apply(
    runtime: Runtime, client: httpx.AsyncClient, browser: ConsentBrowser, twins: Twins, drain: Drain
) -> None:
    venue_id, page, target_id, editor = await _doubtful(runtime, client, browser, twins, drain, ghost=False)
    later = await schedule(runtime, venue_id, [page.id], text="Next week", when="2099-01-01T12:00")
    scheduled = await client.post(f"/api/targets/{later.targets[0].id}/mark-published", json={}, headers=editor.headers)
    assert scheduled.status_code == 409 and "cannot be marked as published" in scheduled.json()["detail"]
    bad_link = await client.post(
        f"/api/targets/{target_id}/mark-published", json={"permalink": "http://x.example/1"}, headers=editor.headers
    )
    assert bad_link.status_code == 422 and bad_link.json()["field"] == "permalink", bad_link.text
    stranger = await factories.person(runtime, venue_id=await factories.venue(runtime), role=Role.owner)
    for action in ("mark-published", "publish-again"):
        r = await client.post(f"/api/targets/{target_id}/{action}", json={}, headers=stranger.headers)
        assert r.status_code == 404, f"{action} on another venue's delivery: {r.status_code} {r.text}"
    async with runtime.uow() as uow:  # a reconciliation check holds it right now
        now = runtime.clock.now()
        assert await claims_q.claim_in_doubt(uow.session, now=now, lease_until=now + timedelta(minutes=3), limit=5)
        await uow.commit()
    busy = await client.post(f"/api/targets/{target_id}/publish-again", headers=editor.headers)
    assert busy.status_code == 409 and "checking" in busy.json()["detail"], busy.text
    assert (await only_delivery(runtime, later.post.id)).status is DeliveryStatus.scheduled
    assert await twins.meta.visible_posts(page.page_id) == [], "a refusal sent something"
