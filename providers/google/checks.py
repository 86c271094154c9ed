"""Diagnose a Google Business Profile connection: each check becomes a Finding with a plain-language remedy.

Check names core relies on: `refresh_token` (not ok means reconnect), `scopes`, `location`,
`api_enabled:{service}`, `reachable` (Google could not be asked; try later, nothing to fix).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from providers.base import Diagnosis, Finding, StoredCredentials
from providers.errors import (
    ApiDisabled,
    AuthExpired,
    MetadataMissing,
    PermissionMissing,
    ProviderError,
    RateLimited,
    Transient,
)
from providers.google.errors import (
    ACCOUNTS_API,
    API_TITLES,
    INFO_API,
    POSTS_API,
    RECONNECT_REMEDY,
    SCOPE_REMEDY,
    has_business_scope,
)

if TYPE_CHECKING:
    from providers.google.adapter import GoogleBusinessAdapter

TRY_LATER = "Nothing to fix on your side; CheersAI retries on its own. Check again in a few minutes."


def _unreachable(what: str, exc: ProviderError) -> Finding:
    return Finding("reachable", False, f"Could not check {what}: {exc.message}", remedy=exc.remedy or TRY_LATER)


async def _probe(findings: list[Finding], service: str, call: Awaitable[Any]) -> Any:
    """Run one API call: ApiDisabled and success become api_enabled findings; returns the body or the error."""
    title = API_TITLES[service]
    try:
        result = await call
    except ApiDisabled as exc:
        remedy = exc.remedy or f"Enable the {title} at {exc.activation_url}."
        findings.append(Finding(f"api_enabled:{exc.api or service}", False, exc.message, remedy=remedy))
        return exc
    except ProviderError as exc:
        return exc
    findings.append(Finding(f"api_enabled:{service}", True, f"The {title} is enabled."))
    return result


def _location_finding(location_name: str, outcome: Any) -> Finding | None:
    if isinstance(outcome, dict):
        title = outcome.get("title") or location_name
        return Finding("location", True, f"CheersAI can reach {title}.")
    if isinstance(outcome, PermissionMissing | MetadataMissing):
        return Finding("location", False, outcome.message, remedy=outcome.remedy)
    if isinstance(outcome, AuthExpired):
        return Finding("refresh_token", False, outcome.message, remedy=RECONNECT_REMEDY)
    if isinstance(outcome, Transient | RateLimited):
        return _unreachable("the location", outcome)
    if isinstance(outcome, ProviderError) and not isinstance(outcome, ApiDisabled):
        return Finding("location", False, outcome.message, remedy=outcome.remedy)
    return None


async def diagnose_google(adapter: GoogleBusinessAdapter, credentials: StoredCredentials) -> Diagnosis:
    """Refresh (is the refresh token alive?), tokeninfo (scopes), then the location and each API we use."""
    findings: list[Finding] = []
    scopes = credentials.scopes
    if not credentials.refresh_token:
        findings.append(
            Finding(
                "refresh_token",
                False,
                "No Google refresh token is stored, so access stops within the hour.",
                remedy=RECONNECT_REMEDY,
            )
        )
        return Diagnosis(findings=tuple(findings), scopes=scopes)
    try:
        grant = await adapter.refresh(credentials)
    except AuthExpired as exc:
        findings.append(Finding("refresh_token", False, exc.message, remedy=RECONNECT_REMEDY))
        return Diagnosis(findings=tuple(findings), scopes=scopes)
    except ProviderError as exc:
        findings.append(_unreachable("Google access", exc))
        return Diagnosis(findings=tuple(findings), scopes=scopes)
    until = grant.expires_at.strftime("%H:%M UTC") if grant.expires_at else "Google's next renewal"
    findings.append(
        Finding(
            "refresh_token", True, f"Google access renews on its own; the current access token lasts until {until}."
        )
    )
    token = grant.access_token

    try:
        info = await adapter.token_info(token)
        scopes = tuple(str(info.get("scope", "")).split())
        if has_business_scope(scopes):
            findings.append(Finding("scopes", True, "Permission to manage your Business Profile is granted."))
        else:
            findings.append(
                Finding(
                    "scopes",
                    False,
                    "Permission to manage your Business Profile (business.manage) is not granted.",
                    remedy=SCOPE_REMEDY,
                )
            )
    except ProviderError as exc:
        findings.append(_unreachable("the granted permissions", exc))

    outcome = await _probe(findings, ACCOUNTS_API, adapter.probe_accounts(token))
    if isinstance(outcome, Transient | RateLimited):
        findings.append(_unreachable("the Account Management API", outcome))
    if not credentials.location_name or "/locations/" not in credentials.location_name:
        findings.append(
            Finding(
                "location",
                False,
                "No Business Profile location is recorded for this connection.",
                remedy="Connect Google Business Profile again and pick the location.",
            )
        )
        return Diagnosis(findings=tuple(findings), expires_at=grant.expires_at, scopes=scopes)
    location_id = credentials.location_name.rsplit("/", 1)[-1]
    outcome = await _probe(findings, INFO_API, adapter.get_location(token, location_id))
    if (located := _location_finding(credentials.location_name, outcome)) is not None:
        findings.append(located)
    outcome = await _probe(findings, POSTS_API, adapter.probe_posts(token, credentials.location_name))
    if isinstance(outcome, Transient | RateLimited):
        findings.append(_unreachable("the Google My Business API", outcome))
    return Diagnosis(findings=tuple(findings), expires_at=grant.expires_at, scopes=scopes)
