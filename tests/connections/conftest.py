"""Fixtures for connection flows: both sandbox twins on loopback, and the app's settings pointing at them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api.devtwins import twin_settings
from core.clock import FrozenClock
from core.settings import Settings
from sandbox.clock import TwinClock
from sandbox.google.twin import GoogleTwinControl, GoogleTwinState, running_google_twin
from sandbox.meta.twin import MetaTwinControl, MetaTwinState, running_meta_twin
from tests.conftest import make_settings
from tests.connections.browser import ConsentBrowser


@dataclass
class Twins:
    meta_url: str
    meta: MetaTwinControl
    meta_state: MetaTwinState
    google_url: str
    google: GoogleTwinControl
    google_state: GoogleTwinState


@pytest.fixture
async def twins(clock: FrozenClock) -> AsyncIterator[Twins]:
    """Both twins on the test's clock: moving `clock` moves them too; `advance_clock` puts a twin further ahead."""
    async with (
        running_meta_twin(clock=TwinClock(clock)) as (meta_url, meta, meta_state),
        running_google_twin(clock=TwinClock(clock)) as (google_url, google, google_state),
    ):
        yield Twins(meta_url, meta, meta_state, google_url, google, google_state)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, twins: Twins) -> Settings:
    """The app's settings, every provider origin and app credential pointed at the twins."""
    return make_settings(database_url, tmp_path, **twin_settings(twins.meta_url, twins.google_url))


@pytest.fixture
async def network() -> AsyncIterator[httpx.AsyncClient]:
    """The browser's client for everything outside our app (the twins), over real HTTP."""
    async with httpx.AsyncClient(timeout=10.0) as c:
        yield c


@pytest.fixture
def browser(client: httpx.AsyncClient, network: httpx.AsyncClient) -> ConsentBrowser:
    """One browser (its own cookies) driving our app and the twins; make more with ConsentBrowser(client, network)."""
    return ConsentBrowser(client, network)
