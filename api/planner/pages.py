"""The planner's Router at /planner: its pages, the sign-in page, and its HTML answers to errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import quote

import structlog
from litestar import Request, Response, Router, get, post
from litestar.exceptions import HTTPException
from litestar.params import QueryParameter
from litestar.response import Redirect, Template
from litestar.types import ControllerRouterHandler

from api.origin import require_same_origin
from api.planner import alerts as alert_pages
from api.planner import chat as chat_pages
from api.planner import compose as compose_pages
from api.planner import connections as connection_pages
from api.planner import library as library_pages
from api.planner import posts as post_pages
from api.planner import team as team_pages
from api.planner import week as week_pages
from api.planner import weekly as weekly_pages
from api.planner.auth import (
    PLANNER_HOME,
    NoVenue,
    SignInRequired,
    Viewer,
    planner_dependencies,
    safe_next,
    sign_in_url,
)
from api.planner.render import PAGE_HEADERS, is_htmx, render
from api.problems import exception_handlers
from core.access import sign_in
from core.errors import DomainError, Invalid, PermissionDenied
from core.runtime import Runtime
from storage.uow import UnitOfWork

log = structlog.get_logger(__name__)


def _refusal(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """An error on a planner page as a page: the API's own handler decides the status and logs, the layout shows it."""
    handlers = exception_handlers()
    handler = next(handlers[cls] for cls in type(exc).__mro__ if cls in handlers)
    problem: Response[Any] = handler(request, exc)
    body: dict[str, Any] = problem.content if isinstance(problem.content, dict) else {}
    headers = {k: v for k, v in problem.headers.items() if k.lower() in {"retry-after", "x-request-id"}}
    page = render(
        request,
        "planner/error.html",
        title=str(body.get("title", "Error")),
        status_code=problem.status_code or 500,
        detail=str(body.get("detail", "")),
        remedy=body.get("remedy"),
        request_id=body.get("request_id"),
        toasts=[],
    )
    page.headers.update(headers)
    return page


def _to_sign_in(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, SignInRequired)
    target = sign_in_url(exc.next_url)
    if is_htmx(request):
        # htmx follows redirects inside the page; HX-Redirect makes it load the sign-in page as a whole page.
        return Response(None, status_code=204, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303, headers=PAGE_HEADERS)


def _no_venue(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, NoVenue)
    log.info("planner_no_venue", user_id=exc.user_id)
    return render(
        request, "planner/no_venue.html", title="No venue yet", person={"name": exc.name}, csrf_token=exc.csrf_token
    )


def _sign_in_context(
    runtime: Runtime, next_url: str | None, *, email: str = "", sent: bool = False, error: str | None = None
) -> dict[str, Any]:
    return {
        "next_url": safe_next(next_url),
        "email": email,
        "sent": sent,
        "error": error,
        "ttl_minutes": runtime.settings.login_link_ttl_minutes,
    }


@get("/sign-in", name="planner.sign_in", include_in_schema=False)
async def sign_in_page(
    request: Request[Any, Any, Any],
    runtime: Runtime,
    next_url: Annotated[str | None, QueryParameter(name="next")] = None,
    sent: bool = False,
) -> Template:
    """The sign-in form: an e-mail address; the link arrives by e-mail."""
    return render(request, "planner/sign_in.html", title="Sign in", **_sign_in_context(runtime, next_url, sent=sent))


@post("/sign-in", name="planner.sign_in_post", include_in_schema=False, status_code=303)
async def sign_in_submit(request: Request[Any, Any, Any], runtime: Runtime, uow: UnitOfWork) -> Response[Any]:
    """Queue a login link for a known address; the answer is the same whether or not the address is known."""
    form = await request.form()
    raw_next, raw_address = form.get("next"), form.get("email")
    next_url = safe_next(raw_next if isinstance(raw_next, str) else None)
    address = raw_address if isinstance(raw_address, str) else ""
    try:
        # Another site must not make visitors' browsers send sign-in e-mails.
        require_same_origin(request, runtime.settings)
        result = await sign_in.request_link(
            uow.session,
            runtime.clock,
            runtime.settings,
            address=address,
            client=request.client.host if request.client else "unknown",
            next_path=None if next_url == PLANNER_HOME else next_url,
        )
    except (Invalid, PermissionDenied) as exc:
        context = _sign_in_context(runtime, next_url, email=address[:320], error=exc.message)
        status = 403 if isinstance(exc, PermissionDenied) else 422
        return render(request, "planner/sign_in.html", title="Sign in", status_code=status, **context)
    if result is sign_in.Outcome.throttled:
        minutes = int(sign_in.WINDOW.total_seconds() // 60)
        error = (
            f"Too many sign-in requests for this address or from this network. Wait {minutes} minutes, then ask again."
        )
        context = _sign_in_context(runtime, next_url, email=address[:320], error=error)
        page = render(request, "planner/sign_in.html", title="Sign in", status_code=429, **context)
        page.headers["Retry-After"] = str(int(sign_in.WINDOW.total_seconds()))
        return page
    # Post/redirect/get: reloading the answer does not send another e-mail.
    target = f"/planner/sign-in?sent=true&next={quote(next_url, safe='/')}"
    return Redirect(target, status_code=303, headers=PAGE_HEADERS)


@get("/", name="planner.home", include_in_schema=False)
async def planner_home(viewer: Viewer) -> Redirect:
    """The planner's own address: signed in, it opens the week (signed out, the guard asks to sign in)."""
    return Redirect(PLANNER_HOME, status_code=303, headers=PAGE_HEADERS)


# Each planner module's routes; a module adds its list here (and its nav entry in render.NAV).
PAGES: list[ControllerRouterHandler] = [
    planner_home,
    sign_in_page,
    sign_in_submit,
    *week_pages.routes,
    *post_pages.routes,
    *alert_pages.routes,
    *library_pages.routes,
    *chat_pages.routes,
    *connection_pages.routes,
    *team_pages.routes,
    *compose_pages.routes,
    *weekly_pages.routes,
]


def planner_router(pages: Sequence[ControllerRouterHandler] = PAGES) -> Router:
    """The planner pages under /planner with the page guard and HTML errors, kept out of the OpenAPI schema."""
    return Router(
        path="/planner",
        route_handlers=list(pages),
        dependencies=planner_dependencies(),
        exception_handlers={
            SignInRequired: _to_sign_in,
            NoVenue: _no_venue,
            DomainError: _refusal,
            HTTPException: _refusal,
        },
        include_in_schema=False,
    )
