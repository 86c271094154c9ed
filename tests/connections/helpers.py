"""Shared steps for connection-flow tests: start a consent, walk it in a browser, pick, and look at the results.

Everything goes through our HTTP API and the twins over real HTTP; the database is read (never written) to check
what a flow left behind.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from sqlalchemy import inspect, select, text

from core.runtime import Runtime
from storage.models import AuditEntry, Connection, Notification, OAuthState, Role
from tests import factories
from tests.connections.browser import APP_HOST, ConsentBrowser, confirm_action
from tests.connections.conftest import Twins
from tests.factories import Person

REDIRECTS = (301, 302, 303, 307, 308)
META_PAGE_1 = "109000000000001"  # The Red Lion, linked to @theredlion (the Meta twin's default scenario)
META_PAGE_2 = "109000000000002"  # The Red Lion Kitchen, no Instagram
META_IG_1 = "17841400000000001"
META_USER = "100000000000001"
GOOGLE_LOCATION_1 = "accounts/1000/locations/2001"  # The Red Lion (the Google twin's default scenario)
GOOGLE_LOCATION_2 = "accounts/1000/locations/2002"  # The Red Lion Kitchen


@dataclass
class Venue:
    id: int
    admin: Person


async def venue_with_admin(runtime: Runtime) -> Venue:
    venue_id = await factories.venue(runtime)
    return Venue(venue_id, await factories.person(runtime, venue_id=venue_id, role=Role.admin))


def page_text(response: httpx.Response) -> str:
    """An HTML page's visible words (tags dropped, entities decoded, whitespace collapsed)."""
    body = response.text.split("<body>", 1)[-1]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


# --- the API --------------------------------------------------------------------------------------------------------


async def authorize(client: httpx.AsyncClient, who: Person, provider: str) -> dict[str, Any]:
    """`POST /api/connections/{provider}/authorize`: the consent link, its state id and expiry."""
    r = await client.post(f"/api/connections/{provider}/authorize", headers=who.headers, json={})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def reconnect_link(client: httpx.AsyncClient, who: Person, connection_id: int) -> dict[str, Any]:
    r = await client.post(f"/api/connections/{connection_id}/reconnect", headers=who.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def listed(client: httpx.AsyncClient, who: Person) -> list[dict[str, Any]]:
    """`GET /api/connections`."""
    r = await client.get("/api/connections", headers=who.headers)
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()
    return rows


async def pick_via_api(
    client: httpx.AsyncClient, who: Person, state_id: int, external_ids: Sequence[str]
) -> list[dict[str, Any]]:
    r = await client.post(
        f"/api/connections/pending/{state_id}", headers=who.headers, json={"external_ids": list(external_ids)}
    )
    assert r.status_code == 200, r.text
    changes: list[dict[str, Any]] = r.json()
    return changes


async def disconnect(client: httpx.AsyncClient, who: Person, connection_id: int) -> str:
    r = await client.post(f"/api/connections/{connection_id}/disconnect", headers=who.headers)
    assert r.status_code == 200, r.text
    message: str = r.json()["message"]
    return message


async def reveal(
    client: httpx.AsyncClient, who: Person, connection_id: int, which: str = "access_token"
) -> httpx.Response:
    return await client.post(
        f"/api/admin/connections/{connection_id}/reveal", headers=who.headers, json={"which": which}
    )


# --- the browser ----------------------------------------------------------------------------------------------------


async def step(browser: ConsentBrowser, url: str) -> httpx.Response:
    """One request, no redirect followed, cookies kept as ConsentBrowser.get keeps them."""
    browser.visited.append(url)
    if urlsplit(url).hostname == APP_HOST:
        cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
        response = await browser.app.get(url, headers={"Cookie": cookie})
        for c in response.cookies.jar:
            browser.cookies[c.name] = c.value or ""
        return response
    return await browser.network.get(url)


def is_callback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.hostname == APP_HOST and parts.path.endswith("/callback")


async def callback_url(browser: ConsentBrowser, consent_url: str) -> str:
    """Open the link, press our page's button, walk the provider's dialog: the callback URL (not yet opened)."""
    url = consent_url
    for _ in range(10):
        if is_callback(url):
            return url
        response = await step(browser, url)
        action = confirm_action(response)
        if action is not None:
            response = await browser.press(action)
        assert response.status_code in REDIRECTS, f"expected a redirect from {url}: {response.status_code}"
        url = str(response.url.join(response.headers["location"]))
    raise AssertionError(f"never reached our callback: {browser.visited}")


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def with_query(url: str, **changes: str) -> str:
    """`url` with some query parameters replaced."""
    parts = urlsplit(url)
    query = {**query_of(url), **changes}
    return parts._replace(query=urlencode(query)).geturl()


@dataclass
class Attempt:
    """A consent walked in a browser up to the page our callback answered with."""

    state_id: int
    consent_url: str
    page: httpx.Response
    browser: ConsentBrowser
    changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return page_text(self.page)

    @property
    def choosing(self) -> bool:
        return "Choose what to connect" in self.text


async def consent(client: httpx.AsyncClient, browser: ConsentBrowser, who: Person, provider: str) -> Attempt:
    """Authorize through the API, open the consent link in `browser`, confirm, and walk on to our callback's page."""
    link = await authorize(client, who, provider)
    page = await browser.open_link(link["url"])
    return Attempt(link["state_id"], link["url"], page, browser)


async def connect(
    client: httpx.AsyncClient,
    browser: ConsentBrowser,
    who: Person,
    provider: str,
    *,
    pick: Sequence[str] | None = None,
    pick_in_browser: bool = False,
) -> Attempt:
    """A full connect: consent, then (when several places were granted) pick `pick` (default: all offered).

    The pick goes through `POST /api/connections/pending/{state_id}`, or the page's own form when
    `pick_in_browser`. Fails unless the flow ends connected.
    """
    attempt = await consent(client, browser, who, provider)
    assert attempt.page.status_code == 200, f"{browser.visited}\n{attempt.text}"
    if not attempt.choosing:
        assert attempt.text.startswith("Connected"), attempt.text
        assert pick is None or len(pick) == 1, f"no choice was offered: {attempt.text}"
        return attempt
    offered = choices_in(attempt.page)
    wanted = list(pick) if pick is not None else offered
    if pick_in_browser:
        r = await browser.post_form(
            f"/oauth/{provider}/pick", {"state_id": str(attempt.state_id), "external_ids": wanted}
        )
        assert r.status_code == 200, page_text(r)
        attempt.page = r
    else:
        attempt.changes = await pick_via_api(client, who, attempt.state_id, wanted)
    return attempt


def choices_in(page: httpx.Response) -> list[str]:
    """The external ids the choice page's form offers (its checkboxes)."""
    return re.findall(r'name="external_ids" value="([^"]+)"', page.text)


# --- what a flow left behind ----------------------------------------------------------------------------------------


async def connection_rows(runtime: Runtime) -> list[Connection]:
    async with runtime.db.session() as session:
        return list((await session.execute(select(Connection).order_by(Connection.id))).scalars().all())


async def connection_row(runtime: Runtime, connection_id: int) -> Connection:
    async with runtime.db.session() as session:
        row = await session.get(Connection, connection_id)
    assert row is not None, f"connection {connection_id} vanished"
    return row


async def state_row(runtime: Runtime, state_id: int) -> OAuthState | None:
    async with runtime.db.session() as session:
        return await session.get(OAuthState, state_id)


async def audit(runtime: Runtime, action: str) -> list[AuditEntry]:
    return list(await factories.audit_entries(runtime, action))


async def notifications_of(runtime: Runtime, kind: str) -> list[Notification]:
    async with runtime.db.session() as session:
        query = select(Notification).where(Notification.kind == kind).order_by(Notification.id)
        return list((await session.execute(query)).scalars().all())


# --- what the twins issued ------------------------------------------------------------------------------------------


async def meta_tokens(twins: Twins, *, kind: str | None = None, page_id: str | None = None) -> list[dict[str, Any]]:
    """Tokens the Meta twin issued (oldest first), optionally only USER or PAGE ones, or one Page's."""
    tokens: list[dict[str, Any]] = (await twins.meta.state())["tokens"]
    return [
        t for t in tokens if (kind is None or t["kind"] == kind) and (page_id is None or t.get("page_id") == page_id)
    ]


async def meta_secrets(twins: Twins) -> list[str]:
    """Every token and code the Meta twin handed out, plus the app secret."""
    tokens = [t["value"] for t in await meta_tokens(twins)]
    return [*tokens, *twins.meta_state.codes, *(a.secret for a in twins.meta_state.apps.values())]


async def google_secrets(twins: Twins) -> list[str]:
    """Every token and code the Google twin handed out, plus the client secret."""
    snapshot = await twins.google.snapshot()
    return [*snapshot.token_values(), *twins.google_state.codes, *twins.google_state.clients.values()]


async def raw_database_text(runtime: Runtime) -> list[str]:
    """Every non-null value of every column of every table, as the database renders it (as in tests/storage)."""

    def layout_of(sync_conn: Any) -> dict[str, list[str]]:
        inspector = inspect(sync_conn)
        return {t: [c["name"] for c in inspector.get_columns(t)] for t in inspector.get_table_names()}

    values: list[str] = []
    async with runtime.db.engine.connect() as conn:
        layout = await conn.run_sync(layout_of)
        assert {"connections", "oauth_states", "audit_log"} <= set(layout), sorted(layout)
        for table, columns in layout.items():
            for column in columns:
                result = await conn.execute(text(f'SELECT CAST("{column}" AS TEXT) FROM "{table}"'))
                values += [v for (v,) in result.all() if v is not None]
    return values
