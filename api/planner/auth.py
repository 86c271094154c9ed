"""The planner's page guard: who is signed in (web session cookie), their venues, and the venue in use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import structlog
from litestar import Request
from litestar.di import Provide

from api.deps import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, _released_on_refusal
from api.origin import require_same_origin
from core.access import accounts as accounts_core
from core.access import auth as auth_core
from core.access import policy as access_core
from core.access.accounts import VenueSummary
from core.access.audit import Actor
from core.access.policy import VenueAccess
from core.errors import AuthenticationRequired, NotFound, PermissionDenied
from core.runtime import Runtime
from storage.models import Channel, Role, User
from storage.uow import UnitOfWork

log = structlog.get_logger(__name__)

VENUE_COOKIE = "cheers_venue"  # the venue the switcher last picked; access is still checked on every request
VENUE_PARAM = "venue"
CSRF_FIELD = "csrf_token"
PLANNER_HOME = "/planner/week"


class SignInRequired(Exception):
    """No live web session: the planner answers with a redirect to its sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__("sign in first")
        self.next_url = next_url


class NoVenue(Exception):
    """Signed in, but a member of no venue: the planner explains instead of showing an empty week."""

    def __init__(self, user_id: int, name: str, csrf_token: str) -> None:
        super().__init__("no venue")
        self.user_id = user_id  # plain values: the transaction is rolled back before the page renders
        self.name = name
        self.csrf_token = csrf_token


@dataclass(frozen=True)
class Viewer:
    """The signed-in person on a planner page, the venue in use and their access to it."""

    user: User
    actor: Actor
    access: VenueAccess
    venue: VenueSummary
    venues: list[VenueSummary]
    csrf_token: str
    venue_chosen: bool  # ?venue= picked it on this request: render() remembers it in the venue cookie

    @property
    def account_id(self) -> int:
        return self.access.account_id

    def can(self, minimum: Role) -> bool:
        """Whether the person's role in this venue is at least `minimum` (to show or hide a button)."""
        return self.access.role.at_least(minimum)


def sign_in_url(next_url: str) -> str:
    return "/planner/sign-in?next=" + quote(next_url, safe="/")


def safe_next(raw: str | None) -> str:
    """Only a planner path on this site: `next` must never send someone to another site after signing in."""
    if not raw or not raw.startswith("/planner/") or raw.startswith("//") or "\\" in raw:
        return PLANNER_HOME
    if raw.startswith("/planner/sign-in"):
        return PLANNER_HOME
    return raw


def here(request: Request[Any, Any, Any]) -> str:
    """This request's path and query: where a `next` brings the person back to."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _venue_id(raw: str | None) -> int | None:
    if raw is None or not raw.strip().isdigit():
        return None
    value = int(raw.strip())
    return value if value < 2**63 else None


async def presented_csrf(request: Request[Any, Any, Any]) -> str | None:
    """The CSRF token of a write: the X-CSRF-Token header (htmx) or the form's hidden field."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return None
    value = (await request.form()).get(CSRF_FIELD)
    return value if isinstance(value, str) else None


async def _viewer(request: Request[Any, Any, Any], runtime: Runtime, uow: UnitOfWork) -> Viewer:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        raise SignInRequired(here(request) if request.method in SAFE_METHODS else PLANNER_HOME)
    try:
        _, user = await auth_core.resolve_session(uow.session, runtime.clock, raw)
    except AuthenticationRequired:
        raise SignInRequired(here(request) if request.method in SAFE_METHODS else PLANNER_HOME) from None
    # An error page renders after the request's transaction rolled back, which expires every loaded row: a detached
    # copy keeps the person's name for the layout (P2: a refused remedy's 403/404 page).
    uow.session.expunge(user)
    csrf = auth_core.csrf_token_for(runtime.settings, raw)
    if request.method not in SAFE_METHODS:
        # A cookie-authenticated write: it must come from our own page, carrying this session's token.
        require_same_origin(request, runtime.settings)
        if not auth_core.csrf_ok(runtime.settings, raw, await presented_csrf(request)):
            raise PermissionDenied(
                "this form didn't come from this browser's own planner page, so nothing changed",
                remedy="reload the page and try again",
            )
    actor = Actor(user_id=user.id, channel=Channel.web, is_staff=user.is_staff)
    venues = await accounts_core.venues_of(uow.session, user.id)
    asked = _venue_id(request.query_params.get(VENUE_PARAM))
    if request.query_params.get(VENUE_PARAM) is not None and asked is None:
        raise NotFound("venue not found")
    remembered = _venue_id(request.cookies.get(VENUE_COOKIE))
    mine = {v.account_id for v in venues}
    if asked is not None:
        account_id = asked  # an explicit pick: a venue they can't use is a 404, never a silent switch
    elif remembered is not None and (remembered in mine or user.is_staff):
        account_id = remembered
    elif venues:
        account_id = venues[0].account_id
    else:
        raise NoVenue(user.id, user.name, csrf)
    access = await access_core.authorize(
        uow.session, runtime.clock, actor, account_id, Role.viewer, purpose=f"{request.method} {request.url.path}"
    )
    current = next((v for v in venues if v.account_id == account_id), None)
    if current is None:  # staff looking at a venue they are not a member of
        account = await accounts_core.get_account(uow.session, access)
        current = VenueSummary(account_id=account.id, name=account.name, timezone=account.timezone, role=access.role)
    viewer = Viewer(
        user=user,
        actor=actor,
        access=access,
        venue=current,
        venues=venues,
        csrf_token=csrf,
        venue_chosen=asked is not None,
    )
    request.state.planner_viewer = viewer
    return viewer


async def provide_viewer(request: Request[Any, Any, Any], runtime: Runtime, uow: UnitOfWork) -> Viewer:
    """The page guard: the signed-in person and their access to the current venue (writes: CSRF checked)."""
    return await _released_on_refusal(uow, _viewer(request, runtime, uow))


async def require_role(
    request: Request[Any, Any, Any], viewer: Viewer, runtime: Runtime, uow: UnitOfWork, minimum: Role
) -> VenueAccess:
    """The person's access at `minimum` in the current venue, checked by core as the API's route for the same change
    checks it (below it, 403 PermissionDenied: the error page names the role needed)."""
    return await access_core.authorize(
        uow.session, runtime.clock, viewer.actor, viewer.account_id, minimum,
        purpose=f"{request.method} {request.url.path}",
    )  # fmt: skip


def planner_dependencies() -> dict[str, Provide]:
    return {"viewer": Provide(provide_viewer)}
