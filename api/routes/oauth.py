"""Browser side of connecting: our confirmation page, the provider's callback, the pick, Meta's callbacks."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect

from api.deps import SESSION_COOKIE
from api.html import page
from api.origin import require_same_origin
from core.access import auth as auth_core
from core.access.audit import Actor
from core.access.policy import VenueAccess
from core.connections import meta_callbacks, oauth
from core.errors import DomainError, NotFound, PermissionDenied
from core.runtime import Runtime
from storage.models import Channel, OAuthPurpose, Provider, Role
from storage.uow import UnitOfWork

BROWSER_COOKIE = "cheers_oauth"


def provider_from(value: str) -> Provider:
    try:
        return Provider(value)
    except ValueError:
        raise NotFound(f"unknown provider '{value}'; use facebook, instagram or google_business") from None


async def _signed_in_user(request: Request[Any, Any, Any], runtime: Runtime, uow: UnitOfWork) -> int | None:
    """The CheersAI person this browser is signed in as, if any (a consent link needs no session)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        _, user = await auth_core.resolve_session(uow.session, runtime.clock, raw)
    except DomainError:
        return None  # an ended session is no session: the link alone decides
    return user.id


def _refusal(exc: DomainError) -> Response[str]:
    if isinstance(exc, PermissionDenied):
        remedy = f"<p class=muted>{escape(exc.remedy)}</p>" if exc.remedy else ""
        return page("Not your link", f"<p>{escape(exc.message)}.</p>{remedy}", status=403)
    return page("Connection not started", f"<p>{escape(exc.message)}</p>", status=400)


def _confirm_page(provider: Provider, raw_state: str, landing: oauth.Landing) -> Response[str]:
    host = oauth.PROVIDER_NAME[provider]
    venue = escape(landing.venue_name)
    if landing.purpose is OAuthPurpose.reconnect:
        which = escape(landing.connection_name or "this connection")
        what = f"renews CheersAI's access to <strong>{which}</strong> at <strong>{venue}</strong>, in place"
    else:
        what = f"connects what you approve there to <strong>{venue}</strong>"
    action = f"/oauth/{provider.value}/start?{urlencode({'state': raw_state})}"
    body = (
        f"<p>{escape(landing.person_name)} asked CheersAI for this link. The button takes you to {host}; "
        f"approving there {what}.</p>"
        f'<form method="post" action="{escape(action)}"><button type="submit">Continue to {host}</button></form>'
        f'<p class="muted">The link works once, in one browser, until {landing.expires_at:%H:%M} UTC. '
        "Not expecting it? Close this page: nothing has changed.</p>"
    )
    return page(f"{landing.headline} — asked by {landing.person_name}", body)


@get(
    "/oauth/{provider_name:str}/start",
    tags=["oauth"],
    summary="Confirmation page: names the venue and who asked; changes nothing",
)
async def oauth_start(
    provider_name: str, request: Request[Any, Any, Any], runtime: Runtime, uow: UnitOfWork
) -> Response[str]:
    # Chat apps fetch a link to preview it (Slackbot-LinkExpanding, TelegramBot, facebookexternalhit, ...):
    # whatever the user agent, a GET only reads, so the person who then opens the link can still use it.
    provider = provider_from(provider_name)
    state = request.query_params.get("state")  # `state` is a reserved parameter name in Litestar
    try:
        landing = await oauth.describe_landing(
            uow.session,
            runtime.clock,
            provider,
            state,
            browser_token=request.cookies.get(BROWSER_COOKIE),
            viewer_user_id=await _signed_in_user(request, runtime, uow),
        )
    except DomainError as exc:
        return _refusal(exc)
    return _confirm_page(provider, state or "", landing)


@post(
    "/oauth/{provider_name:str}/start",
    tags=["oauth"],
    summary="The person confirmed: binds the flow to this browser and sends it to the provider",
    status_code=303,
)
async def oauth_confirm(
    provider_name: str, request: Request[Any, Any, Any], runtime: Runtime, uow: UnitOfWork
) -> Response[Any]:
    adapter = runtime.providers[provider_from(provider_name)]
    # Another site posting someone's link would make this browser finish their flow (login CSRF, OAuth style).
    require_same_origin(request, runtime.settings)
    try:
        url, browser = await oauth.open_landing(
            uow.session,
            runtime.clock,
            runtime.settings,
            runtime.cipher(),
            adapter,
            request.query_params.get("state"),
            browser_token=request.cookies.get(BROWSER_COOKIE),
            viewer_user_id=await _signed_in_user(request, runtime, uow),
        )
    except DomainError as exc:
        return _refusal(exc)
    cookie = Cookie(
        key=BROWSER_COOKIE,
        value=browser,
        httponly=True,
        secure=runtime.settings.secure_cookies,
        samesite="lax",
        max_age=int(oauth.STATE_TTL.total_seconds()),
        path="/oauth",
    )
    return Redirect(url, status_code=303, cookies=[cookie])


def _outcome_page(provider: Provider, outcome: oauth.CallbackOutcome) -> Response[str]:
    if outcome.status == "choose":
        boxes = "".join(
            f'<p><label><input type="checkbox" name="external_ids" value="{escape(c.external_id)}" checked> '
            f"{escape(c.name)} <span class=muted>({escape(c.external_id)})</span></label></p>"
            for c in outcome.choices
        )
        body = (
            f'<p>{escape(outcome.message)}</p><form method=post action="/oauth/{provider.value}/pick">'
            f'<input type=hidden name=state_id value="{outcome.state_id}">{boxes}'
            "<button type=submit>Connect</button></form>"
        )
        return page("Choose what to connect", body)
    title = {"connected": "Connected", "denied": "Not connected", "failed": "Not connected"}[outcome.status]
    body = f"<p>{escape(outcome.message)}</p>"
    if outcome.remedy:
        body += f"<p class=muted>{escape(outcome.remedy)}</p>"
    body += _way_back(outcome.return_to)
    return page(title, body, status=200 if outcome.status == "connected" else 400)


def _way_back(return_to: str | None) -> str:
    """The end of a finished flow: a link back where it started (the planner), else a word to close the tab."""
    if return_to:  # validated as a path on this site when the flow started
        return f'<p><a href="{escape(return_to)}">Back to CheersAI</a></p>'
    return "<p>You can close this tab and go back to CheersAI.</p>"


@get("/oauth/{provider_name:str}/callback", tags=["oauth"], summary="Where the provider sends the browser back")
async def oauth_callback(
    provider_name: str,
    request: Request[Any, Any, Any],
    runtime: Runtime,
    uow: UnitOfWork,
    code: str | None = None,
    error: str | None = None,
) -> Response[str]:
    provider = provider_from(provider_name)
    state = request.query_params.get("state")
    try:
        outcome = await oauth.complete(
            uow.session,
            runtime.clock,
            runtime.settings,
            runtime.cipher(),
            runtime.providers[provider],
            raw_state=state,
            browser_token=request.cookies.get(BROWSER_COOKIE),
            code=code,
            error=error,
        )
    except DomainError as exc:
        return page("Not connected", f"<p>{escape(exc.message)}</p>", status=400)
    return _outcome_page(provider, outcome)


@post(
    "/oauth/{provider_name:str}/pick",
    tags=["oauth"],
    summary="The browser's answer to 'which to connect'",
    status_code=200,
)
async def oauth_pick(
    provider_name: str,
    request: Request[Any, Any, Any],
    runtime: Runtime,
    uow: UnitOfWork,
) -> Response[str]:
    provider_from(provider_name)  # unknown providers answer 404
    require_same_origin(request, runtime.settings)
    form = await request.form()
    # An unticked checkbox is not sent at all: with every box unticked the field is missing.
    external_ids = [str(v) for v in form.getall("external_ids")] if "external_ids" in form else []
    try:
        state_id = int(str(form.get("state_id", "")))
        state = await oauth.browser_state(uow.session, state_id, request.cookies.get(BROWSER_COOKIE))
        access = VenueAccess(
            actor=Actor(user_id=state.user_id, channel=Channel.web), account_id=state.account_id, role=Role.admin
        )
        changes = await oauth.pick(
            uow.session, runtime.clock, runtime.cipher(), access, state_id=state_id, external_ids=external_ids
        )
    except (DomainError, ValueError) as exc:
        message = exc.message if isinstance(exc, DomainError) else "the form was incomplete"
        return page("Not connected", f"<p>{escape(message)}</p>", status=400)
    items = "".join(f"<li>{escape(c.summary)}</li>" for c in changes)
    return page("Connected", f"<ul>{items}</ul>{_way_back(state.return_to)}")


def _signed_request(data: dict[str, Any]) -> str:
    value = data.get("signed_request")
    return str(value) if value else ""


@post("/meta/deauthorize", tags=["oauth"], summary="Meta: a user removed the app", status_code=200)
async def meta_deauthorize(
    runtime: Runtime, uow: UnitOfWork, data: dict[str, Any] = Body(media_type=RequestEncodingType.URL_ENCODED)
) -> dict[str, Any]:
    payload = meta_callbacks.parse_signed_request(_signed_request(data), runtime.settings.cheers_facebook_app_secret)
    receipt = await meta_callbacks.handle(
        uow.session, runtime.clock, runtime.cipher(), kind="deauthorize", provider_user_id=str(payload["user_id"])
    )
    return {"ok": True, "connections": len(receipt.connection_ids)}


@post(
    "/meta/data-deletion",
    tags=["oauth"],
    summary="Meta: a user asked for their data to be deleted",
    status_code=200,
)
async def meta_data_deletion(
    runtime: Runtime, uow: UnitOfWork, data: dict[str, Any] = Body(media_type=RequestEncodingType.URL_ENCODED)
) -> dict[str, Any]:
    payload = meta_callbacks.parse_signed_request(_signed_request(data), runtime.settings.cheers_facebook_app_secret)
    receipt = await meta_callbacks.handle(
        uow.session, runtime.clock, runtime.cipher(), kind="data_deletion", provider_user_id=str(payload["user_id"])
    )
    url = f"{runtime.settings.cheers_public_url}/meta/data-deletion/{receipt.confirmation_code}"
    return {"url": url, "confirmation_code": receipt.confirmation_code}


@get("/meta/data-deletion/{code:str}", tags=["oauth"], summary="Status of a data-deletion request")
async def meta_data_deletion_status(code: str, uow: UnitOfWork) -> Response[str]:
    request = await meta_callbacks.status(uow.session, code)
    return page(
        "Data deletion request",
        f"<p>Request {escape(request.confirmation_code)}: {escape(request.status)} "
        f"on {request.created_at:%Y-%m-%d %H:%M} UTC.</p>",
    )


routes = [
    oauth_start,
    oauth_confirm,
    oauth_callback,
    oauth_pick,
    meta_deauthorize,
    meta_data_deletion,
    meta_data_deletion_status,
]
