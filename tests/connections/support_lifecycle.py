"""Helpers for the lifecycle tests (expiry watch, diagnose, Meta callbacks, import and backfill).

Connecting goes through the real flow: our API for the consent link, a scripted browser across our
app and the twins, and the pick endpoint when one consent grants several places.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from sqlalchemy import select

from api.devtwins import twin_settings
from core.runtime import Runtime
from core.settings import Settings
from providers.base import Grant
from storage.models import Base, Connection, MetaDataRequest, Notification, Provider
from storage.secrets import unseal
from tests.connections.browser import ConsentBrowser
from tests.connections.conftest import Twins
from tests.factories import Person, process_env

RED_LION_PAGE = "109000000000001"
KITCHEN_PAGE = "109000000000002"
RED_LION_IG = "17841400000000001"
OWNER_FB_USER = "100000000000001"
RED_LION_LOCATION = "accounts/1000/locations/2001"
KITCHEN_LOCATION = "accounts/1000/locations/2002"
# What the flow picks when one consent grants several places.
DEFAULT_PICK = {"facebook": [RED_LION_PAGE], "google_business": [RED_LION_LOCATION]}

CHEERS = Path(sys.executable).with_name("cheers")
COMMAND = [str(CHEERS)] if CHEERS.exists() else [sys.executable, "-m", "api.cli"]


def venue_headers(who: Person, venue_id: int) -> dict[str, str]:
    """`who`'s bearer token, acting in `venue_id` (needed once a person belongs to several venues)."""
    return {**who.headers, "X-Cheers-Account": str(venue_id)}


async def connect(
    client: httpx.AsyncClient, admin: Person, venue_id: int, provider: str, *, pick: Sequence[str] | None = None
) -> list[int]:
    """Connect through the real consent flow; returns the ids of the connections it created or updated."""
    headers = venue_headers(admin, venue_id)
    before = {c["id"]: c for c in (await client.get("/api/connections", headers=headers)).json()}
    r = await client.post(f"/api/connections/{provider}/authorize", headers=headers, json={})
    assert r.status_code == 200, r.text
    consent = r.json()
    async with httpx.AsyncClient() as network:
        browser = ConsentBrowser(client, network)
        page = await browser.open_link(consent["url"])
    assert page.status_code == 200, f"{browser.visited}\n{page.text}"
    if "Choose what to connect" in page.text:
        wanted = list(pick if pick is not None else DEFAULT_PICK[provider])
        r = await client.post(
            f"/api/connections/pending/{consent['state_id']}", headers=headers, json={"external_ids": wanted}
        )
        assert r.status_code == 200, r.text
        return [c["connection_id"] for c in r.json()]
    assert "Connected" in page.text, page.text
    after = (await client.get("/api/connections", headers=headers)).json()
    return [c["id"] for c in after if c["id"] not in before or c != before[c["id"]]]


async def connect_one(
    client: httpx.AsyncClient, admin: Person, venue_id: int, provider: str, *, pick: Sequence[str] | None = None
) -> int:
    [connection_id] = await connect(client, admin, venue_id, provider, pick=pick)
    return connection_id


async def row(runtime: Runtime, connection_id: int) -> Connection:
    """The connection as stored right now (a fresh session, nothing cached)."""
    async with runtime.db.session() as session:
        found = await session.get(Connection, connection_id)
    assert found is not None, f"connection {connection_id} should exist"
    return found


async def secret(runtime: Runtime, connection_id: int, which: str = "access_token") -> str:
    """A stored token, decrypted (what the app itself would send to the provider)."""
    value = unseal(await row(runtime, connection_id), which, runtime.cipher())
    assert value is not None, f"connection {connection_id} has no {which}"
    return value


async def notes(runtime: Runtime, kind: str, *, connection_id: int | None = None) -> list[Notification]:
    """Notifications of `kind` (about one connection, when given), oldest first."""
    async with runtime.db.session() as session:
        found = (
            (await session.execute(select(Notification).where(Notification.kind == kind).order_by(Notification.id)))
            .scalars()
            .all()
        )
    return [n for n in found if connection_id is None or n.subject.get("connection_id") == connection_id]


async def data_requests(runtime: Runtime) -> list[MetaDataRequest]:
    async with runtime.db.session() as session:
        return list((await session.execute(select(MetaDataRequest).order_by(MetaDataRequest.id))).scalars().all())


async def database_dump(runtime: Runtime) -> str:
    """Every row of every table as text: what a leaked backup would show."""
    lines: list[str] = []
    async with runtime.db.session() as session:
        for table in Base.metadata.sorted_tables:
            for record in (await session.execute(select(table))).all():
                lines.append(f"{table.name}: {tuple(record)!r}")
    return "\n".join(lines)


# --- the `cheers` command, as a subprocess pointed at the twins ---


def twin_env(settings: Settings, twins: Twins, **extra: str) -> dict[str, str]:
    """The subprocess environment: the test's database and secrets, provider origins and app credentials."""
    provider = {k.upper(): v for k, v in twin_settings(twins.meta_url, twins.google_url).items()}
    return process_env(settings, **provider, **extra)


async def run_cheers(settings: Settings, twins: Twins, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`cheers ARGS` in a subprocess, off the event loop (the twins keep serving in this loop meanwhile)."""

    def go() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*COMMAND, *args],
            cwd=cwd,
            env=twin_env(settings, twins),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    return await asyncio.to_thread(go)


def stdout_of(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"`{' '.join(map(str, result.args[1:]))}` failed: {result.stderr}"
    return result.stdout


# --- tokens another system obtained from the providers (for imports) ---

LEGACY_REDIRECT = "https://legacy-tool.example/oauth/callback"
EVERY_META_SCOPE = (
    "pages_show_list,pages_manage_posts,pages_read_engagement,business_management,"
    "instagram_basic,instagram_content_publish"
)


@dataclass(frozen=True)
class LegacyTokens:
    """What an older tool kept: a Facebook user token, Page tokens by Page id, a Google refresh token."""

    facebook_user_token: str
    page_tokens: dict[str, str]
    google_refresh_token: str


def _code(location: str) -> str:
    query = parse_qs(urlsplit(location).query)
    assert "code" in query, f"the consent answered without a code: {location}"
    return query["code"][0]


async def legacy_tokens(runtime: Runtime, network: httpx.AsyncClient) -> LegacyTokens:
    """Mint real tokens at the twins the way another tool would have (its own redirect URI and consent)."""
    settings = runtime.settings
    dialog = f"{settings.cheers_facebook_dialog_url}/v25.0/dialog/oauth?" + urlencode(
        {
            "client_id": settings.cheers_facebook_app_id,
            "redirect_uri": LEGACY_REDIRECT,
            "scope": EVERY_META_SCOPE,
            "response_type": "code",
            "state": "legacy",
        }
    )
    answer = await network.get(dialog)
    assert answer.status_code == 302, answer.text
    facebook = runtime.providers[Provider.facebook]
    grant = await facebook.exchange_code(
        code=_code(answer.headers["location"]), redirect_uri=LEGACY_REDIRECT, code_verifier=None
    )
    pages = {t.external_id: t.access_token or "" for t in await facebook.list_targets(grant)}

    google = runtime.providers[Provider.google_business]
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    url = google.authorize_url(state="legacy", redirect_uri=LEGACY_REDIRECT, code_challenge=challenge)
    answer = await network.get(url)
    assert answer.status_code == 302, answer.text
    google_grant: Grant = await google.exchange_code(
        code=_code(answer.headers["location"]), redirect_uri=LEGACY_REDIRECT, code_verifier=verifier
    )
    assert google_grant.refresh_token
    return LegacyTokens(grant.access_token, pages, google_grant.refresh_token)


def jsonl(*rows: Any) -> str:
    """JSON lines; a str row is written as is (to put a broken line in the file)."""
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
