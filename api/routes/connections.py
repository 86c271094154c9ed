"""Connections API: list, authorize (consent link), pick, reconnect, diagnose, disconnect, admin view."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import get, post
from pydantic import BaseModel, Field

from api.deps import require
from api.routes.oauth import provider_from
from core.access.policy import VenueAccess
from core.connections import lifecycle as connections_core
from core.connections import oauth
from core.runtime import Runtime
from storage.models import Connection, Role
from storage.uow import UnitOfWork


class ConnectionOut(BaseModel):
    id: int
    provider: str
    status: str
    status_reason: str | None
    name: str
    external_id: str
    page_id: str | None
    ig_business_id: str | None
    location_name: str | None
    scopes: list[str]
    user_token_expires_at: datetime | None
    data_access_expires_at: datetime | None
    token_expires_at: datetime | None
    last_diagnosis: dict[str, Any] | None
    created_at: datetime


class AdminConnectionOut(ConnectionOut):
    access_token: str | None = Field(description="masked")
    refresh_token: str | None = Field(description="masked")
    user_token: str | None = Field(description="masked")
    provider_user_id: str | None


def _out(c: Connection) -> dict[str, Any]:
    return {
        "id": c.id,
        "provider": c.provider.value,
        "status": c.status.value,
        "status_reason": c.status_reason,
        "name": c.display_name,
        "external_id": c.external_id,
        "page_id": c.page_id,
        "ig_business_id": c.ig_business_id,
        "location_name": c.location_name,
        "scopes": c.scopes,
        "user_token_expires_at": c.user_token_expires_at,
        "data_access_expires_at": c.data_access_expires_at,
        "token_expires_at": c.token_expires_at,
        "last_diagnosis": c.last_diagnosis,
        "created_at": c.created_at,
    }


@get(
    "/api/connections",
    tags=["connections"],
    summary="The venue's connections",
    dependencies={"access": require(Role.viewer)},
)
async def list_connections(access: VenueAccess, uow: UnitOfWork) -> list[ConnectionOut]:
    return [ConnectionOut(**_out(c)) for c in await connections_core.list_connections(uow.session, access)]


class AuthorizeIn(BaseModel):
    return_to: str | None = Field(None, description="A path on this site to offer after connecting")


class ConsentOut(BaseModel):
    url: str = Field(description="Open in a browser: our page, then the provider's consent")
    state_id: int
    expires_at: datetime


@post(
    "/api/connections/{provider_name:str}/authorize",
    tags=["connections"],
    summary="Start connecting: returns the consent link",
    dependencies={"access": require(Role.admin)},
    status_code=200,
)
async def authorize(
    provider_name: str, access: VenueAccess, runtime: Runtime, uow: UnitOfWork, data: AuthorizeIn | None = None
) -> ConsentOut:
    adapter = runtime.providers[provider_from(provider_name)]
    link = await oauth.start(
        uow.session,
        runtime.clock,
        runtime.settings,
        runtime.cipher(),
        adapter,
        access,
        return_to=data.return_to if data else None,
    )
    return ConsentOut(url=link.url, state_id=link.state_id, expires_at=link.expires_at)


class ChoiceOut(BaseModel):
    external_id: str
    name: str
    details: dict[str, Any]


@get(
    "/api/connections/pending/{state_id:int}",
    tags=["connections"],
    summary="Places one consent granted, waiting for a choice",
    dependencies={"access": require(Role.admin)},
)
async def pending(state_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> list[ChoiceOut]:
    choices = await oauth.pending_choices(uow.session, runtime.clock, runtime.cipher(), access, state_id)
    return [ChoiceOut(external_id=c.external_id, name=c.name, details=c.details) for c in choices]


class PickIn(BaseModel):
    external_ids: list[str] = Field(min_length=1)


class ChangeOut(BaseModel):
    connection_id: int
    created: bool
    summary: str


@post(
    "/api/connections/pending/{state_id:int}",
    tags=["connections"],
    summary="Connect the chosen places",
    dependencies={"access": require(Role.admin)},
    status_code=200,
)
async def choose(
    state_id: int, data: PickIn, access: VenueAccess, runtime: Runtime, uow: UnitOfWork
) -> list[ChangeOut]:
    changes = await oauth.pick(
        uow.session, runtime.clock, runtime.cipher(), access, state_id=state_id, external_ids=data.external_ids
    )
    return [ChangeOut(connection_id=c.connection_id, created=c.created, summary=c.summary) for c in changes]


@post(
    "/api/connections/{connection_id:int}/reconnect",
    tags=["connections"],
    summary="A consent link that renews this connection in place",
    dependencies={"access": require(Role.admin)},
    status_code=200,
)
async def reconnect(connection_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> ConsentOut:
    connection = await connections_core.get_connection(uow.session, access, connection_id)
    link = await oauth.start(
        uow.session,
        runtime.clock,
        runtime.settings,
        runtime.cipher(),
        runtime.providers[connection.provider],
        access,
        connection=connection,
    )
    return ConsentOut(url=link.url, state_id=link.state_id, expires_at=link.expires_at)


@post(
    "/api/connections/{connection_id:int}/diagnose",
    tags=["connections"],
    summary="Ask the provider what is wrong, in plain words",
    dependencies={"access": require(Role.editor)},
    status_code=200,
)
async def diagnose(connection_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> dict[str, Any]:
    connection = await connections_core.get_connection(uow.session, access, connection_id)
    return await connections_core.diagnose(
        uow.session, runtime.clock, runtime.cipher(), runtime.providers[connection.provider], connection
    )


class DisconnectOut(BaseModel):
    message: str


@post(
    "/api/connections/{connection_id:int}/disconnect",
    tags=["connections"],
    summary="Revoke at the provider and stop using it (history is kept)",
    dependencies={"access": require(Role.admin)},
    status_code=200,
)
async def disconnect(connection_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> DisconnectOut:
    connection = await connections_core.get_connection(uow.session, access, connection_id)
    message = await connections_core.disconnect(
        uow.session, runtime.clock, runtime.cipher(), runtime.providers[connection.provider], access, connection_id
    )
    return DisconnectOut(message=message)


@get(
    "/api/admin/connections",
    tags=["admin"],
    summary="Connections with masked tokens",
    dependencies={"access": require(Role.admin)},
)
async def admin_list(access: VenueAccess, uow: UnitOfWork) -> list[AdminConnectionOut]:
    return [
        AdminConnectionOut(
            **_out(c),
            access_token=c.access_token_hint,
            refresh_token=c.refresh_token_hint,
            user_token=c.user_token_hint,
            provider_user_id=c.provider_user_id,
        )
        for c in await connections_core.list_connections(uow.session, access)
    ]


class RevealIn(BaseModel):
    which: str = Field("access_token", description="access_token, refresh_token or user_token")


class RevealOut(BaseModel):
    connection_id: int
    which: str
    token: str


@post(
    "/api/admin/connections/{connection_id:int}/reveal",
    tags=["admin"],
    summary="The raw token (admins only; audited; rate limited)",
    dependencies={"access": require(Role.admin)},
    status_code=200,
)
async def reveal(
    connection_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork, data: RevealIn | None = None
) -> RevealOut:
    which = data.which if data else "access_token"
    token = await connections_core.reveal(uow.session, runtime.clock, runtime.cipher(), access, connection_id, which)
    return RevealOut(connection_id=connection_id, which=which, token=token)


routes = [list_connections, authorize, pending, choose, reconnect, diagnose, disconnect, admin_list, reveal]
