"""Domain errors every front door maps to its own rendering (problem+json, a chat reply, exit 1 from the CLI)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_SENTENCE_END = (".", "!", "?")


class DomainError(Exception):
    """A failure the user can understand: `message` says why, `remedy` what to do next."""

    code = "error"

    def __init__(self, message: str, *, remedy: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy
        self.extra = extra


class NotFound(DomainError):
    code = "not_found"


class PermissionDenied(DomainError):
    code = "permission_denied"


class AuthenticationRequired(DomainError):
    code = "authentication_required"


class Conflict(DomainError):
    code = "conflict"


class Invalid(DomainError):
    code = "invalid"


class TooManyRequests(Conflict):
    """A rate limit was reached; a Conflict, so front doors that know only Conflict still refuse it."""

    code = "too_many_requests"


def join_messages(messages: Iterable[str]) -> str:
    """Several messages as one line: after a full sentence a space, after a clause "; " (never ".;")."""
    parts = [m.strip() for m in messages if m and m.strip()]
    joined = ""
    for part in parts:
        if joined:
            joined += " " if joined.endswith(_SENTENCE_END) else "; "
        joined += part
    return joined
