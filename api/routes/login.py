"""Login links (a confirm page, then a POST that logs in), logout and the landing page."""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.response import Redirect

from api.deps import CSRF_COOKIE, SESSION_COOKIE
from api.html import page
from api.origin import require_same_origin
from core.access import auth as auth_core
from core.errors import DomainError, Invalid, PermissionDenied
from core.runtime import Runtime
from storage.uow import UnitOfWork


@get("/auth/login/{token:str}", tags=["auth"], summary="Confirm page for a login link (does not use the link)")
async def login_confirm(token: str, runtime: Runtime, uow: UnitOfWork) -> Response[str]:
    # Link previews, chat unfurlers and mail scanners fetch with GET: it must never log anyone in.
    state = await auth_core.inspect_login_link(uow.session, runtime.clock, runtime.settings, token)
    if state is not auth_core.LinkState.valid:
        return page(
            "Login link",
            f"<p>{escape(auth_core.LINK_MESSAGES[state])}</p>",
            status=410 if state in (auth_core.LinkState.used, auth_core.LinkState.expired) else 400,
        )
    return page(
        "Sign in to CheersAI",
        '<form method="post"><p>Press the button to sign in on this device.</p>'
        '<button type="submit">Sign in</button></form>'
        '<p class="muted">This link works once and expires soon.</p>',
    )


def _cookies(runtime: Runtime, new: auth_core.NewSession) -> list[Cookie]:
    secure = runtime.settings.secure_cookies
    return [
        Cookie(
            key=SESSION_COOKIE,
            value=new.raw_token,
            httponly=True,
            secure=secure,
            samesite="lax",
            max_age=new.max_age_seconds,
            path="/",
        ),
        # Readable by the planner's scripts, which echo it in X-CSRF-Token.
        Cookie(
            key=CSRF_COOKIE,
            value=new.csrf_token,
            httponly=False,
            secure=secure,
            samesite="lax",
            max_age=new.max_age_seconds,
            path="/",
        ),
    ]


@post("/auth/login/{token:str}", tags=["auth"], summary="Use a login link: opens a new session", status_code=303)
async def login_submit(token: str, request: Request[Any, Any, Any], runtime: Runtime, uow: UnitOfWork) -> Response[Any]:
    # Another site posting someone's link would sign this browser in as them (login CSRF).
    require_same_origin(request, runtime.settings)
    try:
        new = await auth_core.consume_login_link(
            uow.session,
            runtime.clock,
            runtime.settings,
            token,
            previous_session_token=request.cookies.get(SESSION_COOKIE),
        )
    except Invalid as exc:
        if "application/json" in request.headers.get("accept", ""):
            raise
        invalid = exc.extra.get("link_state") == auth_core.LinkState.invalid.value
        return page("Login link", f"<p>{escape(exc.message)}</p>", status=400 if invalid else 410)
    if "application/json" in request.headers.get("accept", ""):
        return Response(
            {"user_id": new.user.id, "name": new.user.name, "csrf_token": new.csrf_token},
            cookies=_cookies(runtime, new),
            status_code=200,
        )
    return Redirect("/", status_code=303, cookies=_cookies(runtime, new))


@post("/auth/logout", tags=["auth"], summary="End this browser session", status_code=204)
async def logout(request: Request[Any, Any, Any], runtime: Runtime, uow: UnitOfWork) -> Response[None]:
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        # Logout is a write made with a cookie, so it needs the CSRF token too.
        if not auth_core.csrf_ok(runtime.settings, raw, request.headers.get("x-csrf-token")):
            raise PermissionDenied("missing or wrong CSRF token")
        await auth_core.end_session(uow.session, runtime.clock, raw)
    response: Response[None] = Response(None, status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return response


@get("/", tags=["web"], summary="Landing page", include_in_schema=False)
async def home(request: Request[Any, Any, Any], runtime: Runtime, uow: UnitOfWork) -> Response[str]:
    raw = request.cookies.get(SESSION_COOKIE)
    who = ""
    if raw:
        try:
            _, user = await auth_core.resolve_session(uow.session, runtime.clock, raw)
            who = f"<p>Signed in as <strong>{escape(user.name)}</strong>.</p>"
        except DomainError:
            who = ""
    if not who:
        who = '<p class="muted">Not signed in: open a login link (<code>cheers login-link --user ID</code>).</p>'
    return page(
        "CheersAI",
        who + '<ul><li><a href="/schema">API documentation</a></li><li><a href="/api/status">Service status</a></li>'
        '<li><a href="/api/me">Your venues (JSON)</a></li><li><a href="/api/notifications">Notifications (JSON)</a>'
        "</li></ul>",
    )


routes = [login_confirm, login_submit, logout, home]
