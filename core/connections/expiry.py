"""The expiry watch: warn before access lapses (per each provider's real rules), flag what has lapsed.

What can lapse: Meta's long-lived user token (~60 days) and its data-access expiry (90 days);
a Google refresh token that stopped working. Page tokens from long-lived user tokens never
expire, and Google's hourly access tokens are minted on demand, so neither is watched.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog

from core.connections import lifecycle as connections
from core.notifications import outbox as notifications
from core.notifications.kinds import NotificationKind, offers_for
from core.runtime import Runtime
from providers.errors import AuthExpired, ProviderError
from storage.models import Connection, ConnectionStatus, Provider, Severity
from storage.queries import connections as connections_q
from storage.secrets import seal

log = structlog.get_logger(__name__)

WARN_DAYS = (7, 3, 1)
BATCH = 100


def lapses_at(connection: Connection) -> datetime | None:
    """When this connection stops working unless renewed (Meta only; None when nothing lapses)."""
    if connection.provider is Provider.google_business:
        return None
    moments = [m for m in (connection.user_token_expires_at, connection.data_access_expires_at) if m is not None]
    return min(moments) if moments else None


async def watch(runtime: Runtime) -> dict[str, Any]:
    """One sweep over every active or expiring connection; safe to run twice (dedup keys)."""
    counts = {"checked": 0, "warned": 0, "needs_reconnect": 0, "refreshed": 0, "errors": 0}
    # A job owns its transactions: one per batch, so an interrupted sweep keeps what it already checked.
    after = 0
    while True:
        async with runtime.uow() as uow:
            batch = list(await connections_q.watchable(uow.session, after_id=after, limit=BATCH))
            for connection in batch:
                counts["checked"] += 1
                outcome = await _check(runtime, uow.session, connection)
                counts[outcome] = counts.get(outcome, 0) + 1
            await uow.commit()
        if len(batch) < BATCH:
            return counts
        after = batch[-1].id


async def _check(runtime: Runtime, session: Any, connection: Connection) -> str:
    now = runtime.clock.now()
    label = connections.PROVIDER_LABEL[connection.provider]
    if connection.provider is Provider.google_business:
        try:
            grant = await runtime.providers[connection.provider].refresh(
                connections.credentials(connection, runtime.cipher())
            )
        except AuthExpired as exc:
            await connections.mark_needs_reconnect(session, runtime.clock, connection, exc.message, remedy=exc.remedy)
            return "needs_reconnect"
        except ProviderError as exc:
            log.warning("expiry_watch_refresh_failed", connection_id=connection.id, error=exc.__class__.__name__)
            return "errors"
        seal(connection, "access_token", grant.access_token, runtime.cipher())
        if grant.refresh_token:
            seal(connection, "refresh_token", grant.refresh_token, runtime.cipher())
        connection.token_expires_at = grant.expires_at
        return "refreshed"
    lapse = lapses_at(connection)
    if lapse is None:
        return "checked_ok"
    if lapse <= now:
        await connections.mark_needs_reconnect(
            session,
            runtime.clock,
            connection,
            f"Facebook access for {connection.display_name} lapsed",
            remedy="Reconnect it: Facebook asks people to confirm access every 60–90 days.",
        )
        return "needs_reconnect"
    left = lapse - now
    due = [d for d in WARN_DAYS if left <= timedelta(days=d)]
    if not due:
        return "checked_ok"
    days = min(due)
    connection.status = ConnectionStatus.expiring
    connection.status_reason = f"access lapses on {lapse:%Y-%m-%d}"
    recorded = await notifications.notify(
        session,
        runtime.clock,
        account_id=connection.account_id,
        kind=NotificationKind.connection_expiring,
        severity=Severity.warning if days > 1 else Severity.error,
        title=f"{label} {connection.display_name} stops working in {days} day{'s' if days > 1 else ''}",
        subject={"connection_id": connection.id},
        payload={
            "lapses_at": lapse.isoformat(),
            "days": days,
            "remedy": "Reconnect it now from CheersAI; it takes a minute and keeps your scheduled posts.",
        },
        actions=offers_for(NotificationKind.connection_expiring, connection_id=connection.id),
        dedup_key=f"connection_expiring:{connection.id}:{days}:{lapse:%Y-%m-%d}",
        dedup_window=timedelta(days=30),
    )
    return "warned" if recorded is not None else "checked_ok"
