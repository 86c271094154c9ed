"""Approvals through the front doors: the venue setting (PATCH /api/accounts/{id}, `cheers accounts approvals`),
POST /api/posts/{id}/approve|reject and `cheers posts approve|reject`, and the approval state in post views."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from core.runtime import Runtime
from storage.models import Role
from tests import factories
from tests.approvals.conftest import Team
from tests.publishing.conftest import Venue
from tests.test_cli import acheers, as_json


async def _editor_post(client: httpx.AsyncClient, team: Team) -> dict[str, Any]:
    r = await client.post(
        "/api/posts",
        json={"text": "Live music Friday", "when": "2026-11-27T21:00", "connection_ids": [team.venue.connection_id]},
        headers=team.editor.headers,
    )
    assert r.status_code == 201, r.text
    assert "waits for approval" in r.json()["message"], r.json()
    post: dict[str, Any] = r.json()["post"]
    return post


async def test_the_venue_setting_is_an_admins_and_shows_on_the_venue(
    runtime: Runtime, client: httpx.AsyncClient, venue: Venue
) -> None:
    admin = await factories.person(runtime, venue_id=venue.id, role=Role.admin)
    editor = await factories.person(runtime, venue_id=venue.id, role=Role.editor)
    r = await client.patch(f"/api/accounts/{venue.id}", json={"approve_editor_posts": True}, headers=editor.headers)
    assert r.status_code == 403, r.text
    r = await client.patch(
        f"/api/accounts/{venue.id}", json={"approve_editor_posts": True, "approve_weekly_posts": True},
        headers=admin.headers,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["approve_editor_posts"], r.json()["approve_weekly_posts"]) == (True, True), r.json()
    shown = (await client.get(f"/api/accounts/{venue.id}", headers=editor.headers)).json()
    assert shown["approve_editor_posts"] is True, shown
    [entry] = await factories.audit_entries(runtime, "account_approvals_changed")
    assert entry.details["changes"]["approve_editor_posts"] == [False, True], entry.details


async def test_approve_and_reject_through_the_api_with_the_state_in_the_post_view(
    client: httpx.AsyncClient, team: Team
) -> None:
    post = await _editor_post(client, team)
    assert post["approval"] == "pending" and post["status"] == "pending_approval", post
    assert [t["status"] for t in post["targets"]] == ["pending_approval"], post
    refused = await client.post(f"/api/posts/{post['id']}/approve", headers=team.editor.headers)
    assert refused.status_code == 403, refused.text

    r = await client.post(f"/api/posts/{post['id']}/approve", headers=team.alice.headers)
    assert r.status_code == 200, r.text
    assert r.json()["post"]["approval"] == "approved" and r.json()["post"]["status"] == "scheduled", r.json()
    assert r.json()["post"]["approval_decided_by_user_id"] == team.alice.user_id
    late = await client.post(f"/api/posts/{post['id']}/reject", json={"reason": "no"}, headers=team.bob.headers)
    assert late.status_code == 409 and "already approved by Alice Admin" in late.json()["detail"], late.text

    other = await _editor_post(client, team)
    blank = await client.post(f"/api/posts/{other['id']}/reject", json={"reason": " "}, headers=team.bob.headers)
    assert blank.status_code in (400, 422), blank.text
    r = await client.post(
        f"/api/posts/{other['id']}/reject", json={"reason": "Band cancelled"}, headers=team.bob.headers
    )
    assert r.status_code == 200, r.text
    shown = (await client.get(f"/api/posts/{other['id']}", headers=team.editor.headers)).json()
    assert (shown["approval"], shown["approval_note"], shown["status"]) == ("rejected", "Band cancelled", "cancelled")
    listed = (await client.get("/api/posts?status=pending_approval", headers=team.editor.headers)).json()
    assert listed == [], "nothing waits any more"


async def test_the_cli_approves_rejects_and_lists_the_state(
    runtime: Runtime, client: httpx.AsyncClient, team: Team, tmp_path: Path
) -> None:
    first, second = await _editor_post(client, team), await _editor_post(client, team)
    listed = await acheers(runtime.settings, "posts", "list", "--account", str(team.venue.id), cwd=tmp_path)
    assert listed.returncode == 0 and "waiting for approval" in listed.stdout, listed.stdout
    approved = as_json(await acheers(runtime.settings, "--json", "posts", "approve", str(first["id"]), cwd=tmp_path))
    assert approved["approval"] == "approved" and approved["message"].startswith("Approved by the operator"), approved
    again = await acheers(runtime.settings, "posts", "approve", str(first["id"]), cwd=tmp_path)
    assert again.returncode == 1 and "already approved by the operator" in again.stderr, again.stderr
    rejected = await acheers(
        runtime.settings, "posts", "reject", str(second["id"]), "--reason", "Not this week", cwd=tmp_path
    )
    assert rejected.returncode == 0 and "Rejected by the operator: Not this week" in rejected.stdout, rejected.stdout
    setting = await acheers(
        runtime.settings, "accounts", "approvals", str(team.venue.id), "--no-editor-posts", "--weekly-posts",
        cwd=tmp_path,
    )  # fmt: skip
    assert setting.returncode == 0, setting.stderr
    assert "editors' posts go out without approval; weekly-plan posts wait for approval" in setting.stdout
