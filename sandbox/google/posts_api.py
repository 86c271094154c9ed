"""The Google twin's v4 localPosts: create, list (newest first) and get, with the faults that bite publishing.

Only `accounts/{a}/locations/{l}/localPosts` exists: a bare v4 `locations/{l}` path answers 404, as
Google does when a v1 location name is used on v4.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from litestar import Request, get, post

from sandbox.google.gbp import NOT_FOUND, paginate
from sandbox.google.http import EDITS_PER_MINUTE, RpcError, business_call, paths, quota_error
from sandbox.google.posts_rules import bad_json, validate_local_post
from sandbox.google.scenario import NO_PERMISSION_MESSAGE, POSTS_API
from sandbox.google.state import GoogleTwinState, User

AnyRequest = Request[Any, Any, Any]
POSTS = "/v4/accounts/{account_id:str}/locations/{location_id:str}/localPosts"
ONE_POST = POSTS + "/{post_id:str}"
BARE_POSTS = "/v4/locations/{location_id:str}/localPosts"
POSTS_PAGE_DEFAULT = 20
POSTS_PAGE_MAX = 100


def _check_location(twin: GoogleTwinState, user: User, account_id: str, location_id: str) -> None:
    """404 for a location not under that account, 403 once the user no longer manages it."""
    if location_id not in twin.locations or twin.location_account.get(location_id) != account_id:
        raise RpcError(404, "NOT_FOUND", NOT_FOUND)
    if not twin.can_see_location(user, location_id):
        raise RpcError(403, "PERMISSION_DENIED", NO_PERMISSION_MESSAGE)


async def _json_body(request: AnyRequest) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        raise bad_json("Unexpected token.") from None


@post(paths(POSTS_API, POSTS), status_code=200)
async def create_local_post(request: AnyRequest, account_id: str, location_id: str) -> dict[str, Any]:
    """localPosts.create: PROCESSING on success; the commit faults fail *after* the post exists."""
    twin, _, user = await business_call(request)
    _check_location(twin, user, account_id, location_id)
    store = twin.posts
    body = await _json_body(request)
    store.receive(location_id, body)
    if not store.edit_allowed(location_id):
        raise quota_error(twin, POSTS_API, limit_value=str(store.settings.edits_per_minute), quota=EDITS_PER_MINUTE)
    validate_local_post(body, store.settings)
    faults = twin.faults
    created = store.create(
        account_id,
        location_id,
        body,
        stuck=faults.take(faults.post_stuck, POSTS_API) is not None,
        rejected=faults.take(faults.post_rejected, POSTS_API) is not None,
    )
    if (commit := faults.take(faults.post_commit, POSTS_API)) is not None:
        if commit.hang_seconds > 0:
            await asyncio.sleep(commit.hang_seconds)  # the client gives up; the post already exists
        if commit.status >= 500:
            raise RpcError(commit.status, "INTERNAL", "Internal error encountered.")
    return created.resource(twin.now())


@get(paths(POSTS_API, POSTS))
async def list_local_posts(request: AnyRequest, account_id: str, location_id: str) -> dict[str, Any]:
    """localPosts.list: newest first, pageSize 1-100 (default 20), every state included."""
    twin, _, user = await business_call(request)
    _check_location(twin, user, account_id, location_id)
    posts = twin.posts.of_location(location_id)
    page, more = paginate(posts, request, default=POSTS_PAGE_DEFAULT, maximum=POSTS_PAGE_MAX)
    now = twin.now()
    body: dict[str, Any] = {"localPosts": [p.resource(now) for p in page]} if page else {}
    if more:
        body["nextPageToken"] = more
    return body


@get(paths(POSTS_API, ONE_POST))
async def get_local_post(request: AnyRequest, account_id: str, location_id: str, post_id: str) -> dict[str, Any]:
    """localPosts.get: the post's state right now on the twin clock."""
    twin, _, user = await business_call(request)
    _check_location(twin, user, account_id, location_id)
    found = twin.posts.find(account_id, location_id, post_id)
    if found is None:
        raise RpcError(404, "NOT_FOUND", NOT_FOUND)
    return found.resource(twin.now())


@get(paths(POSTS_API, BARE_POSTS, BARE_POSTS + "/{post_id:str}"))
async def bare_location_get(request: AnyRequest, location_id: str) -> None:
    """A v1-style `locations/{id}` name on v4: not found."""
    raise RpcError(404, "NOT_FOUND", NOT_FOUND)


@post(paths(POSTS_API, BARE_POSTS), status_code=200)
async def bare_location_create(request: AnyRequest, location_id: str) -> None:
    """Creating under a v1-style name: not found (nothing is created)."""
    raise RpcError(404, "NOT_FOUND", NOT_FOUND)


POST_ROUTES = [create_local_post, list_local_posts, get_local_post, bare_location_get, bare_location_create]
