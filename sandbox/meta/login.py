"""The Meta twin's Facebook Login: the consent dialog, the token endpoint and debug_token.

Behaviour follows docs/providers.md#facebook-login and #meta-tokens.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sandbox.meta.model import (
    ALWAYS_GRANTED,
    CODE_TTL_SECONDS,
    DATA_ACCESS_DAYS,
    Answer,
    AppGrant,
    AuthCode,
    GraphError,
    random_string,
)
from sandbox.meta.state import MetaTwinState


def _epoch(value: datetime | None) -> int:
    return int(value.timestamp()) if value else 0


def dialog(state: MetaTwinState, p: dict[str, str]) -> Answer:
    """The consent screen, auto-answered as the control interface says (docs/providers.md#facebook-login)."""
    app = state.apps.get(p.get("client_id", ""))
    if app is None:
        return Answer(status=400, html="<h1>Invalid App ID</h1><p>The provided app ID does not look valid.</p>")
    redirect_uri = p.get("redirect_uri", "")
    if not redirect_uri.startswith(("http://", "https://")):
        return Answer(status=400, html="<h1>URL blocked</h1><p>The redirect_uri is missing or not valid.</p>")
    sep = "&" if "?" in redirect_uri else "?"
    consent = state.consent
    if consent.deny:
        query = {
            "error": "access_denied",
            "error_code": "200",
            "error_description": "Permissions error",
            "error_reason": "user_denied",
            "state": p.get("state", ""),
        }
        return Answer(status=302, location=f"{redirect_uri}{sep}{urlencode(query)}#_=_")
    user = state.users.get(consent.user_id) if consent.user_id else state.default_user()
    if user is None:
        return Answer(status=400, html=f"<h1>No such sandbox user</h1><p>{consent.user_id}</p>")
    requested = [s for s in re.split(r"[,\s]+", p.get("scope", "")) if s]
    denied = [s for s in requested if s in consent.denied_scopes]
    granted = [s for s in requested if s not in denied]
    previous = state.grants.get((user.id, app.id))
    kept = previous.scopes if previous and previous.active else []
    scopes = sorted({ALWAYS_GRANTED, *kept, *granted} - set(denied))
    pages = [pid for pid in (consent.page_ids if consent.page_ids is not None else user.roles) if pid in user.roles]
    now = state.now()
    state.grants[(user.id, app.id)] = AppGrant(
        user_id=user.id,
        app_id=app.id,
        scopes=scopes,
        declined=denied,
        page_ids=pages,
        data_access_expires_at=now + timedelta(days=DATA_ACCESS_DAYS),
    )
    code = AuthCode(
        value="AQ" + random_string(80), app_id=app.id, redirect_uri=redirect_uri, user_id=user.id, issued_at=now
    )
    state.codes[code.value] = code
    query = {"code": code.value, "state": p.get("state", "")}
    if p.get("return_scopes") == "true":
        query |= {"granted_scopes": ",".join(scopes), "denied_scopes": ",".join(denied)}
    return Answer(status=302, location=f"{redirect_uri}{sep}{urlencode(query)}#_=_")


def access_token(state: MetaTwinState, p: dict[str, str]) -> dict[str, Any]:
    """Code grant (short-lived user token) and `fb_exchange_token` (long-lived): docs/providers.md#meta-tokens."""
    app = state.apps.get(p.get("client_id", ""))
    if app is None:
        raise GraphError(101, "Error validating application. Invalid application ID.")
    if p.get("client_secret") != app.secret:
        raise GraphError(1, "Error validating client secret.", status=400)
    if p.get("grant_type") == "fb_exchange_token":
        if not p.get("fb_exchange_token"):
            raise GraphError(100, "Missing fb_exchange_token parameter")
        short = state.check_token(p["fb_exchange_token"])
        if short.kind != "USER" or short.app_id != app.id:
            raise GraphError(100, "Invalid fb_exchange_token: not a user token of this app")
        token = state.issue_user_token(short.user_id, app.id, long_lived=True)
    else:
        code = state.codes.get(p.get("code", ""))
        if code is None or code.app_id != app.id:
            raise GraphError(100, "Invalid verification code format.")
        if code.used:
            raise GraphError(100, "This authorization code has been used.", subcode=36007)
        if state.now() - code.issued_at > timedelta(seconds=CODE_TTL_SECONDS):
            raise GraphError(100, "This authorization code has expired.", subcode=36007)
        if p.get("redirect_uri") != code.redirect_uri:
            raise GraphError(
                100,
                "Error validating verification code. Please make sure your redirect_uri is identical to the "
                "one you used in the OAuth dialog request",
                subcode=36008,
            )
        code.used = True
        token = state.issue_user_token(code.user_id, app.id, long_lived=False)
    assert token.expires_at is not None
    expires_in = round((token.expires_at - state.now()).total_seconds())
    return {"access_token": token.value, "token_type": "bearer", "expires_in": expires_in}


def debug_token(state: MetaTwinState, p: dict[str, str], auth: str | None) -> dict[str, Any]:
    """Inspect `input_token`; callers authenticate with `app_id|app_secret` or a live token (docs/providers.md)."""
    if not auth:
        raise GraphError(
            100,
            "(#100) You must provide an app access token, or a user access token that is an owner or "
            "developer of the app",
        )
    if "|" in auth:
        app_id, _, secret = auth.partition("|")
        app = state.apps.get(app_id)
        if app is None or app.secret != secret:
            raise GraphError(190, "Invalid OAuth access token signature.")
    else:
        app = state.apps[state.check_token(auth).app_id]
    value = p.get("input_token")
    if not value:
        raise GraphError(100, "(#100) The parameter input_token is required")
    token = state.tokens.get(value)
    error = state.token_error(value)
    if token is None:
        assert error is not None
        return {"data": {"error": _debug_error(error), "is_valid": False, "scopes": []}}
    grant = state.grants.get((token.user_id, token.app_id))
    scopes = list(grant.scopes) if grant else []
    data: dict[str, Any] = {
        "app_id": token.app_id,
        "type": token.kind,
        "application": state.apps[token.app_id].name if token.app_id in state.apps else app.name,
        "data_access_expires_at": _epoch(grant.data_access_expires_at if grant else None),
        "expires_at": _epoch(token.expires_at),
        "is_valid": error is None,
        "scopes": scopes,
        "granular_scopes": _granular(state, grant, scopes),
        "user_id": token.user_id,
    }
    if token.long_lived:
        data["issued_at"] = _epoch(token.issued_at)
    if token.kind == "PAGE":
        data["profile_id"] = token.page_id
    if error is not None:
        data["error"] = _debug_error(error)
    return {"data": data}


def _debug_error(error: GraphError) -> dict[str, Any]:
    out: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.subcode is not None:
        out["subcode"] = error.subcode
    return out


def _granular(state: MetaTwinState, grant: AppGrant | None, scopes: list[str]) -> list[dict[str, Any]]:
    if grant is None:
        return []
    page_ids = [p for p in grant.page_ids if p in state.pages]
    ig_ids = [i for p in page_ids if (i := state.pages[p].instagram_id)]
    out: list[dict[str, Any]] = []
    for scope in scopes:
        if scope.startswith("pages_"):
            out.append({"scope": scope, "target_ids": page_ids})
        elif scope.startswith("instagram_"):
            out.append({"scope": scope, "target_ids": ig_ids})
        elif scope != ALWAYS_GRANTED:
            out.append({"scope": scope})
    return out
