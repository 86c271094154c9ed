"""Resend's POST /emails as the twin answers it: the API key, the Idempotency-Key, the fields, then the e-mail.

Shapes follow resend.com/docs/api-reference: 200 `{"id": "<uuid>"}`; errors `{"statusCode", "name", "message"}`
with the documented names (missing_api_key 401, invalid_api_key 403, invalid_idempotency_key 400,
missing_required_field 422, validation_error 422, invalid_idempotent_request 409, rate_limit_exceeded 429 with a
`retry-after` header, application_error 500).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sandbox.resend.state import ResendTwinState, StoredEmail, fingerprint

Body = dict[str, Any]
MAX_KEY = 256
# `email@example.com` or `Name <email@example.com>`, what Resend accepts in from/to.
_ADDRESS = re.compile(r"^(?:[^<>]*<)?([^\s@<>]+@[^\s@<>]+\.[^\s@<>]+)>?$")
ADDRESS_FORMAT = "The email address needs to follow the `email@example.com` or `Name <email@example.com>` format."


class ResendError(Exception):
    """An error answer in Resend's shape."""

    def __init__(self, status: int, name: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.name = name
        self.message = message
        self.headers = headers or {}

    def body(self) -> Body:
        return {"statusCode": self.status, "name": self.name, "message": self.message}


@dataclass
class Accepted:
    """A 200 answer: the e-mail made now, or the one a repeated Idempotency-Key made before (`replayed`)."""

    email: StoredEmail
    replayed: bool = False
    headers: dict[str, str] = field(default_factory=dict)


def check_key(state: ResendTwinState, authorization: str | None) -> None:
    """The Bearer API key: missing is 401, unknown 403 (as Resend answers them)."""
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ResendError(401, "missing_api_key", "Missing API key in the authorization header.")
    if key.strip() not in state.api_keys:
        raise ResendError(403, "invalid_api_key", "API key is invalid.")


def check_idempotency_key(key: str | None) -> None:
    if key is not None and not 1 <= len(key) <= MAX_KEY:
        raise ResendError(400, "invalid_idempotency_key", "The key must be between 1-256 chars.")


def rate_limited(retry_after: int) -> ResendError:
    return ResendError(
        429,
        "rate_limit_exceeded",
        "Too many requests. You can only make 2 requests per second. See rate limit response headers for more "
        "information. Or contact support to increase rate limit.",
        headers={
            "retry-after": str(retry_after),
            "ratelimit-limit": "2",
            "ratelimit-remaining": "0",
            "ratelimit-reset": str(retry_after),
        },
    )


def _validate(state: ResendTwinState, body: Any) -> Body:
    if not isinstance(body, dict):
        raise ResendError(422, "validation_error", "The request body must be a JSON object.")
    for name in ("from", "to", "subject"):
        if not body.get(name):
            raise ResendError(422, "missing_required_field", f"Missing `{name}` field.")
    if not body.get("html") and not body.get("text"):
        raise ResendError(422, "missing_required_field", "Missing `html` or `text` field.")
    if not _ADDRESS.match(str(body["from"]).strip()):
        raise ResendError(422, "validation_error", f"Invalid `from` field. {ADDRESS_FORMAT}")
    recipients = body["to"] if isinstance(body["to"], list) else [body["to"]]
    if len(recipients) > 50:
        raise ResendError(422, "validation_error", "Invalid `to` field. At most 50 recipients are allowed.")
    for address in recipients:
        match = _ADDRESS.match(str(address).strip())
        if match is None:
            raise ResendError(422, "validation_error", f"Invalid `to` field. {ADDRESS_FORMAT}")
        if match.group(1).lower() in state.refused:
            # Not a Resend error as such: the twin's stand-in for an address Resend will not send to.
            raise ResendError(422, "validation_error", f"Invalid `to` field. {match.group(1)} does not accept e-mail.")
    return body


def send_email(state: ResendTwinState, raw: Any, key: str | None) -> Accepted:
    """Apply one POST /emails (after the key and faults): replay a known Idempotency-Key, else store the e-mail."""
    body = _validate(state, raw)
    print_ = fingerprint(body)
    if key is not None:
        record = state.replay(key)
        if record is not None:
            if record.fingerprint != print_:
                raise ResendError(
                    409,
                    "invalid_idempotent_request",
                    "Same idempotency key used with a different request payload. Change your idempotency key or "
                    "payload.",
                )
            earlier = state.find(record.email_id)
            if earlier is not None:
                return Accepted(earlier, replayed=True)
    return Accepted(state.store(body, key, print_))
