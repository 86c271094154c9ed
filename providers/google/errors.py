"""Google's error bodies (OAuth `{"error": "…"}` and google.rpc.Status) mapped onto the provider taxonomy.

Everything kept on an exception passes through `redact` first: no token ever rides along in `raw`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from providers.errors import (
    ApiDisabled,
    AuthExpired,
    MetadataMissing,
    Permanent,
    PermissionMissing,
    ProviderError,
    RateLimited,
    Transient,
)

PROVIDER = "google_business"
ACCOUNTS_API = "mybusinessaccountmanagement.googleapis.com"
INFO_API = "mybusinessbusinessinformation.googleapis.com"
POSTS_API = "mybusiness.googleapis.com"
BUSINESS_MANAGE = "https://www.googleapis.com/auth/business.manage"
LEGACY_BUSINESS_MANAGE = "https://www.googleapis.com/auth/plus.business.manage"
REQUEST_ACCESS_URL = "https://developers.google.com/my-business/content/prereqs#request-access"
API_TITLES = {
    ACCOUNTS_API: "My Business Account Management API",
    INFO_API: "My Business Business Information API",
    POSTS_API: "Google My Business API",
}

RECONNECT = "Google access was revoked or expired; reconnect"
RECONNECT_REMEDY = "Connect Google Business Profile again from CheersAI and approve access."
SCOPE_REMEDY = "Connect Google Business Profile again and leave the box for managing your business listings ticked."

REDACTED = "[redacted]"
SECRET_KEYS = frozenset({"access_token", "refresh_token", "id_token", "token", "code_verifier", "client_secret"})
# Google's token shapes: access tokens start "ya29.", refresh tokens "1//", codes "4/".
TOKEN_PATTERN = re.compile(r"(ya29\.|1//|4/0)[A-Za-z0-9._\-]+")


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of a JSON value with token-named fields, token-shaped strings and the given secrets masked."""
    known = [s for s in secrets if s]
    if isinstance(value, dict):
        return {k: REDACTED if k in SECRET_KEYS else redact(v, known) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, known) for v in value]
    if isinstance(value, str):
        for secret in known:
            value = value.replace(secret, REDACTED)
        return TOKEN_PATTERN.sub(REDACTED, value)
    return value


def has_business_scope(scopes: Iterable[str]) -> bool:
    """business.manage (or its legacy alias) is among the granted scopes."""
    granted = set(scopes)
    return BUSINESS_MANAGE in granted or LEGACY_BUSINESS_MANAGE in granted


def parse_retry_after(header: str | None, now: Callable[[], datetime]) -> float | None:
    """Retry-After as seconds: either a number or an HTTP date."""
    if not header:
        return None
    try:
        return max(float(header), 0.0)
    except ValueError:
        pass
    try:
        return max((parsedate_to_datetime(header) - now()).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def _detail(details: list[Any], kind: str) -> dict[str, Any]:
    return next((d for d in details if isinstance(d, dict) and str(d.get("@type", "")).endswith(kind)), {})


def _oauth_error(error: str, description: str, status: int, common: dict[str, Any]) -> ProviderError:
    """Errors from /token, /revoke and /tokeninfo."""
    if error in ("invalid_grant", "invalid_token"):
        return AuthExpired(RECONNECT, code=error, remedy=RECONNECT_REMEDY, **common)
    if error in ("invalid_client", "unauthorized_client"):
        return Permanent(
            "Google rejected CheersAI's OAuth client id or secret.",
            code=error,
            remedy="An operator must check CHEERS_GOOGLE_CLIENT_ID and CHEERS_GOOGLE_CLIENT_SECRET.",
            **common,
        )
    if status == 429:
        return RateLimited("Google is rate limiting sign-in requests.", code=error, **common)
    if status >= 500:
        return Transient("Google's sign-in service had a temporary problem.", code=error, **common)
    return Permanent(f"Google refused the sign-in request ({error}: {description}).", code=error, **common)


def error_from_response(
    response: httpx.Response, *, secrets: Iterable[str] = (), now: Callable[[], datetime]
) -> ProviderError:
    """Map a non-2xx Google response onto the taxonomy; `raw` is the redacted body."""
    status = response.status_code
    try:
        body: Any = response.json()
    except ValueError:
        body = {"text": response.text[:500]}
    if not isinstance(body, dict):
        body = {"body": body}
    common: dict[str, Any] = {"provider": PROVIDER, "http_status": status, "raw": redact(body, secrets)}
    error = body.get("error")
    if isinstance(error, str):
        return _oauth_error(error, str(body.get("error_description", "")), status, common)
    rpc: dict[str, Any] = error if isinstance(error, dict) else {}
    rpc_status = str(rpc.get("status", ""))
    message = str(rpc.get("message", "")) or f"HTTP {status}"
    raw_details = rpc.get("details")
    details: list[Any] = raw_details if isinstance(raw_details, list) else []
    info = _detail(details, "google.rpc.ErrorInfo")
    reason = str(info.get("reason", ""))
    metadata: dict[str, Any] = info.get("metadata") or {}
    links = _detail(details, "google.rpc.Help").get("links") or [{}]
    help_url = links[0].get("url") if isinstance(links[0], dict) else None
    common["code"] = rpc_status or None
    common["subcode"] = reason or None

    if status == 401 or rpc_status == "UNAUTHENTICATED":
        return AuthExpired(RECONNECT, remedy=RECONNECT_REMEDY, **common)
    if status == 403 and reason == "SERVICE_DISABLED":
        service = str(metadata.get("service", ""))
        title = API_TITLES.get(service, service)
        url = help_url or metadata.get("activationUrl")
        return ApiDisabled(
            f"Google's {title} ({service}) is not enabled for CheersAI's Google Cloud project.",
            api=service,
            activation_url=url,
            remedy=f"An operator must enable the {title} at {url}, wait a few minutes, then try again.",
            **common,
        )
    if status == 403 and reason == "ACCESS_TOKEN_SCOPE_INSUFFICIENT":
        return PermissionMissing(
            "Google access was granted without permission to manage your Business Profile.",
            scopes=[BUSINESS_MANAGE],
            remedy=SCOPE_REMEDY,
            **common,
        )
    if status == 403:
        return PermissionMissing(
            f"Your Google account no longer manages this Business Profile location (Google: {message.rstrip('.')}).",
            remedy="Ask the business owner to add you as an owner or manager in Business Profile, "
            "or reconnect with a Google account that manages it.",
            **common,
        )
    if status == 429 or rpc_status == "RESOURCE_EXHAUSTED":
        if str(metadata.get("quota_limit_value")) == "0":
            service = str(metadata.get("service", ""))
            title = API_TITLES.get(service, service or "Business Profile API")
            return ApiDisabled(
                f"CheersAI's Google Cloud project has no quota for the {title} yet: Google has not approved "
                "Business Profile API access.",
                api=service,
                activation_url=REQUEST_ACCESS_URL,
                remedy=f"An operator must request Business Profile API access at {REQUEST_ACCESS_URL}; "
                "until Google approves it every call fails.",
                **common,
            )
        return RateLimited(
            "Google is rate limiting CheersAI; trying again later.",
            retry_after=parse_retry_after(response.headers.get("Retry-After"), now),
            **common,
        )
    if status == 404 and rpc_status == "NOT_FOUND":
        return MetadataMissing(
            "Google could not find this Business Profile location or account; it may have been removed.",
            remedy="Reconnect Google Business Profile and pick the location again.",
            **common,
        )
    if status >= 500:
        return Transient(f"Google had a temporary problem (HTTP {status}).", sent=True, **common)
    violations = _detail(details, "google.rpc.BadRequest").get("fieldViolations")
    # Google's descriptions are sentences ("Must be at most 1500 characters."): drop the period inside the list.
    rules = [
        f"{v.get('field')}: {str(v.get('description')).strip().rstrip('.')}"
        for v in violations or []
        if isinstance(v, dict)
    ]
    if rules:  # name the broken rule ("summary: Must be at most 1500 characters"), not just "invalid argument"
        return Permanent(f"Google refused the request ({'; '.join(rules)}).", **common)
    return Permanent(f"Google refused the request: {message}", **common)
