"""The Google twin's OAuth endpoints: consent page, /token, /revoke, /tokeninfo, userinfo."""

from __future__ import annotations

import base64
import html
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from litestar import Request, Response, get, post
from litestar.enums import MediaType

from sandbox.google.http import bearer, common_faults, paths, rate_limited, twin_of, unauthenticated
from sandbox.google.scenario import AUTH_HOST, OAUTH_HOST, WWW_HOST
from sandbox.google.state import GoogleTwinState, OAuthError

AnyRequest = Request[Any, Any, Any]


def _error_page(title: str, detail: str) -> Response[str]:
    body = (
        "<!doctype html><html><head><title>Error</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(detail)}</p></body></html>"
    )
    return Response(content=body, status_code=400, media_type=MediaType.HTML)


@get(paths(AUTH_HOST, "/o/oauth2/v2/auth", "/o/oauth2/auth"), sync_to_thread=False)
def consent(request: AnyRequest) -> Response[str]:
    """The consent screen, auto-answered as the control interface says (approve, deny, untick scopes)."""
    twin = twin_of(request)
    q = request.query_params
    client_id = q.get("client_id", "")
    redirect_uri = q.get("redirect_uri", "")
    if client_id not in twin.clients:
        return _error_page("Error 401: invalid_client", "The OAuth client was not found.")
    if urlsplit(redirect_uri).scheme not in ("http", "https"):
        return _error_page("Error 400: invalid_request", "Invalid parameter value for redirect_uri: Missing scheme")
    if q.get("response_type") != "code":
        return _error_page("Error 400: invalid_request", "Invalid response_type; this twin only speaks 'code'.")
    requested = tuple(dict.fromkeys(q.get("scope", "").split()))
    if not requested:
        return _error_page("Error 400: invalid_request", "Missing required parameter: scope")
    challenge = q.get("code_challenge")
    method = q.get("code_challenge_method") or ("plain" if challenge else None)
    if method not in (None, "S256", "plain"):
        return _error_page("Error 400: invalid_request", "Invalid code_challenge_method")
    user = twin.user_by_email(twin.consent.user_email)
    if user is None:
        return _error_page("Error 400: sandbox", "The twin has no Google user to consent with.")
    params: dict[str, str] = {}
    if twin.consent.deny:
        params["error"] = "access_denied"
    else:
        granted = [s for s in requested if s not in twin.consent.withhold_scopes]
        if q.get("include_granted_scopes") == "true":
            granted += sorted(twin.grants.get((client_id, user.sub), set()) - set(granted))
        code = twin.issue_code(
            client_id=client_id,
            redirect_uri=redirect_uri,
            user=user,
            scopes=tuple(granted),
            challenge=challenge,
            challenge_method=method,
            offline=q.get("access_type") == "offline",
            force_consent="consent" in q.get("prompt", "").split(),
        )
        params.update(code=code.code, scope=" ".join(granted), authuser="0", prompt="consent")
    if "state" in q:
        params = {"state": q["state"], **params}
    location = redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(params)
    return Response(content="", status_code=302, headers={"Location": location})


def _client_credentials(request: AnyRequest, form: dict[str, str]) -> tuple[str, str | None]:
    """client_id/secret from the form, or HTTP Basic (both are allowed by Google)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        user, _, password = base64.b64decode(value).decode().partition(":")
        return unquote(user), unquote(password)
    return form.get("client_id", ""), form.get("client_secret")


async def _form(request: AnyRequest) -> dict[str, str]:
    form = await request.form()
    return {k: str(v) for k, v in form.items()}


@post(paths(OAUTH_HOST, "/token"), status_code=200)
async def token(request: AnyRequest) -> dict[str, Any]:
    """The token endpoint: authorization_code and refresh_token grants."""
    twin = twin_of(request)
    await common_faults(twin, OAUTH_HOST)
    rate_limited(twin, OAUTH_HOST)
    form = await _form(request)
    client_id, secret = _client_credentials(request, form)
    if secret is None:
        raise OAuthError(401, "invalid_client", "Unauthorized")
    twin.check_client(client_id, secret)
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        return twin.redeem_code(
            client_id=client_id,
            code=form.get("code", ""),
            redirect_uri=form.get("redirect_uri", ""),
            verifier=form.get("code_verifier"),
        )
    if grant_type == "refresh_token":
        return twin.refresh(client_id=client_id, token=form.get("refresh_token", ""))
    raise OAuthError(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type or ''}")


@post(paths(OAUTH_HOST, "/revoke"), status_code=200)
async def revoke(request: AnyRequest) -> dict[str, Any]:
    """Revoke a token (form body, or query as older clients send it) and the grant behind it."""
    twin = twin_of(request)
    await common_faults(twin, OAUTH_HOST)
    form = await _form(request)
    value = form.get("token") or request.query_params.get("token") or ""
    twin.revoke(value)
    return {}


def _token_info(twin: GoogleTwinState, value: str | None) -> dict[str, Any]:
    access = twin.valid_access(value)
    if access is None:
        raise OAuthError(400, "invalid_token", "Invalid Value")
    user = twin.users.get(access.sub)
    remaining = int((access.expires_at - twin.now()).total_seconds())
    # tokeninfo answers with strings for the numbers, as the real endpoint does.
    return {
        "azp": access.client_id,
        "aud": access.client_id,
        "sub": access.sub,
        "scope": " ".join(access.scopes),
        "exp": str(int(access.expires_at.timestamp())),
        "expires_in": str(max(remaining, 0)),
        "email": user.email if user else "",
        "email_verified": "true",
        "access_type": "offline" if access.offline else "online",
    }


@get(paths(OAUTH_HOST, "/tokeninfo"))
async def tokeninfo_get(request: AnyRequest) -> dict[str, Any]:
    """tokeninfo with the token in the Authorization header (preferred) or the access_token query."""
    twin = twin_of(request)
    await common_faults(twin, OAUTH_HOST)
    return _token_info(twin, bearer(request))


@post(paths(OAUTH_HOST, "/tokeninfo"), status_code=200)
async def tokeninfo_post(request: AnyRequest) -> dict[str, Any]:
    """tokeninfo with the token in a form body."""
    twin = twin_of(request)
    await common_faults(twin, OAUTH_HOST)
    form = await _form(request)
    return _token_info(twin, form.get("access_token") or bearer(request))


@get(paths(WWW_HOST, "/oauth2/v2/userinfo"))
async def userinfo(request: AnyRequest) -> dict[str, Any]:
    """The signed-in user's profile (Bearer)."""
    twin = twin_of(request)
    await common_faults(twin, WWW_HOST)
    access = twin.valid_access(bearer(request))
    user = twin.users.get(access.sub) if access else None
    if user is None:
        raise unauthenticated()
    given, _, family = user.name.partition(" ")
    return {
        "id": user.sub,
        "email": user.email,
        "verified_email": True,
        "name": user.name,
        "given_name": given,
        "family_name": family,
        "picture": f"https://lh3.googleusercontent.com/a/sandbox-{user.sub}",
    }


OAUTH_ROUTES = [consent, token, revoke, tokeninfo_get, tokeninfo_post, userinfo]
