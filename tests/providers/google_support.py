"""Helpers shared by the Google twin and adapter tests: config for a running twin, PKCE, the consent hop."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qsl, urlsplit

import httpx

from providers.base import Grant, ProviderConfig
from providers.google.adapter import GoogleBusinessAdapter
from sandbox.google.twin import (
    AccountSpec,
    GoogleTwinState,
    LocationSpec,
    ScenarioSpec,
    UserSpec,
    google_origins,
)

CLIENT_ID = "sandbox-google-client"
CLIENT_SECRET = "sandbox-google-secret"
REDIRECT_URI = "http://127.0.0.1:8000/oauth/google_business/callback"
BUSINESS_MANAGE = "https://www.googleapis.com/auth/business.manage"


def config_for(url: str) -> ProviderConfig:
    """ProviderConfig pointing every Google origin at the twin, each under its real host's name."""
    return ProviderConfig(**google_origins(url), google_client_id=CLIENT_ID, google_client_secret=CLIENT_SECRET)


def make_adapter(url: str, http: httpx.AsyncClient, state: GoogleTwinState) -> GoogleBusinessAdapter:
    """An adapter on the twin's clock, so expiry times line up with the twin's."""
    return GoogleBusinessAdapter(config_for(url), http, now=state.clock.now)


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge), computed independently of the twin."""
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def follow_consent(http: httpx.AsyncClient, url: str) -> dict[str, str]:
    """GET the consent URL as a browser would and return the callback's query (code, state, scope or error)."""
    response = await http.get(url)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI)
    return dict(parse_qsl(urlsplit(location).query))


async def connect(adapter: GoogleBusinessAdapter, http: httpx.AsyncClient, *, state: str = "st-1") -> Grant:
    """The whole consent round trip: authorize URL → twin consent → callback → exchange."""
    verifier, challenge = pkce_pair()
    url = adapter.authorize_url(state=state, redirect_uri=REDIRECT_URI, code_challenge=challenge)
    callback = await follow_consent(http, url)
    assert callback["state"] == state
    return await adapter.exchange_code(code=callback["code"], redirect_uri=REDIRECT_URI, code_verifier=verifier)


def big_scenario(*, accounts: int, locations_in_first: int) -> ScenarioSpec:
    """One user with many accounts; the first holds many locations (to cross page sizes)."""
    specs = [
        AccountSpec(
            id=str(5000 + a),
            account_name=f"Group {a}",
            type="LOCATION_GROUP",
            locations=[
                LocationSpec(id=str(700000 + a * 1000 + i), title=f"Venue {a}-{i}")
                for i in range(locations_in_first if a == 0 else 1)
            ],
        )
        for a in range(accounts)
    ]
    return ScenarioSpec(users=[UserSpec(email="chain.owner@example.com", name="Chain Owner", accounts=specs)])
