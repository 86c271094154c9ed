"""Sending e-mail through Resend's HTTP API (POST /emails) on httpx, with typed errors that say what to do next.

Resend's shape (resend.com/docs/api-reference): `Authorization: Bearer re_...`; a JSON body with from, to, subject,
text, html; 200 `{"id": "<uuid>"}`; errors `{"statusCode", "name", "message"}` (validation_error,
missing_required_field 422, invalid_idempotent_request 409, concurrent_idempotent_requests 409,
rate_limit_exceeded 429 with a `retry-after` header, application_error 500). An `Idempotency-Key` header (1-256
characters) makes Resend answer a repeat of the same request within 24 hours with the first e-mail's id and send
nothing: that is what makes a retry after a lost answer safe.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import structlog

log = structlog.get_logger(__name__)

IDEMPOTENCY_PREFIX = "cheers-email/"
MAX_ERROR_TEXT = 300
# Retrying the same key while Resend still processes the first request is answered 409 with this name: nothing
# new was sent, so it is a "try again shortly", not a refusal.
IN_PROGRESS = "concurrent_idempotent_requests"


def idempotency_key(dedup_key: str) -> str:
    """The Idempotency-Key for an outbox row: its dedup_key hashed (it may hold an address; Resend keeps keys 24 h)."""
    return IDEMPOTENCY_PREFIX + hashlib.sha256(dedup_key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class OutgoingEmail:
    """One e-mail as handed to a sender; `idempotency_key` is the same on every attempt at this e-mail."""

    sender: str
    to: str
    subject: str
    text: str
    html: str
    idempotency_key: str = field(repr=False)


class EmailError(Exception):
    """A send that did not succeed; the subclass says what the outbox does next."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EmailRefused(EmailError):
    """Resend refused the e-mail for good (4xx other than 429: bad address, bad key, unverified domain)."""

    def __init__(self, reason: str, *, status: int, name: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.name = name


class EmailRateLimited(EmailError):
    """Resend asked us to wait `retry_after` seconds (429: requests per second or the sending quota)."""

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class EmailTransient(EmailError):
    """A passing failure before Resend took the request (connection refused, DNS): nothing was sent; retry."""


class EmailAnswerLost(EmailError):
    """The request may have been taken but its answer never came (timeout, 5xx): retry with the same
    Idempotency-Key, which Resend answers with the first e-mail's id instead of sending a second one."""


class EmailSender(Protocol):
    """Sends one e-mail; returns the provider's id for it."""

    async def send(self, email: OutgoingEmail) -> str: ...

    async def close(self) -> None: ...


def _error_text(response: httpx.Response) -> tuple[str | None, str]:
    """(name, message) from Resend's error body, or the raw text when it is not the documented JSON."""
    try:
        body: Any = response.json()
    except ValueError:
        return None, response.text[:MAX_ERROR_TEXT] or response.reason_phrase
    if not isinstance(body, dict):
        return None, str(body)[:MAX_ERROR_TEXT]
    name = body.get("name")
    message = body.get("message") or body.get("error") or response.reason_phrase
    return (str(name) if name else None), str(message)[:MAX_ERROR_TEXT]


def _retry_after(response: httpx.Response, default: float) -> float:
    """Seconds to wait from the `retry-after` header (or the body's remediation), never below one second."""
    raw: Any = response.headers.get("retry-after")
    if raw is None:
        try:
            body = response.json()
            raw = body.get("remediation", {}).get("retry_after") if isinstance(body, dict) else None
        except ValueError:
            raw = None
    try:
        return max(1.0, float(raw)) if raw is not None else default
    except (TypeError, ValueError):
        return default


class ResendClient:
    """Resend's POST /emails on its own pooled httpx client (timeout CHEERS_EMAIL_TIMEOUT_SECONDS)."""

    def __init__(
        self,
        *,
        api_url: str,
        api_key: str,
        timeout: float,
        client: httpx.AsyncClient | None = None,
        default_retry_after: float = 60.0,
    ) -> None:
        self._url = api_url.rstrip("/") + "/emails"
        self._api_key = api_key
        self._timeout = timeout
        self._default_retry_after = default_retry_after
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), headers={"User-Agent": "CheersAI/0.1 (+https://cheers.ai)"}
        )

    async def send(self, email: OutgoingEmail) -> str:
        """POST the e-mail; its id on 200, else the typed error (module docstring) for the outbox to act on."""
        payload = {
            "from": email.sender,
            "to": [email.to],
            "subject": email.subject,
            "text": email.text,
            "html": email.html,
        }
        headers = {"Authorization": f"Bearer {self._api_key}", "Idempotency-Key": email.idempotency_key}
        try:
            response = await self._client.post(self._url, json=payload, headers=headers, timeout=self._timeout)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol) as exc:
            # Never connected (or no free connection): the request did not leave this process.
            raise EmailTransient(f"could not reach Resend: {type(exc).__name__}: {exc}") from exc
        except httpx.TransportError as exc:
            # Written, then the answer never came (read timeout, connection reset): Resend may have taken it.
            raise EmailAnswerLost(f"no answer from Resend: {type(exc).__name__}: {exc}") from exc
        return self._outcome(response)

    def _outcome(self, response: httpx.Response) -> str:
        status = response.status_code
        if 200 <= status < 300:
            try:
                body = response.json()
            except ValueError as exc:
                raise EmailAnswerLost(f"Resend answered {status} without JSON") from exc
            email_id = body.get("id") if isinstance(body, dict) else None
            if not email_id:
                raise EmailAnswerLost(f"Resend answered {status} without an e-mail id")
            return str(email_id)
        name, message = _error_text(response)
        reason = f"Resend {status} {name or 'error'}: {message}"
        if status == 429:
            raise EmailRateLimited(reason, _retry_after(response, self._default_retry_after))
        if status == 409 and name == IN_PROGRESS:
            raise EmailRateLimited(reason, _retry_after(response, 1.0))
        if 400 <= status < 500:
            raise EmailRefused(reason, status=status, name=name)
        # 5xx: Resend had the request; whether it sent the e-mail is unknown.
        raise EmailAnswerLost(reason)

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()
