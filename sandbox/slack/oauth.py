"""The Slack twin's install page: GET /oauth/v2/authorize shows Allow / Cancel, its POST redirects with a code.

A person clicks Allow in `make dev`; a test GETs the page and POSTs the form (`approve_form`), or turns on
`auto_approve` so the GET redirects at once. Errors are shown on the page, as Slack shows them, not redirected.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from urllib.parse import urlencode

from sandbox.slack.state import SlackTwinState

FIELDS = ("client_id", "scope", "user_scope", "state", "redirect_uri", "team")


@dataclass
class PageAnswer:
    status: int
    html: str | None = None
    location: str | None = None


def _redirect(target: str, **params: str) -> PageAnswer:
    joiner = "&" if "?" in target else "?"
    return PageAnswer(302, location=f"{target}{joiner}{urlencode({k: v for k, v in params.items() if v is not None})}")


def _refused(title: str, detail: str) -> PageAnswer:
    return PageAnswer(400, html=f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{html.escape(detail)}</p>")


def _target(state: SlackTwinState, params: dict[str, str]) -> str | PageAnswer:
    """Where the answer goes, or the error page Slack shows instead."""
    if params.get("client_id") != state.app.client_id:
        return _refused("Invalid client_id parameter", "No app has this client_id (invalid_client_id).")
    if not params.get("scope") and not params.get("user_scope"):
        return _refused("Invalid scope", "The request asks for no scopes (invalid_scope).")
    redirect_uri = params.get("redirect_uri") or (state.app.redirect_uris[0] if state.app.redirect_uris else "")
    if not redirect_uri:
        return _refused("Missing redirect_uri", "No redirect_uri was given and the app has none configured.")
    if state.app.redirect_uris and not any(redirect_uri.startswith(u) for u in state.app.redirect_uris):
        return _refused(
            "redirect_uri did not match", "redirect_uri did not match any configured URIs (bad_redirect_uri)."
        )
    return redirect_uri


def _decide(state: SlackTwinState, params: dict[str, str], target: str, *, allow: bool) -> PageAnswer:
    if not allow:
        return _redirect(target, error="access_denied", state=params.get("state", ""))
    team_id = state.consent_team or params.get("team") or state.default_team().id
    if team_id not in state.teams:
        return _refused("No such workspace", team_id)
    user_id = state.consent_user or state.first_admin(team_id).id
    scopes = [s for s in (params.get("scope") or "").split(",") if s]
    code = state.issue_code(team_id, user_id, scopes, params.get("redirect_uri") or None)
    return _redirect(target, code=code.code, state=params.get("state", ""))


def authorize_page(state: SlackTwinState, params: dict[str, str]) -> PageAnswer:
    """GET: the consent page (or, with auto_approve, the redirect it would lead to)."""
    target = _target(state, params)
    if isinstance(target, PageAnswer):
        return target
    if state.auto_approve:
        return _decide(state, params, target, allow=True)
    team = state.teams.get(state.consent_team or params.get("team") or "") or state.default_team()
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(params[name], quote=True)}">'
        for name in FIELDS
        if params.get(name)
    )
    scopes = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in (params.get("scope") or "").split(",") if s)
    page = (
        "<!doctype html><meta charset=utf-8><title>Install on Slack (sandbox)</title>"
        f"<h1>{html.escape(state.app.name)} is requesting permission to access the "
        f"{html.escape(team.name)} Slack workspace</h1>"
        f"<p>What it will be able to do:</p><ul>{scopes}</ul>"
        f'<form method="post" action="/oauth/v2/authorize">{hidden}'
        '<button name="decision" value="allow">Allow</button> '
        '<button name="decision" value="cancel">Cancel</button></form>'
        "<p><small>Slack sandbox twin: nothing here reaches slack.com.</small></p>"
    )
    return PageAnswer(200, html=page)


def authorize_decision(state: SlackTwinState, params: dict[str, str]) -> PageAnswer:
    """POST from the page: Allow redirects with a code, Cancel with error=access_denied."""
    target = _target(state, params)
    if isinstance(target, PageAnswer):
        return target
    return _decide(state, params, target, allow=params.get("decision") == "allow")


def approve_form(params: dict[str, str]) -> dict[str, str]:
    """The form a test posts to click Allow (the page's hidden fields plus the button)."""
    return {**{k: v for k, v in params.items() if k in FIELDS}, "decision": "allow"}
