"""Connections from chat: which connection `reconnect [PLATFORM]` and `diagnose` mean, and a provider's failure
while the person waits turned into a plain refusal (the API answers 503/502 with the same words)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.access.policy import VenueAccess
from core.connections import lifecycle, oauth
from core.connections.oauth import ConsentLink
from core.errors import Conflict, Invalid
from core.publishing.labels import label_for
from core.runtime import Runtime
from providers.errors import ProviderError, RateLimited, Transient
from storage.models import Connection, ConnectionStatus, Provider

BROKEN = (ConnectionStatus.needs_reconnect, ConnectionStatus.revoked)


class ProviderUnavailable(Conflict):
    """The platform failed while the person waited (diagnose): its words, and to try again later."""

    code = "provider_unavailable"


@dataclass(frozen=True)
class ConnectionChoice:
    connection_id: int
    label: str
    status: str


@dataclass(frozen=True)
class Consent:
    link: ConsentLink
    label: str  # what is being (re)connected, e.g. "Facebook Page The Red Lion"
    reconnecting: bool


@dataclass(frozen=True)
class Diagnosed:
    label: str
    doc: dict[str, Any]


class ConnectionUnclear(Invalid):
    """Several connections fit: the person names one (its id, or its platform)."""

    def __init__(self, message: str, *, choices: list[ConnectionChoice], remedy: str) -> None:
        super().__init__(message, remedy=remedy)
        self.choices = choices


async def start_reconnect(
    runtime: Runtime, session: AsyncSession, access: VenueAccess, platform: Provider | None
) -> Consent:
    """A consent link for the connection `platform` names (or the one that needs it); a new connection of
    `platform` when the venue has none. The caller shows the link only to the person who asked."""
    live = [
        c for c in await lifecycle.list_connections(session, access) if c.status is not ConnectionStatus.disconnected
    ]
    if platform is not None:
        mine = [c for c in live if c.provider is platform]
        if not mine:
            return await _consent(runtime, session, access, platform, None)
        broken = [c for c in mine if c.status in BROKEN]
        candidates = broken or mine
    else:
        candidates = [c for c in live if c.status in BROKEN]
        if not candidates:
            raise Invalid(
                "nothing here needs reconnecting",
                remedy="to renew one anyway, say which: `reconnect facebook`, `reconnect instagram` or "
                "`reconnect google`",
            )
    if len(candidates) > 1:
        raise ConnectionUnclear(
            "several connections fit; say which platform",
            choices=_choices(candidates),
            remedy="type `reconnect facebook`, `reconnect instagram` or `reconnect google`",
        )
    connection = candidates[0]
    return await _consent(runtime, session, access, connection.provider, connection)


async def reconnect_connection(
    runtime: Runtime, session: AsyncSession, access: VenueAccess, connection_id: int, *, return_to: str | None = None
) -> Consent:
    """A consent link that renews one of the venue's connections in place (the Reconnect button); the flow ends
    with a link to `return_to` (a page of this site) when given."""
    connection = await lifecycle.get_connection(session, access, connection_id)
    return await _consent(runtime, session, access, connection.provider, connection, return_to=return_to)


async def _consent(
    runtime: Runtime,
    session: AsyncSession,
    access: VenueAccess,
    provider: Provider,
    connection: Connection | None,
    *,
    return_to: str | None = None,
) -> Consent:
    link = await oauth.start(
        session,
        runtime.clock,
        runtime.settings,
        runtime.cipher(),
        runtime.providers[provider],
        access,
        connection=connection,
        return_to=return_to,
    )
    label = label_for(connection) if connection else lifecycle.PROVIDER_LABEL[provider]
    return Consent(link=link, label=label, reconnecting=connection is not None)


async def pick_for_diagnosis(session: AsyncSession, access: VenueAccess) -> int:
    """The connection `diagnose` without an id means: the venue's only one, or the only one in trouble."""
    live = [
        c for c in await lifecycle.list_connections(session, access) if c.status is not ConnectionStatus.disconnected
    ]
    if not live:
        raise Invalid("this venue has nothing connected to diagnose", remedy="ask an owner or admin to connect it")
    broken = [c for c in live if c.status in BROKEN]
    for group in (live, broken):
        if len(group) == 1:
            return group[0].id
    raise ConnectionUnclear(
        "this venue has several connections; say which to check",
        choices=_choices(live),
        remedy=f"type `diagnose ID`, for example `diagnose {live[0].id}`",
    )


async def diagnose(runtime: Runtime, session: AsyncSession, access: VenueAccess, connection_id: int) -> Diagnosed:
    """`core.connections.lifecycle.diagnose` for one of the venue's connections, a provider failure as a refusal."""
    connection = await lifecycle.get_connection(session, access, connection_id)
    try:
        doc = await lifecycle.diagnose(
            session, runtime.clock, runtime.cipher(), runtime.providers[connection.provider], connection
        )
    except ProviderError as exc:
        passing = isinstance(exc, Transient | RateLimited)
        raise ProviderUnavailable(
            exc.message,
            remedy=exc.remedy or ("try again in a minute or two" if passing else "try again later"),
        ) from exc
    await access.record(
        session, runtime.clock, "connection_diagnosed", subject_type="connection", subject_id=connection.id,
        healthy=bool(doc.get("healthy")),
    )  # fmt: skip
    return Diagnosed(label=label_for(connection), doc=doc)


def _choices(connections: list[Connection]) -> list[ConnectionChoice]:
    return [ConnectionChoice(c.id, label_for(c), c.status.value) for c in connections]


async def connection_states(session: AsyncSession, access: VenueAccess) -> list[ConnectionChoice]:
    """The venue's connections that are not disconnected, with their status (for `status` without an id)."""
    live = [
        c for c in await lifecycle.list_connections(session, access) if c.status is not ConnectionStatus.disconnected
    ]
    return _choices(live)
