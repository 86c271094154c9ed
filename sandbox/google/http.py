"""Shared HTTP plumbing for the Google twin: host prefixes, the google.rpc.Status envelope, faults, auth."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, cast

from litestar import Request, Response
from litestar.types import HTTPScope, Message, Scope

from sandbox.google.scenario import (
    ACCOUNTS_API,
    AUTH_HOST,
    BUSINESS_MANAGE,
    INFO_API,
    KNOWN_HOSTS,
    LEGACY_BUSINESS_MANAGE,
    MISSING_CREDENTIAL_MESSAGE,
    OAUTH_HOST,
    POSTS_API,
    REQUEST_ACCESS_URL,
    SERVICE_TITLES,
    UNAUTHENTICATED_MESSAGE,
    WWW_HOST,
)
from sandbox.google.state import AccessToken, GoogleTwinState, OAuthError, TwinCall, User

ErrorInfo = "type.googleapis.com/google.rpc.ErrorInfo"
HelpInfo = "type.googleapis.com/google.rpc.Help"
BadRequestInfo = "type.googleapis.com/google.rpc.BadRequest"
CALL_LOG_LIMIT = 5000


class RpcError(Exception):
    """A google.rpc.Status error response."""

    def __init__(
        self,
        code: int,
        status: str,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message
        self.details = details or []
        self.headers = headers or {}


def rpc_response(_: Request[Any, Any, Any], exc: RpcError) -> Response[Any]:
    error: dict[str, Any] = {"code": exc.code, "message": exc.message, "status": exc.status}
    if exc.details:
        error["details"] = exc.details
    return Response(content={"error": error}, status_code=exc.code, headers=exc.headers)


def oauth_response(_: Request[Any, Any, Any], exc: OAuthError) -> Response[Any]:
    return Response(content={"error": exc.error, "error_description": exc.description}, status_code=exc.status)


def twin_of(request: Request[Any, Any, Any]) -> GoogleTwinState:
    return cast(GoogleTwinState, request.app.state.google_twin)


def paths(host: str, *bare: str) -> list[str]:
    """Each route answers both bare and under its real host's name (`/oauth2.googleapis.com/token`)."""
    return [p for b in bare for p in (b, f"/{host}{b}")]


def split_host(path: str) -> tuple[str | None, str]:
    first, _, rest = path.lstrip("/").partition("/")
    return (first, "/" + rest) if first in KNOWN_HOSTS else (None, path)


def host_for(path: str) -> str:
    """The real host a bare path belongs to (also names the API for faults)."""
    prefix, bare = split_host(path)
    if prefix is not None:
        return prefix
    if bare.startswith("/o/oauth2"):
        return AUTH_HOST
    if bare.startswith("/oauth2/"):
        return WWW_HOST
    if bare.startswith("/v4/"):
        return POSTS_API
    if bare.startswith("/v1/locations") or (bare.startswith("/v1/accounts/") and "/locations" in bare):
        return INFO_API
    if bare.startswith("/v1/accounts"):
        return ACCOUNTS_API
    return OAUTH_HOST


async def record_call(message: Message, scope: Scope) -> None:
    """before_send hook: log every non-control response, unmatched paths included."""
    if message["type"] != "http.response.start" or scope["path"].startswith("/_twin"):
        return
    scope = cast(HTTPScope, scope)
    twin = cast(GoogleTwinState, scope["app"].state.google_twin)
    if len(twin.calls) >= CALL_LOG_LIMIT:
        del twin.calls[: CALL_LOG_LIMIT // 10]  # `make dev` runs for days; keep the recent calls only
    prefix, bare = split_host(scope["path"])
    twin.calls.append(
        TwinCall(
            method=scope["method"],
            host=prefix or host_for(bare),
            path=bare,
            query=scope["query_string"].decode("latin-1"),
            status=message["status"],
            authorization=any(k.lower() == b"authorization" for k, _ in scope["headers"]),
        )
    )


async def common_faults(twin: GoogleTwinState, api: str) -> None:
    """Faults every endpoint (OAuth included) can suffer: delay, then 5xx."""
    faults = twin.faults
    if (delay := faults.take(faults.delay, api)) is not None:
        await asyncio.sleep(delay.seconds)
    if (failure := faults.take(faults.server_error, api)) is not None:
        if failure.status == 500:
            raise RpcError(500, "INTERNAL", "Internal error encountered.")
        raise RpcError(failure.status, "UNAVAILABLE", "The service is currently unavailable.")


@dataclass(frozen=True)
class Quota:
    """How a quota names itself in a 429: metric, human limit name, limit id, metric id."""

    metric: str
    limit: str
    limit_id: str
    metric_id: str


REQUESTS_PER_MINUTE = Quota("Requests", "Requests per minute", "DefaultRequestsPerMinutePerProject", "default_requests")
# [UNVERIFIED] the names Google uses for the per-location edit limit.
EDITS_PER_MINUTE = Quota("Edits", "Edits per minute per location", "EditsPerMinutePerLocation", "edits")


def rate_limited(twin: GoogleTwinState, api: str) -> None:
    """The injected 429 fault, then the API's real per-minute quota (counted on the twin clock)."""
    if (limit := twin.faults.take(twin.faults.rate_limit, api)) is not None:
        raise quota_error(twin, api, limit_value="300", retry_after=limit.retry_after)
    if not twin.posts.admit_request(api):
        raise quota_error(twin, api, limit_value=str(twin.posts.settings.requests_per_minute))


def quota_error(
    twin: GoogleTwinState,
    api: str,
    *,
    limit_value: str,
    retry_after: float | None = None,
    quota: Quota = REQUESTS_PER_MINUTE,
) -> RpcError:
    """429 RESOURCE_EXHAUSTED; `limit_value` "0" is the not-yet-approved project (no quota granted)."""
    consumer = f"project_number:{twin.project_number}"
    info: dict[str, Any] = {
        "@type": ErrorInfo,
        "reason": "RATE_LIMIT_EXCEEDED",
        "domain": "googleapis.com",
        "metadata": {
            "service": api,
            "consumer": f"projects/{twin.project_number}",
            "quota_metric": f"{api}/{quota.metric_id}",
            "quota_limit": quota.limit_id,
            "quota_limit_value": limit_value,
            "quota_location": "global",
        },
    }
    url = REQUEST_ACCESS_URL if limit_value == "0" else "https://cloud.google.com/docs/quotas/help/request_increase"
    help_link = {"@type": HelpInfo, "links": [{"description": "Request a higher quota limit.", "url": url}]}
    message = (
        f"Quota exceeded for quota metric '{quota.metric}' and limit '{quota.limit}' of service "
        f"'{api}' for consumer '{consumer}'."
    )
    headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else None
    return RpcError(429, "RESOURCE_EXHAUSTED", message, details=[info, help_link], headers=headers)


def service_disabled(twin: GoogleTwinState, api: str) -> RpcError:
    project = twin.project_number
    url = f"https://console.developers.google.com/apis/api/{api}/overview?project={project}"
    title = SERVICE_TITLES.get(api, api)
    message = (
        f"{title} has not been used in project {project} before or it is disabled. Enable it by visiting {url} "
        "then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our "
        "systems and retry."
    )
    details: list[dict[str, Any]] = [
        {"@type": HelpInfo, "links": [{"description": "Google developers console API activation", "url": url}]},
        {
            "@type": ErrorInfo,
            "reason": "SERVICE_DISABLED",
            "domain": "googleapis.com",
            "metadata": {
                "service": api,
                "consumer": f"projects/{project}",
                "serviceTitle": title,
                "activationUrl": url,
            },
        },
    ]
    return RpcError(403, "PERMISSION_DENIED", message, details=details)


def bearer(request: Request[Any, Any, Any]) -> str | None:
    """The access token from the Authorization header, or (as Google allows) the access_token query."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("access_token")


def unauthenticated(message: str = UNAUTHENTICATED_MESSAGE) -> RpcError:
    return RpcError(
        401,
        "UNAUTHENTICATED",
        message,
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
    )


async def business_call(request: Request[Any, Any, Any]) -> tuple[GoogleTwinState, AccessToken, User]:
    """The checks a Business Profile API call passes, in Google's order; returns the caller."""
    twin = twin_of(request)
    api = host_for(request.url.path)
    await common_faults(twin, api)
    token = bearer(request)
    if not token:
        raise unauthenticated(MISSING_CREDENTIAL_MESSAGE)
    access = twin.valid_access(token)
    user = twin.users.get(access.sub) if access is not None else None
    if access is None or user is None:
        raise unauthenticated()
    if api in twin.faults.disabled_services:
        raise service_disabled(twin, api)
    if api in twin.faults.quota_zero:
        raise quota_error(twin, api, limit_value="0")
    rate_limited(twin, api)
    if BUSINESS_MANAGE not in access.scopes and LEGACY_BUSINESS_MANAGE not in access.scopes:
        info: dict[str, Any] = {
            "@type": ErrorInfo,
            "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            "domain": "googleapis.com",
            "metadata": {"service": api, "method": request.url.path},
        }
        raise RpcError(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.", details=[info])
    return twin, access, user


def invalid_argument(field: str, description: str, message: str = "Request contains an invalid argument.") -> RpcError:
    violation = {"@type": BadRequestInfo, "fieldViolations": [{"field": field, "description": description}]}
    return RpcError(400, "INVALID_ARGUMENT", message, details=[violation])
