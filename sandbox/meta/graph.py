"""The Meta twin's public protocol: routing, faults, and the Graph reads (/me, /me/accounts, nodes).

Framework-free: `handle()` takes a parsed request and returns an `Answer`, so sandbox/meta/twin.py only
adapts Litestar to it. Login lives in sandbox/meta/login.py, publishing in sandbox/meta/publish.py. Behaviour follows
docs/providers.md (Meta tokens, Graph errors, what the twins imitate).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from typing import Any
from urllib.parse import urlencode

from sandbox.meta import login
from sandbox.meta.model import Answer, Fault, GraphError, GraphRequest, InstagramAccount, Page, Token
from sandbox.meta.publish import route_content
from sandbox.meta.state import MetaTwinState

VERSION = re.compile(r"^v\d+\.\d+$")
THROTTLE_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80001: "(#80001) There have been too many calls to this Page account. Wait a bit and try again.",
    80002: "(#80002) There have been too many calls to this Instagram account. Wait a bit and try again.",
}
SERVER_MESSAGES = {
    1: "An unknown error occurred",
    2: "An unexpected error has occurred. Please retry your request later.",
}
NOT_FOUND = (
    "Unsupported {method} request. Object with ID '{id}' does not exist, cannot be loaded due to missing "
    "permissions, or does not support this operation. Please read the Graph API documentation at "
    "https://developers.facebook.com/docs/graph-api"
)
PAGE_DEFAULT_FIELDS = "id,name,access_token,category,tasks"  # what /me/accounts answers without `fields`


def parse_fields(spec: str) -> dict[str, str | None]:
    """`id,name,instagram_business_account{id,username},picture.type(large)` → name → sub-spec."""
    out: dict[str, str | None] = {}
    depth, buf = 0, ""
    for ch in spec + ",":
        if ch == "," and depth == 0:
            item = buf.strip()
            buf = ""
            if item:
                name = re.split(r"[.{]", item, maxsplit=1)[0]
                out[name] = item[item.index("{") + 1 : item.rindex("}")] if "{" in item else None
            continue
        depth += (ch == "{") - (ch == "}")
        buf += ch
    return out


async def handle(state: MetaTwinState, req: GraphRequest) -> Answer:
    """Route one request; Graph errors become the real envelope with Meta's HTTP status."""
    segments = [s for s in req.path.split("/") if s]
    if segments and VERSION.match(segments[0]):
        segments = segments[1:]
    if segments == ["dialog", "oauth"]:
        return login.dialog(state, req.params)
    if state.content.settings.latency_ms > 0:  # a provider's own latency, for benchmarks (0: answer at once)
        await asyncio.sleep(state.content.settings.latency_ms / 1000)
    headers = {"X-App-Usage": json.dumps(state.usage)} if state.usage else {}
    try:
        await _apply_faults(state, req)
        body = await route_content(state, req, segments)
        if body is None:
            body = _route(state, req, segments)
    except GraphError as exc:
        return Answer(status=exc.status, json=exc.body(), headers={**headers, **exc.headers})
    return Answer(json=body, headers=headers)


async def _apply_faults(state: MetaTwinState, req: GraphRequest) -> None:
    fault = state.take_fault(req.path)
    if fault is None:
        return
    if fault.kind == "delay":
        await asyncio.sleep(fault.seconds)
    elif fault.kind == "server_error":
        transient = True if fault.is_transient is None else fault.is_transient
        raise GraphError(
            fault.code,
            SERVER_MESSAGES.get(fault.code, "Service temporarily unavailable"),
            status=500,
            is_transient=transient,
        )
    elif fault.kind == "graph_error":
        message = fault.message or f"(#{fault.code}) An error occurred"
        raise GraphError(fault.code, message, subcode=fault.subcode, status=fault.status)
    else:
        raise _throttle(state, fault, req.token)


def _throttle(state: MetaTwinState, fault: Fault, token_value: str | None) -> GraphError:
    token = state.tokens.get(token_value or "")
    headers = {"X-App-Usage": json.dumps({"call_count": 100, "total_time": 100, "total_cputime": 100})}
    # Page-token calls (and the BUC codes) are counted per business object (docs/providers.md#graph-rate-limits).
    if (token is not None and token.kind == "PAGE") or fault.code in (32, 80001, 80002):
        object_id = (token.page_id if token else None) or next(iter(state.pages), "0")
        kind = "instagram" if fault.code == 80002 else "pages"
        usage = {
            "type": kind,
            "call_count": 100,
            "total_cputime": 100,
            "total_time": 100,
            "estimated_time_to_regain_access": fault.regain_minutes,
        }
        headers["X-Business-Use-Case-Usage"] = json.dumps({object_id: [usage]})
    if fault.retry_after is not None:
        headers["Retry-After"] = str(fault.retry_after)
    message = THROTTLE_MESSAGES.get(fault.code, f"(#{fault.code}) Calls to this api have exceeded the rate limit.")
    return GraphError(fault.code, message, status=400, is_transient=True, headers=headers)


def _route(state: MetaTwinState, req: GraphRequest, seg: list[str]) -> dict[str, Any]:
    p, method = req.params, req.method
    if seg == ["oauth", "access_token"] and method in ("GET", "POST"):
        return login.access_token(state, p)
    if seg == ["debug_token"] and method in ("GET", "POST"):
        return login.debug_token(state, p, req.token)
    if not seg:
        raise GraphError(100, "Unsupported get request.")
    token = state.check_token(req.token)
    if seg[0] == token.user_id:
        seg = ["me", *seg[1:]]
    if seg[0] == "me" and token.kind == "PAGE" and len(seg) == 1 and method == "GET":
        return page_node(state, state.pages[token.page_id or ""], _fields(p, "id,name"), token)
    if seg[0] == "me" and token.kind == "USER":
        if seg == ["me"] and method == "GET":
            return user_node(state, token, _fields(p, "id,name"))
        if seg[:2] == ["me", "permissions"]:
            return permissions(state, token, method, seg[2] if len(seg) > 2 else None)
        if seg == ["me", "accounts"] and method == "GET":
            return accounts(state, token, p, req.url)
    if len(seg) == 1 and method == "GET":
        return node(state, token, seg[0], p)
    if seg[0] == "me":
        raise GraphError(2500, f"Unknown path components: /{'/'.join(seg[1:])}")
    raise GraphError(100, NOT_FOUND.format(method=method.lower(), id=seg[0]), subcode=33)


def _fields(params: dict[str, str], default: str) -> dict[str, str | None]:
    return parse_fields(params.get("fields") or default)


# -- Graph reads ---------------------------------------------------------------------------------


def user_node(state: MetaTwinState, token: Token, fields: dict[str, str | None]) -> dict[str, Any]:
    user = state.users[token.user_id]
    full: dict[str, Any] = {
        "id": user.id,
        "name": user.name,
        "picture": {"data": {"url": f"https://sandbox.invalid/users/{user.id}.jpg"}},
    }
    return {k: v for k, v in full.items() if k in fields or k == "id"}


def permissions(state: MetaTwinState, token: Token, method: str, scope: str | None) -> dict[str, Any]:
    """GET lists granted and declined scopes; DELETE removes the app (or one scope) for the user."""
    grant = state.grant_for(token)
    if method == "GET" and scope is None:
        rows = [{"permission": s, "status": "granted"} for s in grant.scopes]
        rows += [{"permission": s, "status": "declined"} for s in grant.declined]
        return {"data": rows}
    if method == "DELETE":
        if scope is None:
            state.revoke_app(token.user_id, token.app_id, via="api")
        else:
            state.drop_scope(token.user_id, scope, token.app_id)
        return {"success": True}
    raise GraphError(100, f"Unsupported {method.lower()} request.")


def accounts(state: MetaTwinState, token: Token, p: dict[str, str], url: str) -> dict[str, Any]:
    """The granted Pages with their Page tokens, paged with cursors and `paging.next`."""
    if "pages_show_list" not in state.grant_for(token).scopes:
        # [UNVERIFIED] which error Meta gives here; a permission error makes the gap visible.
        raise GraphError(200, "(#200) Requires pages_show_list permission to manage the object")
    pages = state.granted_pages(token)
    fields = _fields(p, PAGE_DEFAULT_FIELDS)
    limit = max(1, min(int(p.get("limit") or 25), 100))
    start = _uncursor(p["after"]) + 1 if p.get("after") else 0
    chunk = pages[start : start + limit]
    out: dict[str, Any] = {"data": [page_node(state, page, fields, token) for page in chunk]}
    if chunk:
        end = start + len(chunk) - 1
        out["paging"] = {"cursors": {"before": _cursor(start), "after": _cursor(end)}}
        if end + 1 < len(pages):
            # Meta's `next` repeats the access token in the URL; clients must not follow it as is.
            base = url.split("?", 1)[0]
            query = {k: v for k, v in p.items() if k not in ("after", "before", "access_token")}
            query |= {"access_token": token.value, "limit": str(limit), "after": _cursor(end)}
            out["paging"]["next"] = f"{base}?{urlencode(query)}"
    return out


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"cursor:{index}".encode()).decode()


def _uncursor(cursor: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("cursor:"))
    except ValueError as exc:
        raise GraphError(100, "(#100) Invalid cursor") from exc


def node(state: MetaTwinState, token: Token, object_id: str, p: dict[str, str]) -> dict[str, Any]:
    """`GET /{page-id}` or `GET /{ig-user-id}`, only when the token reaches that object."""
    granted = state.granted_pages(token)
    page = next((pg for pg in granted if pg.id == object_id), None)
    if page is not None:
        return page_node(state, page, _fields(p, "id,name"), token)
    ig = state.instagram.get(object_id)
    if ig is not None and any(pg.instagram_id == ig.id for pg in granted):
        if "instagram_basic" not in state.grant_for(token).scopes:
            raise GraphError(10, "(#10) Application does not have permission for this action")
        return ig_node(ig, _fields(p, "id"))
    raise GraphError(100, NOT_FOUND.format(method="get", id=object_id), subcode=33)


def page_node(state: MetaTwinState, page: Page, fields: dict[str, str | None], token: Token) -> dict[str, Any]:
    out: dict[str, Any] = {"id": page.id}
    if "name" in fields:
        out["name"] = page.name
    if "category" in fields:
        out["category"] = page.category
    if "access_token" in fields:
        out["access_token"] = state.page_token(token, page.id).value if token.kind == "USER" else token.value
    if "tasks" in fields:
        out["tasks"] = list(state.users[token.user_id].roles.get(page.id, []))
    if "instagram_business_account" in fields and page.instagram_id in state.instagram:
        ig = state.instagram[page.instagram_id or ""]
        out["instagram_business_account"] = ig_node(ig, parse_fields(fields["instagram_business_account"] or "id"))
    return out


def ig_node(ig: InstagramAccount, fields: dict[str, str | None]) -> dict[str, Any]:
    full = {"id": ig.id, "username": ig.username, "name": ig.name, "profile_picture_url": ig.profile_picture_url}
    return {k: v for k, v in full.items() if k in fields or k == "id"}
