"""Connection lifecycle: save what a consent granted, list, reveal, disconnect, diagnose."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.access import audit
from core.access.audit import Actor
from core.access.policy import VenueAccess
from core.clock import Clock
from core.errors import Conflict, Invalid, NotFound, PermissionDenied, TooManyRequests
from core.notifications import outbox as notifications
from core.notifications.kinds import NotificationKind, offers_for
from core.weekly import wake as weekly_wake
from providers.base import Connector, Diagnosis, Grant, StoredCredentials, Target
from providers.errors import AuthExpired, ProviderError
from storage.crypto import TokenCipher
from storage.models import Channel, Connection, ConnectionStatus, Provider, Role, Severity
from storage.queries import connections as connections_q
from storage.queries import deliveries as deliveries_q
from storage.secrets import seal, unseal

REVEALS_PER_HOUR = 10
PROVIDER_LABEL = {
    Provider.facebook: "Facebook Page",
    Provider.instagram: "Instagram account",
    Provider.google_business: "Google Business Profile location",
}
# What the before/after diff of a reconnect compares.
DIFF_FIELDS = (
    "external_id",
    "display_name",
    "page_id",
    "ig_business_id",
    "location_name",
    "provider_user_id",
    "scopes",
    "token_expires_at",
    "user_token_expires_at",
    "data_access_expires_at",
    "status",
)


@dataclass(frozen=True)
class ConnectionChange:
    connection_id: int
    created: bool
    summary: str
    diff: dict[str, list[Any]] = field(default_factory=dict)


def _snapshot(c: Connection) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in DIFF_FIELDS:
        value = getattr(c, name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, ConnectionStatus):
            value = value.value
        values[name] = value
    return values


async def save_target(
    session: AsyncSession,
    clock: Clock,
    cipher: TokenCipher,
    account_id: int,
    user_id: int,
    grant: Grant,
    target: Target,
    *,
    existing: Connection | None = None,
) -> ConnectionChange:
    """Create the connection, or update the same row (a reconnect keeps identity and history)."""
    connection = existing or await connections_q.find_by_external(
        session, account_id, target.provider, target.external_id
    )
    created = connection is None
    if connection is None:
        connection = Connection(
            account_id=account_id,
            provider=target.provider,
            external_id=target.external_id,
            display_name=target.name,
            scopes=[],
            details={},
        )
    before = {} if created else _snapshot(connection)
    connection.display_name = target.name
    connection.status = ConnectionStatus.active
    connection.status_reason = None
    connection.disconnected_at = None
    connection.scopes = sorted(grant.scopes)
    connection.provider_user_id = grant.subject_id
    connection.page_id = target.page_id
    connection.ig_business_id = target.ig_business_id
    connection.location_name = target.location_name
    connection.details = target.details
    connection.connected_by_user_id = user_id
    connection.data_access_expires_at = grant.data_access_expires_at
    if target.provider is Provider.google_business:
        # Google: the refresh token is the lasting credential; access tokens are minted from it.
        seal(connection, "access_token", grant.access_token, cipher)
        seal(connection, "refresh_token", grant.refresh_token, cipher)
        connection.token_expires_at = grant.expires_at
        seal(connection, "user_token", None, cipher)
        connection.user_token_expires_at = None
    else:
        # Meta: publish with the Page token; keep the user token, which is what lapses and revokes.
        seal(connection, "access_token", target.access_token, cipher)
        seal(connection, "refresh_token", None, cipher)
        connection.token_expires_at = target.token_expires_at
        seal(connection, "user_token", grant.access_token, cipher)
        connection.user_token_expires_at = grant.expires_at
    if created:
        await connections_q.add(session, connection)
    await session.flush()
    # Once committed, the venue's weekly plan is made for it within seconds, not at the next daily run.
    weekly_wake.after_connecting(session, account_id)
    after = _snapshot(connection)
    diff = {k: [before.get(k), after[k]] for k in after if before.get(k) != after[k]} if not created else {}
    actor = Actor(user_id=user_id, channel=Channel.web)
    label = PROVIDER_LABEL[target.provider]
    if created:
        await audit.record(
            session,
            clock,
            actor,
            "connection_connected",
            account_id=account_id,
            subject_type="connection",
            subject_id=connection.id,
            provider=target.provider.value,
            external_id=target.external_id,
        )
        summary = f"Connected {label} {target.name}."
    else:
        await audit.record(
            session,
            clock,
            actor,
            "connection_metadata_updated",
            account_id=account_id,
            subject_type="connection",
            subject_id=connection.id,
            diff=diff,
        )
        await notifications.notify(
            session,
            clock,
            account_id=account_id,
            kind=NotificationKind.connection_metadata_updated,
            severity=Severity.info,
            title=f"{label} {target.name} reconnected",
            subject={"connection_id": connection.id},
            payload={"diff": diff},
        )
        # The access the alert asked for is back: a later break is a new problem and must alert again.
        await notifications.end_window(session, account_id=account_id, dedup_key=reconnect_alert_key(connection.id))
        summary = f"Reconnected {label} {target.name}."
    return ConnectionChange(connection_id=connection.id, created=created, summary=summary, diff=diff)


async def list_connections(session: AsyncSession, access: VenueAccess) -> list[Connection]:
    return list(await connections_q.list_for_account(session, access.account_id))


async def get_connection(session: AsyncSession, access: VenueAccess, connection_id: int) -> Connection:
    connection = await connections_q.get(session, access.account_id, connection_id)
    if connection is None:
        raise NotFound(f"connection {connection_id} not found")
    return connection


def credentials(connection: Connection | deliveries_q.ConnectionRow, cipher: TokenCipher) -> StoredCredentials:
    """Decrypt a connection's secrets for one provider call (never stored or logged)."""
    return StoredCredentials(
        provider=connection.provider,
        external_id=connection.external_id,
        access_token=unseal(connection, "access_token", cipher),
        refresh_token=unseal(connection, "refresh_token", cipher),
        user_token=unseal(connection, "user_token", cipher),
        scopes=tuple(connection.scopes),
        page_id=connection.page_id,
        ig_business_id=connection.ig_business_id,
        location_name=connection.location_name,
    )


SECRET_NAMES = ("access_token", "refresh_token", "user_token")


def erase_secrets(connection: Connection, cipher: TokenCipher) -> None:
    """Drop every stored token (ciphertext and hint) while keeping the row and its history."""
    for name in SECRET_NAMES:
        seal(connection, name, None, cipher)


async def reveal(
    session: AsyncSession, clock: Clock, cipher: TokenCipher, access: VenueAccess, connection_id: int, which: str
) -> str:
    """The raw token, for admins only, audited and rate limited."""
    if not access.role.at_least(Role.admin):
        raise PermissionDenied("only venue admins may reveal a token")
    if which not in SECRET_NAMES:
        raise Invalid(f"which must be one of {', '.join(SECRET_NAMES)}", field="which")
    assert access.actor.user_id is not None
    # Count and record under one lock per person, else concurrent reveals all see the same count.
    await connections_q.lock_reveals(session, actor_user_id=access.actor.user_id)
    if (
        await connections_q.reveals_since(
            session, actor_user_id=access.actor.user_id, since=clock.now() - timedelta(hours=1)
        )
        >= REVEALS_PER_HOUR
    ):
        raise TooManyRequests(
            f"you have revealed {REVEALS_PER_HOUR} tokens in the last hour; try again later",
            remedy="if you need raw tokens in bulk, ask on-call to export them",
        )
    connection = await get_connection(session, access, connection_id)
    value = unseal(connection, which, cipher)
    if value is None:
        raise NotFound(f"connection {connection_id} has no {which.replace('_', ' ')}")
    await access.record(
        session, clock, "token_revealed", subject_type="connection", subject_id=connection_id, which=which
    )
    return value


def reconnect_alert_key(connection_id: int) -> str:
    """The de-duplication key of a connection's "reconnect" alert (one per break, not one per post)."""
    return f"connection_needs_reconnect:{connection_id}"


async def mark_needs_reconnect(
    session: AsyncSession, clock: Clock, connection: Connection, reason: str, *, remedy: str | None = None
) -> None:
    """Flag a connection whose access is gone; one alert per connection, not one per post."""
    if connection.status in (ConnectionStatus.needs_reconnect, ConnectionStatus.disconnected, ConnectionStatus.revoked):
        return
    connection.status = ConnectionStatus.needs_reconnect
    connection.status_reason = reason
    label = PROVIDER_LABEL[connection.provider]
    await notifications.notify(
        session,
        clock,
        account_id=connection.account_id,
        kind=NotificationKind.connection_needs_reconnect,
        severity=Severity.error,
        title=f"Reconnect {label} {connection.display_name}",
        subject={"connection_id": connection.id},
        payload={"reason": reason, "remedy": remedy or "Reconnect it from CheersAI (Connections → Reconnect)."},
        actions=offers_for(NotificationKind.connection_needs_reconnect, connection_id=connection.id),
        dedup_key=reconnect_alert_key(connection.id),
    )
    await session.flush()


def kept_access_note(connection: Connection, sharing: Sequence[Connection]) -> str:
    """Why access stays at the provider, in words this venue may read: it counts only its own connections."""
    # Instagram connects through Facebook Login, so the login shared is always Facebook's or Google's.
    login = "Google" if connection.provider is Provider.google_business else "Facebook"
    here = sum(1 for c in sharing if c.account_id == connection.account_id)
    if here == 1:
        return f"Access kept at the provider: 1 other connection in this venue uses the same {login} login."
    if here:
        return f"Access kept at the provider: {here} other connections in this venue use the same {login} login."
    # Only other venues use it: saying how many (or which) would tell this venue about theirs.
    return f"Access kept at the provider: the same {login} login is still in use outside this venue."


async def disconnect(
    session: AsyncSession,
    clock: Clock,
    cipher: TokenCipher,
    adapter: Connector,
    access: VenueAccess,
    connection_id: int,
) -> str:
    """Revoke at the provider, then keep the row (history) without its secrets; returns what happened."""
    connection = await get_connection(session, access, connection_id)
    if connection.status is ConnectionStatus.disconnected:
        return f"{connection.display_name} was already disconnected."
    note = "Access revoked at the provider."
    # Revoking ends the app's access for that provider account as a whole (every Page or location
    # it granted, in any venue), so it waits until the last connection made with that grant goes.
    sharing = await connections_q.live_sharing_grant(session, connection)
    if sharing:
        note = kept_access_note(connection, sharing)
    else:
        try:
            await adapter.revoke(credentials(connection, cipher))
        except AuthExpired:
            note = "The provider had already ended our access."
        except ProviderError as exc:
            note = f"We could not revoke at the provider ({exc.message}); remove CheersAI's access there too."
    erase_secrets(connection, cipher)
    connection.status = ConnectionStatus.disconnected
    connection.status_reason = "disconnected by a person"
    connection.disconnected_at = clock.now()
    await session.flush()
    await access.record(
        session, clock, "connection_disconnected", subject_type="connection", subject_id=connection_id, note=note
    )
    return f"Disconnected {connection.display_name}. {note}"


async def deliveries_waiting(session: AsyncSession, access: VenueAccess, connection_id: int) -> int:
    """How many deliveries are still to go out through one of the venue's connections: disconnecting it makes each
    fail ("was disconnected") when due, so the planner's confirm step says how many."""
    connection = await get_connection(session, access, connection_id)
    return await deliveries_q.unsettled_on_connection(session, access.account_id, connection.id)


def diagnosis_doc(diagnosis: Diagnosis, at: datetime) -> dict[str, Any]:
    return {
        "at": at.isoformat(),
        "healthy": diagnosis.healthy,
        "expires_at": diagnosis.expires_at.isoformat() if diagnosis.expires_at else None,
        "data_access_expires_at": (
            diagnosis.data_access_expires_at.isoformat() if diagnosis.data_access_expires_at else None
        ),
        "findings": [
            {"check": f.check, "ok": f.ok, "message": f.message, "remedy": f.remedy} for f in diagnosis.findings
        ],
    }


async def diagnose(
    session: AsyncSession, clock: Clock, cipher: TokenCipher, adapter: Connector, connection: Connection
) -> dict[str, Any]:
    """Ask the provider what is wrong (if anything), keep the answer on the row, flag dead access."""
    if connection.status is ConnectionStatus.disconnected:
        raise Conflict(f"{connection.display_name} is disconnected; connect it again first")
    diagnosis = await adapter.diagnose(credentials(connection, cipher))
    now = clock.now()
    doc = diagnosis_doc(diagnosis, now)
    connection.last_diagnosis = doc
    connection.diagnosed_at = now
    if diagnosis.scopes:
        connection.scopes = sorted(diagnosis.scopes)
    if connection.provider is Provider.google_business:
        connection.token_expires_at = diagnosis.expires_at or connection.token_expires_at
    else:
        connection.user_token_expires_at = diagnosis.expires_at
        connection.data_access_expires_at = diagnosis.data_access_expires_at
    dead = next((f for f in diagnosis.findings if not f.ok and f.check in ("token_valid", "refresh_token")), None)
    if dead is not None:
        await mark_needs_reconnect(session, clock, connection, dead.message, remedy=dead.remedy)
    elif connection.status in (ConnectionStatus.needs_reconnect,) and diagnosis.healthy:
        connection.status = ConnectionStatus.active
        connection.status_reason = None
    await session.flush()
    return doc


async def diagnose_many(runtime: Any, connection_id: int | None) -> list[dict[str, Any]]:
    """Operator tool: diagnose one connection (any venue) or all not disconnected, one transaction each."""
    # A batch job owns its transactions: each connection's findings are kept even if a later one fails.
    async with runtime.db.session() as session:
        ids = [connection_id] if connection_id is not None else await connections_q.ids_to_diagnose(session)
    results: list[dict[str, Any]] = []
    for cid in ids:
        async with runtime.uow() as uow:
            connection = await connections_q.get_any(uow.session, cid)
            if connection is None:
                raise NotFound(f"connection {cid} not found")
            try:
                doc = await diagnose(
                    uow.session, runtime.clock, runtime.cipher(), runtime.providers[connection.provider], connection
                )
            except (ProviderError, Conflict) as exc:
                doc = {"error": exc.message}
            await uow.commit()
        results.append({"connection_id": cid, "name": connection.display_name, **doc})
    return results
