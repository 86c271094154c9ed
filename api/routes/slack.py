"""Slack: the Request URL (bot.slack.litestar) and the install (OAuth v2 per workspace, for a venue).

`GET /slack/install?account=ID`: a signed-in admin of the venue is sent to Slack's "Add to Slack" page with a
single-use state bound to the venue, the person and this browser (core.chat.installs). `GET /slack/oauth_redirect`:
Slack sends the browser back; the code is exchanged with oauth.v2.access and the bot token stored encrypted.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urlencode

import structlog
from litestar import Request, Response, get
from litestar.datastructures import Cookie
from litestar.response import Redirect
from slack_sdk.errors import SlackApiError

from api.deps import SESSION_COOKIE, require
from api.html import page
from bot.slack.app import redirect_uri
from bot.slack.litestar import front_of, slack_events
from bot.slack.manifest import SCOPES
from core.access import auth as auth_core
from core.access.policy import VenueAccess
from core.chat import installs
from core.chat.installs import InstalledBot
from core.errors import DomainError, Invalid, PermissionDenied
from core.runtime import Runtime
from storage.models import Role
from storage.uow import UnitOfWork

log = structlog.get_logger(__name__)

INSTALL_COOKIE = "cheers_slack_install"


@get(
    "/slack/install",
    tags=["slack"],
    summary="Add CheersAI to a Slack workspace for this venue (admins; sends the browser to Slack)",
    dependencies={"access": require(Role.admin)},
)
async def slack_install(access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> Response[Any]:
    settings = runtime.settings
    if not (settings.cheers_slack_client_id and settings.cheers_slack_client_secret):
        raise Invalid(
            "Slack install is not set up on this CheersAI",
            remedy="set CHEERS_SLACK_CLIENT_ID and CHEERS_SLACK_CLIENT_SECRET (docs/slack.md), "
            "or run one workspace with CHEERS_SLACK_BOT_TOKEN",
        )
    started = await installs.start_install(uow.session, runtime.clock, access)
    query = urlencode(
        {
            "client_id": settings.cheers_slack_client_id,
            "scope": ",".join(SCOPES),
            "state": started.state,
            "redirect_uri": redirect_uri(settings.cheers_public_url),
        }
    )
    cookie = Cookie(
        key=INSTALL_COOKIE,
        value=started.browser_token,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",  # sent on Slack's top-level redirect back to us
        max_age=int(installs.INSTALL_STATE_TTL.total_seconds()),
        path="/slack",
    )
    url = f"{settings.cheers_slack_oauth_url.rstrip('/')}/oauth/v2/authorize?{query}"
    return Redirect(url, status_code=302, cookies=[cookie])


async def _signed_in_user(request: Request[Any, Any, Any], runtime: Runtime, uow: UnitOfWork) -> int | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        _, user = await auth_core.resolve_session(uow.session, runtime.clock, raw)
    except DomainError:
        return None
    return user.id


@get("/slack/oauth_redirect", tags=["slack"], summary="Where Slack sends the browser back after Add to Slack")
async def slack_oauth_redirect(request: Request[Any, Any, Any], runtime: Runtime, uow: UnitOfWork) -> Response[str]:
    params = request.query_params
    if params.get("error"):
        return page("Not installed", "<p>Slack says the install was cancelled; nothing changed.</p>", status=400)
    front = front_of(request.app.state, runtime)
    code = params.get("code") or ""

    async def exchange() -> InstalledBot:
        try:
            bot = await front.exchange(code)
        except SlackApiError as exc:
            log.warning("slack_install_exchange_refused", error=exc.response.get("error"))
            raise installs.InstallRefused(
                f"Slack refused the install ({exc.response.get('error')})", remedy="start again from CheersAI"
            ) from None
        if not bot.bot_token or not bot.workspace_id:
            raise installs.InstallRefused("Slack's answer had no bot token", remedy="start again from CheersAI")
        return bot

    try:
        done = await installs.complete_install(
            uow.session,
            runtime.clock,
            runtime.cipher(),
            raw_state=params.get("state"),
            browser_token=request.cookies.get(INSTALL_COOKIE),
            viewer_user_id=await _signed_in_user(request, runtime, uow),
            exchange=exchange,
        )
    except DomainError as exc:
        await uow.rollback()
        status = 403 if isinstance(exc, PermissionDenied) else 400
        remedy = f"<p class=muted>{escape(exc.remedy)}</p>" if exc.remedy else ""
        return page("Not installed", f"<p>{escape(exc.message)}.</p>{remedy}", status=status)
    log.info("slack_installed", install_id=done.install_id, reinstalled=done.reinstalled)
    body = (
        f"<p>CheersAI is in <b>{escape(done.workspace_name)}</b> for <b>{escape(done.venue_name)}</b>.</p>"
        "<p class=muted>In Slack, type <code>/cheers help</code>; link your account with "
        "<code>/cheers link CODE</code> (get a code in CheersAI).</p>"
    )
    response = page("Added to Slack", body)
    response.delete_cookie(INSTALL_COOKIE, path="/slack")
    return response


routes = [slack_events, slack_install, slack_oauth_redirect]
