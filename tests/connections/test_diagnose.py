"""Diagnose: ask the provider (the twins, over HTTP) what is wrong, in plain words, from the API and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.runtime import Runtime
from core.settings import Settings
from storage.models import ConnectionStatus, Role
from tests import factories
from tests.connections.conftest import Twins
from tests.connections.support_lifecycle import (
    OWNER_FB_USER,
    RED_LION_LOCATION,
    RED_LION_PAGE,
    connect_one,
    notes,
    row,
    run_cheers,
    secret,
    stdout_of,
)

INFO_API = "mybusinessbusinessinformation.googleapis.com"
ACTIVATION_URL = f"https://console.developers.google.com/apis/api/{INFO_API}/overview?project=123456789012"


async def diagnose(client: httpx.AsyncClient, who: factories.Person, connection_id: int) -> dict[str, Any]:
    r = await client.post(f"/api/connections/{connection_id}/diagnose", headers=who.headers)
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def failing(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["check"]: f for f in doc["findings"] if not f["ok"]}


def checks(doc: dict[str, Any]) -> set[str]:
    return {f["check"] for f in doc["findings"]}


async def new_venue(runtime: Runtime) -> tuple[int, factories.Person]:
    venue = await factories.venue(runtime)
    return venue, await factories.person(runtime, venue_id=venue, role=Role.admin)


async def test_healthy_connections_report_healthy_and_the_diagnosis_is_kept(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins
) -> None:
    venue, admin = await new_venue(runtime)
    editor = await factories.person(runtime, venue_id=venue, role=Role.editor)
    ids = {
        provider: await connect_one(client, admin, venue, provider)
        for provider in ("facebook", "instagram", "google_business")
    }
    expected_checks = {
        "facebook": {"token_valid", "user_token", "data_access", "scopes", "page_reachable", "page_task"},
        "instagram": {"token_valid", "user_token", "data_access", "scopes", "page_reachable", "instagram_linked"},
        "google_business": {"refresh_token", "scopes", "location", f"api_enabled:{INFO_API}"},
    }
    docs: dict[int, dict[str, Any]] = {}
    for provider, cid in ids.items():
        doc = await diagnose(client, editor, cid)
        assert doc["healthy"] is True and failing(doc) == {}, doc
        assert expected_checks[provider] <= checks(doc), f"{provider}: {checks(doc)}"
        assert all(f["message"] for f in doc["findings"]), doc
        docs[cid] = doc
    fb = docs[ids["facebook"]]
    assert fb["expires_at"] is not None and fb["data_access_expires_at"] is not None, "when Meta access lapses"

    listed = {c["id"]: c for c in (await client.get("/api/connections", headers=editor.headers)).json()}
    admin_view = {c["id"]: c for c in (await client.get("/api/admin/connections", headers=admin.headers)).json()}
    for cid, doc in docs.items():
        assert listed[cid]["last_diagnosis"] == doc, "the venue's list shows the last diagnosis"
        assert admin_view[cid]["last_diagnosis"] == doc, "so does the admin view"
        assert listed[cid]["status"] == "active"
        stored = await row(runtime, cid)
        assert stored.diagnosed_at is not None and stored.diagnosed_at.isoformat() == doc["at"]
    assert await notes(runtime, "connection_needs_reconnect") == []


@pytest.mark.parametrize(
    ("provider", "fault", "check", "says"),
    [
        pytest.param("facebook", "expire", "token_valid", "has expired", id="facebook-token-expired"),
        pytest.param("instagram", "remove-app", "token_valid", "was removed", id="instagram-app-removed"),
        pytest.param("google_business", "kill-refresh", "refresh_token", "reconnect", id="google-refresh-revoked"),
    ],
)
async def test_dead_access_is_a_failing_finding_and_the_connection_needs_reconnect_once(
    provider: str, fault: str, check: str, says: str, runtime: Runtime, client: httpx.AsyncClient, twins: Twins
) -> None:
    venue, admin = await new_venue(runtime)
    cid = await connect_one(client, admin, venue, provider)
    if fault == "expire":
        assert await twins.meta.expire_token(user_id=OWNER_FB_USER) > 0
    elif fault == "remove-app":
        await twins.meta.revoke_app(OWNER_FB_USER)
    else:
        await twins.google.kill_refresh_token(await secret(runtime, cid, "refresh_token"))

    doc = await diagnose(client, admin, cid)
    assert doc["healthy"] is False, doc
    finding = failing(doc).get(check)
    assert finding is not None, f"expected a failing {check} finding: {doc['findings']}"
    assert says in finding["message"].lower(), finding
    assert finding["remedy"] and "connect" in finding["remedy"].lower(), "a plain remedy: connect it again"
    stored = await row(runtime, cid)
    assert stored.status is ConnectionStatus.needs_reconnect, stored.status
    assert stored.status_reason == finding["message"], stored.status_reason

    await diagnose(client, admin, cid)  # asking again does not alert again
    [alert] = await notes(runtime, "connection_needs_reconnect", connection_id=cid)
    assert alert.account_id == venue and alert.payload["remedy"] == finding["remedy"], vars(alert)


async def test_a_dropped_permission_is_named(runtime: Runtime, client: httpx.AsyncClient, twins: Twins) -> None:
    venue, admin = await new_venue(runtime)
    cid = await connect_one(client, admin, venue, "facebook")
    assert "pages_manage_posts" in (await row(runtime, cid)).scopes
    await twins.meta.drop_scope("pages_manage_posts", user_id=OWNER_FB_USER)

    doc = await diagnose(client, admin, cid)
    finding = failing(doc)["scopes"]
    assert "pages_manage_posts" in finding["message"], finding
    assert "create and manage content on your Page" in finding["message"], "in the words of the Facebook dialog"
    assert finding["remedy"], finding
    assert "pages_manage_posts" not in (await row(runtime, cid)).scopes, "the stored scopes follow Meta's answer"


async def test_an_unlinked_instagram_account_is_reported(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins
) -> None:
    venue, admin = await new_venue(runtime)
    cid = await connect_one(client, admin, venue, "instagram")
    await twins.meta.unlink_instagram(RED_LION_PAGE)

    doc = await diagnose(client, admin, cid)
    assert set(failing(doc)) == {"instagram_linked"}, doc
    finding = failing(doc)["instagram_linked"]
    assert finding["message"] == "No Instagram account is linked to The Red Lion any more.", finding
    assert "link your Instagram professional account" in finding["remedy"], finding
    assert (await row(runtime, cid)).status is ConnectionStatus.active, "the login itself still works"


async def test_a_disabled_google_api_is_named_with_where_to_enable_it(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, settings: Settings, tmp_path: Path
) -> None:
    venue, admin = await new_venue(runtime)
    cid = await connect_one(client, admin, venue, "google_business")
    await twins.google.disable_service(INFO_API)

    doc = await diagnose(client, admin, cid)
    finding = failing(doc)[f"api_enabled:{INFO_API}"]
    assert "My Business Business Information API" in finding["message"] and INFO_API in finding["message"], finding
    assert ACTIVATION_URL in finding["remedy"], finding
    assert (await row(runtime, cid)).status is ConnectionStatus.active, "an operator's fix, not a reconnect"

    out = stdout_of(await run_cheers(settings, twins, "connections", "diagnose", str(cid), cwd=tmp_path))
    assert out.splitlines()[0] == f"#{cid} The Red Lion: needs attention", out
    assert ACTIVATION_URL in out and "My Business Business Information API" in out, out


async def test_cli_diagnoses_every_connection_or_the_one_named(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins, settings: Settings, tmp_path: Path
) -> None:
    venue, admin = await new_venue(runtime)
    other_venue, other_admin = await new_venue(runtime)
    page = await connect_one(client, admin, venue, "facebook")
    location = await connect_one(client, admin, venue, "google_business", pick=[RED_LION_LOCATION])
    instagram = await connect_one(client, other_admin, other_venue, "instagram")

    everything = json.loads(
        stdout_of(await run_cheers(settings, twins, "--json", "connections", "diagnose", cwd=tmp_path))
    )
    results = {r["connection_id"]: r for r in everything["results"]}
    assert set(results) == {page, location, instagram}, "every venue's connections"
    assert all(r["healthy"] and all(f["ok"] for f in r["findings"]) for r in results.values()), results
    assert results[instagram]["name"] == "@theredlion", results[instagram]

    await twins.meta.expire_token(user_id=OWNER_FB_USER)
    out = stdout_of(await run_cheers(settings, twins, "connections", "diagnose", str(page), cwd=tmp_path))
    assert out.splitlines()[0] == f"#{page} The Red Lion: needs attention", out
    assert "!! The Facebook access has expired." in out and "Reconnect it from CheersAI" in out, out
    stored = await row(runtime, page)
    assert stored.status is ConnectionStatus.needs_reconnect and stored.last_diagnosis is not None
    assert stored.last_diagnosis["healthy"] is False, stored.last_diagnosis
    assert len(await notes(runtime, "connection_needs_reconnect", connection_id=page)) == 1
    assert (await row(runtime, instagram)).status is ConnectionStatus.active, "only the one named was diagnosed"


async def test_viewers_may_not_diagnose_and_other_venues_connections_are_not_found(
    runtime: Runtime, client: httpx.AsyncClient, twins: Twins
) -> None:
    venue, admin = await new_venue(runtime)
    viewer = await factories.person(runtime, venue_id=venue, role=Role.viewer)
    cid = await connect_one(client, admin, venue, "facebook")
    _, stranger = await new_venue(runtime)
    calls_before = len(await twins.meta.calls())

    r = await client.post(f"/api/connections/{cid}/diagnose", headers=viewer.headers)
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json"), r.text
    r = await client.post(f"/api/connections/{cid}/diagnose", headers=stranger.headers)
    assert r.status_code == 404, f"another venue's connection does not exist for them: {r.status_code} {r.text}"
    assert (await row(runtime, cid)).last_diagnosis is None, "nothing was diagnosed"
    assert len(await twins.meta.calls()) == calls_before, "Facebook was not asked on their behalf"
