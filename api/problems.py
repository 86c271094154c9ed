"""RFC 9457 problem+json for every error the API returns."""

from __future__ import annotations

from typing import Any

import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException

from api.observability import count_unmatched, request_id_from
from core.errors import (
    AuthenticationRequired,
    Conflict,
    DomainError,
    Invalid,
    NotFound,
    PermissionDenied,
    TooManyRequests,
    join_messages,
)
from core.media.errors import MediaTooLarge, MediaUnsupportedType
from providers.errors import ProviderError, RateLimited, Transient

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://cheers.ai/problems/"

_STATUS: dict[type[DomainError], int] = {
    # Before Invalid: both are MediaRejected, which is an Invalid (first match wins).
    MediaTooLarge: 413,
    MediaUnsupportedType: 415,
    NotFound: 404,
    PermissionDenied: 403,
    AuthenticationRequired: 401,
    TooManyRequests: 429,  # before Conflict, its base class
    Conflict: 409,
    Invalid: 422,
}

_TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal error",
    502: "Provider error",
    503: "Unavailable",
}


def problem(
    request: Request[Any, Any, Any],
    status: int,
    detail: str,
    *,
    code: str,
    remedy: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    request_id = request.scope.get("state", {}).get("request_id")
    if request_id is None:
        # Routing errors (404, 405) are raised before the request-id middleware runs, so they are counted here.
        request_id = request_id_from(request.headers.get("x-request-id", ""))
        count_unmatched(request.app.state.metrics, request.method, status)
        headers = {**(headers or {}), "X-Request-Id": request_id}
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": request_id,
    }
    if remedy:
        body["remedy"] = remedy
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def domain_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    assert isinstance(exc, DomainError)
    status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return problem(request, status, exc.message, code=exc.code, remedy=exc.remedy, headers=headers, **exc.extra)


def http_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    assert isinstance(exc, HTTPException)
    if isinstance(exc, ValidationException):
        errors = exc.extra if isinstance(exc.extra, list) else None
        return problem(
            request, 400, "the request is malformed: " + _summarise(errors, exc.detail), code="malformed", errors=errors
        )
    code = _TITLES.get(exc.status_code, "error").lower().replace(" ", "_")
    return problem(request, exc.status_code, exc.detail, code=code, headers=dict(exc.headers or {}))


def provider_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """A provider that failed while a route waited on it (diagnose, disconnect): its words, not "internal error".

    Unreachable or throttled is 503 with Retry-After; any other refusal is 502. Either way the fault is upstream."""
    assert isinstance(exc, ProviderError)
    log.warning("provider_error", path=request.url.path, error=exc.__class__.__name__, provider=exc.provider)
    if isinstance(exc, Transient | RateLimited):
        retry_after = getattr(exc, "retry_after", None) or 60
        return problem(
            request,
            503,
            exc.message,
            code="provider_unavailable",
            remedy=exc.remedy or "try again in a minute or two",
            headers={"Retry-After": str(max(1, round(retry_after)))},
        )
    remedy = exc.remedy or "try again later; if it keeps failing, check the connection's status"
    return problem(request, 502, exc.message, code="provider_error", remedy=remedy)


def _out_of_range(exc: BaseException) -> bool:
    """A number too large for the database (SQLite raises OverflowError, asyncpg wraps 'out of int64 range')."""
    seen: BaseException | None = exc
    for _ in range(10):  # a short cause chain: the driver's error inside SQLAlchemy's
        if seen is None:
            return False
        if isinstance(seen, OverflowError) or "out of int64 range" in str(seen) or "out of int32 range" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    # Input no route can reasonably check field by field is answered centrally as a 400, not a 500.
    if isinstance(exc, RecursionError):
        return problem(request, 400, "the request body is nested too deeply", code="malformed")
    if _out_of_range(exc):
        return problem(
            request,
            400,
            "a number in the request is too large (ids fit in 64 bits)",
            code="out_of_range",
            remedy="check the ids you sent",
        )
    log.error("unhandled_error", path=request.url.path, error=exc.__class__.__name__, exc_info=exc)
    return problem(
        request,
        500,
        "something went wrong on our side; it has been logged",
        code="internal",
        remedy="try again; if it keeps happening, quote the request id to support",
    )


def _summarise(errors: list[Any] | None, fallback: str) -> str:
    if not errors:
        return fallback
    parts = []
    for err in errors[:5]:
        if isinstance(err, dict):
            # Trailing periods go, so the clauses read "a: x; b: y", not "a: x.; b: y".
            message = str(err.get("message")).strip().rstrip(".")
            parts.append(f"{err.get('key') or err.get('source') or 'body'}: {message}")
    return join_messages(parts) or fallback


def exception_handlers() -> dict[Any, Any]:
    return {
        DomainError: domain_error_handler,
        HTTPException: http_error_handler,
        ProviderError: provider_error_handler,
        Exception: unexpected_error_handler,
    }


__all__ = ["PROBLEM_JSON", "MediaType", "exception_handlers", "problem"]
