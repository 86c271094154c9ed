"""The notifications outbox: record in the caller's transaction, read as a feed, export, purge."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.access.policy import VenueAccess
from core.clock import Clock
from core.errors import Invalid
from core.notifications.actions import Offer
from core.notifications.kinds import KINDS, NotificationKind, parse_kinds
from storage.db import Database
from storage.models import Notification, Severity
from storage.queries import notifications as notifications_q
from storage.uow import wake_after_commit

DEFAULT_DEDUP_WINDOW = timedelta(hours=24)
MAX_PAGE = 200
EXPORT_BATCH = 500
# Woken after the commit of any transaction that recorded a notification: fans it out to chats and sends it.
CHAT_ALERTS_TASK = "chat-alerts-deliver"
# Each export format and the media type it is served as.
EXPORT_FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
EXPORT_FIELDS = ["id", "created_at", "kind", "severity", "title", "subject", "payload", "dedup_key"]


async def notify(
    session: AsyncSession,
    clock: Clock,
    *,
    account_id: int,
    kind: NotificationKind,
    severity: Severity,
    title: str,
    subject: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
    actions: Sequence[Offer] = (),
    dedup_key: str | None = None,
    dedup_window: timedelta = DEFAULT_DEDUP_WINDOW,
) -> Notification | None:
    """Record a notification in the caller's transaction; None when its key is inside its window.

    `actions` are stored as `payload["actions"]`; each must be one the kind offers (core.notifications.kinds).
    """
    payload = _with_actions(kind, payload or {}, actions)
    now = clock.now()
    if dedup_key is not None and not await notifications_q.claim_dedup_window(
        session, account_id=account_id, dedup_key=dedup_key, now=now, until=now + dedup_window
    ):
        return None
    recorded = await notifications_q.add_notification(
        session,
        account_id=account_id,
        kind=kind.value,
        severity=severity,
        title=title,
        subject=subject or {},
        payload=payload,
        dedup_key=dedup_key,
        created_at=now,
    )
    wake_after_commit(session, CHAT_ALERTS_TASK)
    return recorded


async def end_window(session: AsyncSession, *, account_id: int, dedup_key: str) -> None:
    """End `dedup_key`'s window now (the condition it guarded is over), in the caller's transaction."""
    await notifications_q.end_dedup_window(session, account_id=account_id, dedup_key=dedup_key)


def _with_actions(kind: NotificationKind, payload: dict[str, Any], actions: Sequence[Offer]) -> dict[str, Any]:
    # A typo'd kind or an offer the table does not list would reach every chat as a dead button.
    if not isinstance(kind, NotificationKind):
        raise TypeError(f"kind must be a NotificationKind, got {kind!r}")
    stray = [o.action.value for o in actions if o.action not in KINDS[kind].offers]
    if stray:
        raise ValueError(f"{kind} does not offer {', '.join(stray)} (core.notifications.kinds.KINDS)")
    if not actions:
        return payload
    if "actions" in payload:
        raise ValueError("pass offers as actions=, not inside the payload")
    return {**payload, "actions": [o.to_payload() for o in actions]}


def encode_cursor(notification_id: int) -> str:
    return base64.urlsafe_b64encode(f"n:{notification_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, value = text.split(":", 1)
        if prefix != "n":
            raise ValueError
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid("the cursor is not one this feed handed out; start again without it", field="cursor") from exc


def check_since(since: datetime | None) -> datetime | None:
    """`since` must say its timezone; a bare local time is ambiguous (and cannot be compared to UTC)."""
    if since is not None and since.utcoffset() is None:
        raise Invalid("since needs a timezone, e.g. 2026-11-25T12:00:00Z or 2026-11-25T12:00:00+00:00", field="since")
    return since


def parse_severities(values: Sequence[str] | None) -> list[Severity] | None:
    """A filter's severities checked against the enum; an unknown one is refused, naming the valid ones."""
    if not values:
        return None
    unknown = [v for v in values if v not in Severity._value2member_map_]
    if unknown:
        raise Invalid(
            f"unknown severity {', '.join(repr(v) for v in unknown)}; valid: {', '.join(s.value for s in Severity)}",
            field="severity",
            valid=[s.value for s in Severity],
        )
    return [Severity(v) for v in values]


@dataclass(frozen=True)
class FeedItem:
    notification: Notification
    read: bool


@dataclass(frozen=True)
class FeedPage:
    items: list[FeedItem]
    next_cursor: str | None


async def feed(
    session: AsyncSession,
    access: VenueAccess,
    *,
    cursor: str | None = None,
    limit: int = 50,
    kinds: Sequence[str] | None = None,
    since: datetime | None = None,
    unread_only: bool = False,
    severities: Sequence[str] | None = None,
) -> FeedPage:
    """One page of the venue's notifications, newest first, with this person's read marks."""
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    user_id = access.actor.user_id
    rows = await notifications_q.feed_page(
        session,
        access.account_id,
        before_id=decode_cursor(cursor) if cursor else None,
        limit=limit + 1,
        kinds=parse_kinds(kinds),
        since=check_since(since),
        unread_for=user_id if unread_only and user_id is not None else None,
        severities=parse_severities(severities),
    )
    page, more = list(rows[:limit]), len(rows) > limit
    read = await notifications_q.read_ids(session, user_id, [n.id for n in page]) if user_id is not None else set()
    return FeedPage(
        items=[FeedItem(n, n.id in read) for n in page],
        next_cursor=encode_cursor(page[-1].id) if more and page else None,
    )


async def mark_read(session: AsyncSession, clock: Clock, access: VenueAccess, *, ids: Sequence[int] | None) -> int:
    """Mark notifications read for the acting person; `ids=None` marks everything."""
    if access.actor.user_id is None:
        return 0
    return await notifications_q.mark_read(
        session, access.account_id, user_id=access.actor.user_id, notification_ids=ids, now=clock.now()
    )


PayloadView = Callable[[Notification], dict[str, Any]]


def stored_payload(n: Notification) -> dict[str, Any]:
    """The payload as recorded (front doors pass their own view, e.g. the API adds a link to each action)."""
    return n.payload


def to_record(n: Notification, payload_view: PayloadView = stored_payload) -> dict[str, Any]:
    """One notification as an export record."""
    return {
        "id": n.id,
        "created_at": n.created_at.isoformat(),
        "kind": n.kind,
        "severity": n.severity.value,
        "title": n.title,
        "subject": n.subject,
        "payload": payload_view(n),
        "dedup_key": n.dedup_key,
    }


async def export(
    db: Database,
    access: VenueAccess,
    *,
    fmt: str,
    kinds: Sequence[str] | None = None,
    since: datetime | None = None,
    payload_view: PayloadView = stored_payload,
    severities: Sequence[str] | None = None,
) -> AsyncIterator[str]:
    """Stream the venue's whole history as CSV or JSON lines, batch by batch (bounded memory)."""
    if fmt not in EXPORT_FORMATS:
        raise Invalid("format must be csv or jsonl", field="format")
    check_since(since)
    wanted = parse_kinds(kinds)
    levels = parse_severities(severities)
    after = 0
    if fmt == "csv":
        yield _csv_line(EXPORT_FIELDS)
    while True:
        # A short session per batch: a slow download never holds a transaction open.
        async with db.session() as session:
            batch = await notifications_q.export_batch(
                session,
                access.account_id,
                after_id=after,
                limit=EXPORT_BATCH,
                kinds=wanted,
                since=since,
                severities=levels,
            )
        if not batch:
            return
        for n in batch:
            record = to_record(n, payload_view)
            if fmt == "jsonl":
                yield json.dumps(record, separators=(",", ":")) + "\n"
            else:
                yield _csv_line(
                    [json.dumps(record[f]) if isinstance(record[f], dict) else record[f] for f in EXPORT_FIELDS]
                )
        after = batch[-1].id


def _csv_line(values: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(["" if v is None else v for v in values])
    return buffer.getvalue()


async def purge(session: AsyncSession, clock: Clock, *, retention_days: int) -> int:
    """Delete notifications older than the retention period; returns how many went."""
    now = clock.now()
    return await notifications_q.purge_older_than(session, cutoff=now - timedelta(days=retention_days), now=now)
