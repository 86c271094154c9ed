"""The Resend twin's world: the API keys it accepts, the e-mails it took, Idempotency-Key records, armed faults
and every request it answered (for tests to count)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sandbox.clock import TwinClock

DEV_API_KEY = "re_sandbox_cheers_dev_key"
IDEMPOTENCY_WINDOW = timedelta(hours=24)  # Resend answers a repeated key for 24 hours
MAX_REQUESTS_KEPT = 2000
MAX_EMAILS_KEPT = 5000

FaultKind = Literal["server_error", "lose_answer", "hang", "rate_limit"]


@dataclass
class StoredEmail:
    """One e-mail the twin accepted (what Resend would deliver)."""

    id: str
    sender: str
    to: list[str]
    subject: str
    text: str | None
    html: str | None
    created_at: str
    idempotency_key: str | None = None
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    reply_to: list[str] = field(default_factory=list)

    def as_resend(self) -> dict[str, Any]:
        """The object Resend's GET /emails/{id} answers."""
        return {
            "object": "email",
            "id": self.id,
            "from": self.sender,
            "to": self.to,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "cc": self.cc or None,
            "bcc": self.bcc or None,
            "reply_to": self.reply_to or None,
            "created_at": self.created_at,
            "last_event": "delivered",
        }


@dataclass
class IdempotencyRecord:
    """A key's first request: its body's fingerprint and the e-mail it made."""

    fingerprint: str
    email_id: str
    at: datetime


@dataclass
class Fault:
    """A failure armed for the next `remaining` POST /emails (docs/resend-twin.md, "Faults")."""

    kind: FaultKind
    remaining: int = 1
    status: int = 500  # server_error (and lose_answer with seconds=0): the status answered
    seconds: float = 30.0  # hang and lose_answer: how long the answer is held back
    retry_after: int = 1  # rate_limit: the retry-after header


@dataclass
class RequestRecord:
    """One POST /emails as the twin answered it."""

    at: str
    status: int
    idempotency_key: str | None
    email_id: str | None = None
    name: str | None = None  # Resend's error name when refused
    replayed: bool = False  # answered from an Idempotency-Key record: nothing new was sent
    fault: str | None = None


def fingerprint(body: dict[str, Any]) -> str:
    """A stable digest of a request body (same key with another body is refused, as Resend does)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


class ResendTwinState:
    """Everything the twin knows; one per twin (tests start one per test)."""

    def __init__(self, *, api_keys: tuple[str, ...] = (DEV_API_KEY,), clock: TwinClock | None = None) -> None:
        self.clock = clock or TwinClock()
        self.api_keys: set[str] = set(api_keys)
        self.reset()

    def reset(self) -> None:
        """No e-mails, idempotency records, refused addresses, faults or requests; clock offset reset."""
        self.clock.reset()
        self.emails: list[StoredEmail] = []
        self.idempotency: dict[str, IdempotencyRecord] = {}
        self.refused: set[str] = set()
        self.faults: list[Fault] = []
        self.requests: list[RequestRecord] = []
        self.in_flight: set[str] = set()
        self.release_hangs()

    def now(self) -> datetime:
        return self.clock.now()

    def hangs(self) -> asyncio.Event:
        """Set to end every held answer at once (reset, stop)."""
        event: asyncio.Event | None = getattr(self, "_release", None)
        if event is None or event.is_set():
            event = self._release = asyncio.Event()
        return event

    def release_hangs(self) -> None:
        event: asyncio.Event | None = getattr(self, "_release", None)
        if event is not None:
            event.set()

    def take_fault(self) -> Fault | None:
        """The first armed fault, one use of it spent."""
        for fault in self.faults:
            if fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def replay(self, key: str) -> IdempotencyRecord | None:
        """The key's record if it is still inside Resend's 24-hour window."""
        record = self.idempotency.get(key)
        if record is not None and self.now() - record.at > IDEMPOTENCY_WINDOW:
            del self.idempotency[key]
            return None
        return record

    def store(self, body: dict[str, Any], key: str | None, print_: str) -> StoredEmail:
        """Accept an e-mail: keep it, and remember its key."""
        email = StoredEmail(
            id=str(uuid.uuid4()),
            sender=str(body["from"]),
            to=_addresses(body.get("to")),
            subject=str(body["subject"]),
            text=body.get("text"),
            html=body.get("html"),
            created_at=self.now().isoformat(),
            idempotency_key=key,
            cc=_addresses(body.get("cc")),
            bcc=_addresses(body.get("bcc")),
            reply_to=_addresses(body.get("reply_to")),
        )
        self.emails.append(email)
        if len(self.emails) > MAX_EMAILS_KEPT:
            del self.emails[: len(self.emails) - MAX_EMAILS_KEPT]
        if key is not None:
            self.idempotency[key] = IdempotencyRecord(print_, email.id, self.now())
        return email

    def record(self, entry: RequestRecord) -> None:
        self.requests.append(entry)
        if len(self.requests) > MAX_REQUESTS_KEPT:
            del self.requests[: len(self.requests) - MAX_REQUESTS_KEPT]

    def find(self, email_id: str) -> StoredEmail | None:
        return next((e for e in self.emails if e.id == email_id), None)

    def snapshot(self) -> dict[str, Any]:
        """What GET /_twin/state answers (JSON-ready)."""
        return {
            "now": self.now().isoformat(),
            "emails": len(self.emails),
            "idempotency_keys": len(self.idempotency),
            "refused": sorted(self.refused),
            "faults": [dataclasses.asdict(f) for f in self.faults if f.remaining > 0],
            "requests": len(self.requests),
        }

    def durable(self) -> dict[str, Any]:
        """What survives a restart (`make dev`): the e-mails and idempotency records; not faults or requests."""
        return {"emails": self.emails, "idempotency": self.idempotency}

    def restore(self, saved: dict[str, Any]) -> None:
        for name in ("emails", "idempotency"):
            if name in saved:
                setattr(self, name, saved[name])


def _addresses(value: Any) -> list[str]:
    """Resend takes one address or a list of them."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]
