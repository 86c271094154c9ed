"""The Google twin: OAuth (accounts.google.com, oauth2.googleapis.com) and Business Profile APIs on one origin.

Every route answers at its real path, bare (`/token`) or under its real host's name
(`/oauth2.googleapis.com/token`); `google_origins(url)` gives the prefixed origins, so a request sent
to the wrong origin gets a 404 just as it would in production. Control lives under `/_twin/…`.

    async with running_google_twin() as (url, control, state):
        config = ProviderConfig(**google_origins(url), google_client_id=..., google_client_secret=...)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from litestar import Litestar
from litestar.datastructures import State

from sandbox.clock import TwinClock
from sandbox.google.control import CONTROL_ROUTES, GoogleTwinControl, TwinSnapshot
from sandbox.google.gbp import GBP_ROUTES
from sandbox.google.http import RpcError, oauth_response, record_call, rpc_response
from sandbox.google.oauth import OAUTH_ROUTES
from sandbox.google.posts import PostSettings
from sandbox.google.posts_api import POST_ROUTES
from sandbox.google.posts_control import POST_CONTROL_ROUTES, TwinPost
from sandbox.google.scenario import (
    ACCOUNTS_API,
    AUTH_HOST,
    BUSINESS_MANAGE,
    INFO_API,
    OAUTH_HOST,
    POSTS_API,
    AccountSpec,
    ConsentSpec,
    LocationSpec,
    ScenarioSpec,
    UserSpec,
    default_scenario,
)
from sandbox.google.state import GoogleTwinState, OAuthError, TwinCall, TwinToken
from sandbox.persist import kept
from sandbox.server import TwinServer

__all__ = [
    "ACCOUNTS_API",
    "BUSINESS_MANAGE",
    "INFO_API",
    "POSTS_API",
    "AccountSpec",
    "ConsentSpec",
    "GoogleTwinControl",
    "GoogleTwinState",
    "LocationSpec",
    "PostSettings",
    "ScenarioSpec",
    "TwinCall",
    "TwinPost",
    "TwinSnapshot",
    "TwinToken",
    "UserSpec",
    "create_google_twin",
    "default_scenario",
    "google_origins",
    "running_google_twin",
]

DEFAULT_CLIENT_ID = "sandbox-google-client"
DEFAULT_CLIENT_SECRET = "sandbox-google-secret"


def create_google_twin(
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    clock: TwinClock | None = None,
) -> tuple[Litestar, GoogleTwinState]:
    """Build the twin app and its state (default scenario loaded)."""
    state = GoogleTwinState(client_id=client_id, client_secret=client_secret, clock=clock)
    app = Litestar(
        route_handlers=[*OAUTH_ROUTES, *GBP_ROUTES, *POST_ROUTES, *CONTROL_ROUTES, *POST_CONTROL_ROUTES],
        state=State({"google_twin": state}),
        exception_handlers={RpcError: rpc_response, OAuthError: oauth_response},
        before_send=[record_call],
        openapi_config=None,
        logging_config=None,  # the host process owns logging (twins run inside `make dev`)
    )
    return app, state


def google_origins(base_url: str) -> dict[str, str]:
    """ProviderConfig's Google origins for a running twin, each under its real host's name."""
    base = base_url.rstrip("/")
    return {
        "google_auth_url": f"{base}/{AUTH_HOST}",
        "google_token_url": f"{base}/{OAUTH_HOST}",
        "gbp_accounts_url": f"{base}/{ACCOUNTS_API}",
        "gbp_info_url": f"{base}/{INFO_API}",
        "gbp_posts_url": f"{base}/{POSTS_API}",
    }


@asynccontextmanager
async def running_google_twin(
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    clock: TwinClock | None = None,
    scenario: ScenarioSpec | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    state_file: Path | None = None,
) -> AsyncIterator[tuple[str, GoogleTwinControl, GoogleTwinState]]:
    """Serve the twin in this event loop (a free loopback port unless `port` is given); yields (url, control, state).

    With `state_file` the twin starts from the state saved there (over `scenario`) and saves after every
    request (`make dev`); without one its state lives in memory only (tests)."""
    app, state = create_google_twin(client_id=client_id, client_secret=client_secret, clock=clock)
    if scenario is not None:
        state.load(scenario)
    served, keeper = kept(app, state_file, twin="google", dump=state.durable, restore=state.restore)
    server = TwinServer(served, host=host, port=port)
    url = await server.start()
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            yield url, GoogleTwinControl(url, client), state
    finally:
        await server.stop()
        if keeper is not None:
            keeper.save()  # changes made directly on `state`, not through a request
