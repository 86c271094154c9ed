"""After real consents, no token, code, state or verifier the flows handled is in the database or the logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest
import structlog

from core.logging import configure_logging
from core.runtime import Runtime
from sandbox.google.twin import INFO_API
from tests.connections.browser import ConsentBrowser
from tests.connections.conftest import Twins
from tests.connections.helpers import (
    GOOGLE_LOCATION_1,
    GOOGLE_LOCATION_2,
    META_PAGE_1,
    META_PAGE_2,
    Attempt,
    connect,
    connection_rows,
    consent,
    google_secrets,
    meta_secrets,
    query_of,
    raw_database_text,
    reveal,
    state_row,
    venue_with_admin,
)

NOISY = ("uvicorn.access", "httpx", "httpcore", "aiosqlite", "asyncio")


async def flow_secrets(runtime: Runtime, twins: Twins, attempts: list[Attempt]) -> dict[str, str]:
    """Everything secret the flows so far handled, by a printable name."""
    found: dict[str, str] = {}
    for i, value in enumerate([*await meta_secrets(twins), *await google_secrets(twins)]):
        found[f"twin secret #{i} ({value[:4]}…)"] = value
    for attempt in attempts:
        found[f"raw state of attempt {attempt.state_id}"] = query_of(attempt.consent_url)["state"]
        for name, value in attempt.browser.cookies.items():
            found[f"browser cookie {name}"] = value
        state = await state_row(runtime, attempt.state_id)
        if state is not None and state.code_verifier_ciphertext:
            found[f"PKCE verifier of attempt {attempt.state_id}"] = runtime.cipher().decrypt(
                state.code_verifier_ciphertext
            )
    return found


def leaks(haystack: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if value and value in haystack]


async def test_no_raw_token_code_or_state_reaches_the_database(
    runtime: Runtime,
    client: httpx.AsyncClient,
    network: httpx.AsyncClient,
    twins: Twins,
    browser: ConsentBrowser,
) -> None:
    venue = await venue_with_admin(runtime)
    facebook = await consent(client, browser, venue.admin, "facebook")
    assert facebook.choosing, facebook.text
    google = await consent(client, ConsentBrowser(client, network), venue.admin, "google_business")
    assert google.choosing, google.text
    instagram = await connect(client, ConsentBrowser(client, network), venue.admin, "instagram")
    attempts = [facebook, google, instagram]

    waiting = "\n".join(await raw_database_text(runtime))  # Page tokens and the Google grant wait for the pick
    secrets = await flow_secrets(runtime, twins, attempts)
    assert leaks(waiting, secrets) == [], "a secret is stored in the clear while a choice waits"

    r = await facebook.browser.post_form(
        "/oauth/facebook/pick", {"state_id": str(facebook.state_id), "external_ids": [META_PAGE_1, META_PAGE_2]}
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        f"/api/connections/pending/{google.state_id}",
        headers=venue.admin.headers,
        json={"external_ids": [GOOGLE_LOCATION_1, GOOGLE_LOCATION_2]},
    )
    assert r.status_code == 200, r.text

    dump = await raw_database_text(runtime)
    everything = "\n".join(dump)
    assert leaks(everything, secrets) == [], "a secret is stored in the clear"
    rows = await connection_rows(runtime)
    assert len(rows) == 5, [r.display_name for r in rows]
    for row in rows:
        assert row.access_token_ciphertext in dump, "the dump should see the sealed tokens"
        assert row.access_token_hint and row.access_token_hint in dump
        for value in secrets.values():
            assert len(value) < 16 or value[4:-4] not in everything, "a token's hidden middle is stored"


@pytest.fixture
def restore_logging(capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    """configure_logging rewires the root logger and structlog; put both back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    noisy = {name: (logging.getLogger(name).level, logging.getLogger(name).disabled) for name in NOISY}
    config = structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, (lvl, disabled) in noisy.items():
        logging.getLogger(name).setLevel(lvl)
        logging.getLogger(name).disabled = disabled
    structlog.configure(**config)


async def test_no_raw_token_or_code_reaches_the_logs(
    runtime: Runtime,
    client: httpx.AsyncClient,
    network: httpx.AsyncClient,
    twins: Twins,
    browser: ConsentBrowser,
    capfd: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    configure_logging("DEBUG", "json")
    capfd.readouterr()
    venue = await venue_with_admin(runtime)

    facebook = await connect(client, browser, venue.admin, "facebook", pick_in_browser=True)
    google = await connect(client, ConsentBrowser(client, network), venue.admin, "google_business")
    instagram = await connect(client, ConsentBrowser(client, network), venue.admin, "instagram")
    await twins.google.disable_service(INFO_API)  # a failing consent logs its error path too
    failed = await consent(client, ConsentBrowser(client, network), venue.admin, "google_business")
    assert failed.page.status_code == 400
    (callback,) = [u for u in facebook.browser.visited if "/callback" in u]
    assert (await facebook.browser.get(callback)).status_code == 400  # a replay
    for row in await connection_rows(runtime):
        assert (await reveal(client, venue.admin, row.id)).status_code == 200
        assert (await client.post(f"/api/connections/{row.id}/diagnose", headers=venue.admin.headers)).is_success
    assert (await client.post(f"/api/connections/{row.id}/disconnect", headers=venue.admin.headers)).is_success

    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]
    paths = " ".join(str(e.get("path", "")) for e in events)
    assert "/oauth/facebook/callback" in paths and "/reveal" in paths, "the flows should have been logged"
    secrets = await flow_secrets(runtime, twins, [facebook, google, instagram, failed])
    leaked = {name: [i for i, line in enumerate(lines) if secrets[name] in line] for name in leaks(err, secrets)}
    assert leaked == {}, f"secrets in the logs (name: line numbers): {leaked}\n" + "\n".join(lines)
    # Nor is any token in a URL we sent to a provider (what proxies and access logs keep); the state is, by design.
    assert [c["path"] for c in await twins.meta.calls() if c["secret_in_url"]] == []
    google_urls = " ".join(f"{c.path}?{c.query}" for c in (await twins.google.snapshot()).calls)
    assert leaks(google_urls, {n: v for n, v in secrets.items() if n.startswith("twin secret")}) == []
