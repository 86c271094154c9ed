"""The caller: who they are, their venues, how their own alerts reach them, and their API tokens."""

from __future__ import annotations

from datetime import datetime

from litestar import Request, delete, get, patch, post
from pydantic import BaseModel, Field

from api.deps import SESSION_COOKIE
from core.access import accounts as accounts_core
from core.access import auth as auth_core
from core.access import people_alerts
from core.access.audit import Actor
from core.runtime import Runtime
from storage.uow import UnitOfWork


class VenueOut(BaseModel):
    account_id: int
    name: str
    timezone: str
    role: str


class MeOut(BaseModel):
    user_id: int
    name: str
    email: str | None
    is_staff: bool
    alert_via: str = Field(description="How your own alerts reach you: chat (your private chat), email, or both")
    venues: list[VenueOut]
    csrf_token: str | None = Field(None, description="For cookie sessions: send it in X-CSRF-Token on writes")


@get("/api/me", tags=["me"], summary="Who you are and the venues you belong to")
async def me(request: Request, actor: Actor, runtime: Runtime, uow: UnitOfWork) -> MeOut:  # type: ignore[type-arg]
    return await _me_out(request, actor, runtime, uow)


async def _me_out(request: Request, actor: Actor, runtime: Runtime, uow: UnitOfWork) -> MeOut:  # type: ignore[type-arg]
    assert actor.user_id is not None
    user = await accounts_core.get_user(uow.session, actor.user_id)
    raw = request.cookies.get(SESSION_COOKIE)
    return MeOut(
        user_id=user.id,
        name=user.name,
        email=user.email,
        is_staff=user.is_staff,
        alert_via=user.alert_via,
        venues=[
            VenueOut(account_id=v.account_id, name=v.name, timezone=v.timezone, role=v.role.value)
            for v in await accounts_core.venues_of(uow.session, user.id)
        ],
        csrf_token=auth_core.csrf_token_for(runtime.settings, raw) if raw and actor.channel.value == "web" else None,
    )


class MePatch(BaseModel):
    alert_via: str | None = Field(
        None,
        description="How your own alerts reach you: `chat` (your private chat, `alerts me`), `email` (needs an "
        "e-mail address on your account; the private chat copy stops) or `both`",
        examples=["email"],
    )


@patch("/api/me", tags=["me"], summary="Choose how your own alerts reach you: chat, email or both")
async def update_me(
    request: Request,  # type: ignore[type-arg]
    data: MePatch,
    actor: Actor,
    runtime: Runtime,
    uow: UnitOfWork,
) -> MeOut:
    assert actor.user_id is not None
    if data.alert_via is not None:
        await people_alerts.set_alert_via(uow.session, runtime.clock, actor, data.alert_via)
    return await _me_out(request, actor, runtime, uow)


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    id: int
    name: str
    hint: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewTokenOut(TokenOut):
    token: str = Field(description="Shown once; store it now")


@post("/api/tokens", tags=["me"], summary="Create an API token for yourself (shown once)")
async def create_token(data: TokenIn, actor: Actor, runtime: Runtime, uow: UnitOfWork) -> NewTokenOut:
    assert actor.user_id is not None
    token, raw = await auth_core.create_api_token(
        uow.session, runtime.clock, actor, user_id=actor.user_id, name=data.name
    )
    return NewTokenOut(
        id=token.id,
        name=token.name,
        hint=token.hint,
        created_at=token.created_at,
        last_used_at=None,
        revoked_at=None,
        token=raw,
    )


@get("/api/tokens", tags=["me"], summary="Your API tokens (masked)")
async def list_tokens(actor: Actor, uow: UnitOfWork) -> list[TokenOut]:
    assert actor.user_id is not None
    return [
        TokenOut(
            id=t.id,
            name=t.name,
            hint=t.hint,
            created_at=t.created_at,
            last_used_at=t.last_used_at,
            revoked_at=t.revoked_at,
        )
        for t in await auth_core.list_api_tokens(uow.session, actor.user_id)
    ]


@delete("/api/tokens/{token_id:int}", tags=["me"], summary="Revoke one of your API tokens", status_code=204)
async def revoke_token(token_id: int, actor: Actor, runtime: Runtime, uow: UnitOfWork) -> None:
    assert actor.user_id is not None
    await auth_core.revoke_api_token(uow.session, runtime.clock, actor, user_id=actor.user_id, token_id=token_id)


routes = [me, update_me, create_token, list_tokens, revoke_token]
