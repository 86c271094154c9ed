"""The provider error taxonomy: every adapter maps real error bodies onto these few types.

Core maps them to states and plain-language messages; nothing above `providers/` parses a
provider's error body.
"""

from __future__ import annotations

from typing import Any


class ProviderError(Exception):
    """Base: `message` is plain language; `code`/`subcode`/`status` keep the provider's own words."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        http_status: int | None = None,
        code: str | int | None = None,
        subcode: str | int | None = None,
        remedy: str | None = None,
        raw: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.http_status = http_status
        self.code = code
        self.subcode = subcode
        self.remedy = remedy
        self.raw = raw or {}


class AuthExpired(ProviderError):
    """The token expired or was revoked (Graph 190/*, Google 401 or invalid_grant): reconnect."""


class PermissionMissing(ProviderError):
    """A permission (scope, Page task, location role) is missing; `scopes` names what to grant."""

    def __init__(self, message: str, *, scopes: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.scopes = scopes or []


class RateLimited(ProviderError):
    """Throttled (HTTP 429, Graph 4/17/32/613/80001/80002, Google RESOURCE_EXHAUSTED)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class Transient(ProviderError):
    """Temporary trouble; `sent` tells whether the request may have reached the provider."""

    def __init__(self, message: str, *, sent: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.sent = sent


class Permanent(ProviderError):
    """The provider refused the request as it stands (validation, bad id); retrying will not help."""


class MetadataMissing(ProviderError):
    """An id we need (page id, Instagram account, location) is missing or no longer reachable."""


class ApiDisabled(ProviderError):
    """The provider API is disabled or has no quota for our project; `api` names what to enable."""

    def __init__(self, message: str, *, api: str = "", activation_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.api = api
        self.activation_url = activation_url
