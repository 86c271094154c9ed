"""Reconciling a Business Profile delivery in doubt: find its local post among the location's recent ones.

localPosts.create has no idempotency key, so after a lost answer the location's newest posts (every
state, newest first) are matched by summary and createTime. A match that is LIVE is found; one still in
review (or rejected) goes back to the engine, which follows its state exactly as after a normal create.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from providers.base import StoredCredentials
from providers.publishing import Recorder
from providers.reconcile import Candidate, Continue, Found, InDoubt, Verdict, judge, parse_time

if TYPE_CHECKING:
    from providers.google.adapter import GoogleBusinessAdapter

RECENT_LIMIT = 100  # one page of localPosts.list; more posts than this in one window cannot be checked


async def reconcile_local_post(
    adapter: GoogleBusinessAdapter, credentials: StoredCredentials, doubt: InDoubt, recorder: Recorder
) -> Verdict:
    """Found (LIVE), Continue (in review or rejected: the engine reads its state), or why none matched."""
    posts = await adapter.recent_posts(credentials, limit=RECENT_LIMIT, recorder=recorder)
    candidates = [
        Candidate(
            str(p.get("name") or ""),
            str(p.get("summary") or ""),
            parse_time(p.get("createTime")),
            str(p["searchUrl"]) if p.get("searchUrl") else None,
            str(p.get("state") or ""),
        )
        for p in posts
        if p.get("name")
    ]
    # Newest first: the list covers the window unless it is full and its oldest post is still inside it.
    oldest = candidates[-1].created_at if candidates else None
    complete = len(posts) < RECENT_LIMIT or (oldest is not None and oldest < doubt.window_start)
    verdict = judge(candidates, doubt.request.text, doubt, "Google", complete=complete)
    if not isinstance(verdict, Candidate):
        return verdict
    if verdict.state == "LIVE":
        details = {"state": verdict.state, "found_after_lost_answer": True}
        return Found(verdict.external_id, verdict.permalink, details=details)
    return Continue(
        {"local_post": verdict.external_id, "search_url": verdict.permalink, "checks": 1},
        f"Google has the post ({verdict.state or 'state unknown'})",
        committed=True,
        external_id=verdict.external_id,
        permalink=verdict.permalink,
    )
