"""Login links (a confirm page, then a POST that logs in and lands in the planner), logout and the landing page."""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.response import Redirect

from api.deps import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from api.html import page, sign_out_form
from api.origin import require_same_origin
from api.planner.auth import PLANNER_HOME, presented_csrf, safe_next
from core.access import auth as auth_core
from core.errors import DomainError, Invalid, PermissionDenied
from core.runtime import Runtime
from storage.models import User
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


def session_cookies(runtime: Runtime, new: auth_core.NewSession) -> list[Cookie]:
    """The session cookie (HttpOnly) and the CSRF cookie (readable by our scripts) for a new session."""
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
            cookies=session_cookies(runtime, new),
            status_code=200,
        )
    # Land in the planner: where the person was going (a planner path carried on the link), else the week.
    return Redirect(safe_next(request.query_params.get("next")), status_code=303, cookies=session_cookies(runtime, new))


async def _signed_in(runtime: Runtime, uow: UnitOfWork, raw: str | None) -> User | None:
    """Whose live session the cookie `raw` is, or None (no cookie, or the session has ended)."""
    if not raw:
        return None
    try:
        _, user = await auth_core.resolve_session(uow.session, runtime.clock, raw)
    except DomainError:
        return None
    return user


def _scripted(request: Request[Any, Any, Any]) -> bool:
    """A script (it sends X-CSRF-Token or asks for JSON) gets status codes; a browser form gets pages."""
    return CSRF_HEADER in request.headers or "application/json" in request.headers.get("accept", "")


def _cleared(response: Response[Any]) -> Response[Any]:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


_NOT_SIGNED_IN = (
    "<p>You're not signed in on this browser, so there is nothing to sign out of.</p>"
    '<p><a href="/">CheersAI home</a> · to sign in, open a login link.</p>'
)
_OPEN_THE_PAGE = '<p>To sign out, <a href="/auth/logout">open the sign-out page</a> and press Sign out.</p>'


@get("/auth/logout", tags=["auth"], summary="Sign-out page: who is signed in and a Sign out button (changes nothing)")
async def logout_page(request: Request[Any, Any, Any], runtime: Runtime, uow: UnitOfWork) -> Response[str]:
    # A GET never signs out: link previews and prefetchers follow links. The button posts with the CSRF token.
    raw = request.cookies.get(SESSION_COOKIE)
    user = await _signed_in(runtime, uow, raw)
    if user is None or raw is None:
        return page("Sign out", _NOT_SIGNED_IN)
    return page(
        "Sign out",
        f"<p>You're signed in as <strong>{escape(user.name)}</strong>.</p>"
        + sign_out_form(auth_core.csrf_token_for(runtime.settings, raw))
        + '<p class="muted">This signs out this browser only. API tokens keep working until you revoke them.</p>',
    )


@post("/auth/logout", tags=["auth"], summary="End this browser session (needs its CSRF token)", status_code=200)
async def logout(request: Request[Any, Any, Any], runtime: Runtime, uow: UnitOfWork) -> Response[Any]:
    scripted = _scripted(request)
    try:
        # Another site must not be able to sign people out (or probe whether they are signed in).
        require_same_origin(request, runtime.settings)
    except PermissionDenied as exc:
        if scripted:
            raise
        return page("Not signed out", f"<p>{escape(exc.message)}; nothing changed.</p>{_OPEN_THE_PAGE}", status=403)
    if request.headers.get("authorization"):
        raise Invalid(
            "sign-out ends a browser session; an API token is not one, so nothing was signed out",
            remedy="to stop a token working, revoke it: DELETE /api/tokens/{id} (GET /api/tokens lists yours)",
        )
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return _cleared(Response(None, status_code=204) if scripted else page("Sign out", _NOT_SIGNED_IN))
    # Sign-out is a write made with a cookie, so it needs the CSRF token too: from the header or the button's form.
    presented = await presented_csrf(request)
    if not auth_core.csrf_ok(runtime.settings, raw, presented):
        if scripted:
            raise PermissionDenied(
                "missing or wrong CSRF token",
                remedy=f"send the {CSRF_COOKIE} cookie's value in the X-CSRF-Token header",
            )
        return page(
            "Not signed out",
            "<p>This sign-out didn't come from this browser's own Sign out button, so nothing changed: "
            f"you are still signed in.</p>{_OPEN_THE_PAGE}",
            status=403,
        )
    user = await _signed_in(runtime, uow, raw)
    await auth_core.end_session(uow.session, runtime.clock, raw)
    if scripted:
        return _cleared(Response(None, status_code=204))
    who = f", {escape(user.name)}" if user is not None else ""
    return _cleared(
        page(
            "Signed out",
            f"<p>You're signed out{who}. This browser no longer has access to CheersAI.</p>"
            '<p><a href="/">CheersAI home</a> · to sign in again, open a new login link.</p>',
        )
    )


@get("/", tags=["web"], summary="Landing page", include_in_schema=False)
async def home(request: Request[Any, Any, Any], runtime: Runtime, uow: UnitOfWork) -> Response[Any]:
    raw = request.cookies.get(SESSION_COOKIE)
    user = await _signed_in(runtime, uow, raw)
    if user is not None and raw is not None:
        return Redirect(PLANNER_HOME, status_code=303)  # a signed-in person came to plan their week
    who = '<p>Not signed in. <a href="/planner/sign-in">Sign in to the planner</a> with your e-mail address.</p>'
    return page(
        "CheersAI",
        who + '<ul><li><a href="/schema">API documentation</a></li><li><a href="/api/status">Service status</a></li>'
        '<li><a href="/api/me">Your venues (JSON)</a></li><li><a href="/api/notifications">Notifications (JSON)</a>'
        "</li></ul>",
    )


routes = [login_confirm, login_submit, logout_page, logout, home]
