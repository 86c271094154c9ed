"""The Google twin's Business Profile APIs: accounts (v1) and locations (v1); v4 localPosts live in google_posts_api."""

from __future__ import annotations

import base64
import binascii
from typing import Any, TypeVar

from litestar import Request, get

from sandbox.google.http import RpcError, business_call, invalid_argument, paths
from sandbox.google.scenario import (
    ACCOUNTS_API,
    ACCOUNTS_PAGE_MAX,
    INFO_API,
    LOCATION_FIELDS,
    LOCATIONS_PAGE_DEFAULT,
    LOCATIONS_PAGE_MAX,
    NO_PERMISSION_MESSAGE,
    LocationSpec,
    location_resource,
)
from sandbox.google.state import GoogleTwinState, User

AnyRequest = Request[Any, Any, Any]
T = TypeVar("T")

NOT_FOUND = "Requested entity was not found."


def paginate(items: list[T], request: AnyRequest, *, default: int, maximum: int) -> tuple[list[T], str | None]:
    """One page of `items` and the next page token (an opaque offset), validating pageSize/pageToken."""
    raw_size = request.query_params.get("pageSize") or "0"
    try:
        size = int(raw_size)
    except ValueError:
        raise invalid_argument("page_size", f"Invalid value: {raw_size}") from None
    if size < 0 or size > maximum:
        raise invalid_argument("page_size", f"Page size must be between 1 and {maximum}")
    size = size or default  # proto3: 0 means "not set"
    start = 0
    if token := request.query_params.get("pageToken"):
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("offset:"))
        except (ValueError, binascii.Error):
            raise invalid_argument("page_token", "Invalid page token", "Page token is invalid.") from None
    end = start + size
    more = base64.urlsafe_b64encode(f"offset:{end}".encode()).decode() if end < len(items) else None
    return items[start:end], more


def _read_mask(request: AnyRequest) -> list[str]:
    """The required readMask as top-level camelCase fields (snake_case accepted, as Google does)."""
    raw = request.query_params.get("readMask") or request.query_params.get("read_mask")
    if not raw:
        raise invalid_argument("read_mask", "Field is required")
    fields: list[str] = []
    for path in (p.strip() for p in raw.split(",")):
        top = path.split(".")[0]
        head, *rest = top.split("_")
        camel = head + "".join(w.capitalize() for w in rest)
        if camel not in LOCATION_FIELDS:
            raise invalid_argument("read_mask", f"Invalid field mask provided: {path}")
        fields.append(camel)
    return fields


def _masked(spec: LocationSpec, fields: list[str]) -> dict[str, Any]:
    resource = location_resource(spec)
    return {f: resource[f] for f in fields if f in resource}


def _account_for(twin: GoogleTwinState, user: User, account_id: str) -> list[str]:
    """The account ids `accounts/{account_id}` means for this user (`-` is all of theirs)."""
    if account_id == "-":
        return list(user.account_ids)
    if account_id not in twin.accounts:
        raise RpcError(404, "NOT_FOUND", NOT_FOUND)
    if account_id not in user.account_ids:
        raise RpcError(403, "PERMISSION_DENIED", NO_PERMISSION_MESSAGE)
    return [account_id]


@get(paths(ACCOUNTS_API, "/v1/accounts"))
async def list_accounts(request: AnyRequest) -> dict[str, Any]:
    """accounts.list: the caller's accounts, at most 20 a page."""
    twin, _, user = await business_call(request)
    accounts = [twin.accounts[i].resource for i in user.account_ids]
    page, more = paginate(accounts, request, default=ACCOUNTS_PAGE_MAX, maximum=ACCOUNTS_PAGE_MAX)
    body: dict[str, Any] = {"accounts": page} if page else {}
    if more:
        body["nextPageToken"] = more
    return body


@get(paths(ACCOUNTS_API, "/v1/accounts/{account_id:str}"))
async def get_account(request: AnyRequest, account_id: str) -> dict[str, Any]:
    """accounts.get."""
    twin, _, user = await business_call(request)
    if account_id == "-":
        raise RpcError(404, "NOT_FOUND", NOT_FOUND)
    (only,) = _account_for(twin, user, account_id)
    return twin.accounts[only].resource


@get(paths(INFO_API, "/v1/accounts/{account_id:str}/locations"))
async def list_locations(request: AnyRequest, account_id: str) -> dict[str, Any]:
    """accounts.locations.list: readMask required, pageSize 1-100 (default 10); only locations still managed."""
    twin, _, user = await business_call(request)
    fields = _read_mask(request)
    specs = [loc for a in _account_for(twin, user, account_id) for loc in twin.visible_locations(user, a)]
    page, more = paginate(specs, request, default=LOCATIONS_PAGE_DEFAULT, maximum=LOCATIONS_PAGE_MAX)
    body: dict[str, Any] = {"locations": [_masked(s, fields) for s in page]} if page else {}
    if more:
        body["nextPageToken"] = more
    return body


@get(paths(INFO_API, "/v1/locations/{location_id:str}"))
async def get_location(request: AnyRequest, location_id: str) -> dict[str, Any]:
    """locations.get: 403 once the user no longer manages the location."""
    twin, _, user = await business_call(request)
    fields = _read_mask(request)
    spec = twin.locations.get(location_id)
    if spec is None:
        raise RpcError(404, "NOT_FOUND", NOT_FOUND)
    if not twin.can_see_location(user, location_id):
        raise RpcError(403, "PERMISSION_DENIED", NO_PERMISSION_MESSAGE)
    return _masked(spec, fields)


GBP_ROUTES = [list_accounts, get_account, list_locations, get_location]
