"""Request dependencies: the runtime, the unit of work, who is calling, and venue role checks."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide

from core.access import auth as auth_core
from core.access import policy as access_core
from core.access.audit import Actor
from core.access.policy import VenueAccess
from core.errors import AuthenticationRequired, Invalid, PermissionDenied
from core.runtime import Runtime
from storage.models import Channel, Role
from storage.uow import UnitOfWork, transaction

SESSION_COOKIE = "cheers_session"
CSRF_COOKIE = "cheers_csrf"
CSRF_HEADER = "x-csrf-token"
ACCOUNT_HEADER = "x-cheers-account"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
T = TypeVar("T")


def provide_runtime(state: State) -> Runtime:
    runtime: Runtime = state.runtime
    return runtime


async def provide_uow(runtime: Runtime) -> AsyncGenerator[UnitOfWork, None]:
    """The route's transaction: committed when the handler returns, rolled back when it raises; its commit wakes the
    tasks it asked for (a notification recorded wakes chat delivery)."""
    async with transaction(runtime.db, runtime.queue) as uow:
        yield uow


async def _released_on_refusal(uow: UnitOfWork, resolve: Awaitable[T]) -> T:
    """`resolve`, rolling the request's transaction back if it raises.

    Litestar runs `provide_uow`'s cleanup only once every dependency has resolved: a refusal raised while resolving
    (401, 403, a venue id too large) would otherwise hold the transaction and its pooled connection until GC."""
    try:
        return await resolve
    except BaseException:
        await uow.rollback()
        raise


async def provide_actor(request: Request[Any, Any, Any], runtime: Runtime, uow: UnitOfWork) -> Actor:
    """Bearer token first; else the session cookie, with CSRF enforced on writes."""
    return await _released_on_refusal(uow, _actor(request, runtime, uow))


async def _actor(request: Request[Any, Any, Any], runtime: Runtime, uow: UnitOfWork) -> Actor:
    authorization = request.headers.get("authorization", "")
    if authorization:
        scheme, _, raw = authorization.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise AuthenticationRequired("use 'Authorization: Bearer <token>'")
        user = await auth_core.authenticate_bearer(uow.session, runtime.clock, raw.strip())
        return Actor(user_id=user.id, channel=Channel.api, is_staff=user.is_staff)
    raw_session = request.cookies.get(SESSION_COOKIE)
    if not raw_session:
        raise AuthenticationRequired("sign in first", remedy="ask for a login link, or send an API token")
    _, user = await auth_core.resolve_session(uow.session, runtime.clock, raw_session)
    if request.method not in SAFE_METHODS and not auth_core.csrf_ok(
        runtime.settings, raw_session, request.headers.get(CSRF_HEADER)
    ):
        raise PermissionDenied(
            "missing or wrong CSRF token",
            remedy=f"send the {CSRF_COOKIE} cookie's value in the X-CSRF-Token header",
        )
    return Actor(user_id=user.id, channel=Channel.web, is_staff=user.is_staff)


def _requested_account(request: Request[Any, Any, Any]) -> int | None:
    raw = request.path_params.get("account_id")  # venue 0 in the path is venue 0, not "my default venue"
    if raw is None:
        raw = request.headers.get(ACCOUNT_HEADER) or request.query_params.get("account")
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise Invalid(f"venue id must be a number, got '{raw}'", field="account") from None


def require(minimum: Role, *, commit_sign_in: bool = False) -> Provide:
    """The one role check: resolves the venue from the path, `X-Cheers-Account` or `?account=`.

    `commit_sign_in` ends the transaction the sign-in wrote in, for a route that then streams a large body:
    no transaction (and no pooled connection) stays open while the bytes arrive.
    """

    async def dependency(
        request: Request[Any, Any, Any], runtime: Runtime, uow: UnitOfWork, actor: Actor
    ) -> VenueAccess:
        return await _released_on_refusal(uow, authorised(request, runtime, uow, actor))

    async def authorised(
        request: Request[Any, Any, Any], runtime: Runtime, uow: UnitOfWork, actor: Actor
    ) -> VenueAccess:
        account_id = _requested_account(request)
        if account_id is None:
            account_id = await access_core.default_account_id(uow.session, actor)
            if account_id is None:
                raise Invalid(
                    "you belong to several venues (or none): say which with the X-Cheers-Account header or ?account=ID",
                    field="account",
                )
        access = await access_core.authorize(
            uow.session, runtime.clock, actor, account_id, minimum, purpose=f"{request.method} {request.url.path}"
        )
        if commit_sign_in:
            await uow.commit()
        return access

    return Provide(dependency)


def base_dependencies() -> dict[str, Provide]:
    fn: Callable[..., Coroutine[Any, Any, Actor]] = provide_actor
    return {
        "runtime": Provide(provide_runtime, sync_to_thread=False),
        "uow": Provide(provide_uow),
        "actor": Provide(fn),
    }
