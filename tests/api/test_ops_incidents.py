"""`/api/ops/incidents`: staff read and silence the service's incidents; anyone else is refused before any lookup."""

from __future__ import annotations

from datetime import timedelta

import httpx

from api import runbook
from core.clock import FrozenClock
from core.ops import incidents as incidents_core
from core.runtime import Runtime
from storage.models import Role
from tests import factories
from tests.api.ops_support import open_incident, resolve_all


async def test_staff_see_open_incidents_and_with_status_all_the_resolved_ones(
    runtime: Runtime, clock: FrozenClock, client: httpx.AsyncClient
) -> None:
    staff = await factories.person(runtime, staff=True)
    old = await open_incident(runtime, "housekeeping")
    clock.advance(minutes=72)
    await resolve_all(runtime)
    new = await open_incident(runtime, "media-derivatives-sweep")
    clock.advance(minutes=5)

    r = await client.get("/api/ops/incidents", headers=staff.headers)
    assert r.status_code == 200, r.text
    [shown] = r.json()
    assert shown["id"] == new and shown["status"] == "open", f"only the open incident by default: {r.json()}"
    assert shown["title"] == "Job media-derivatives-sweep is failing" and shown["lasted"] == "5 min", shown
    assert shown["subject"] == {"job": "media-derivatives-sweep"} and shown["facts"]["failures"] == 3, shown
    assert shown["runbook"] == "http://testserver.local/ops/runbook#incident-job-failing", shown["runbook"]
    assert shown["silenced"] is False and shown["resolved_at"] is None, shown

    r = await client.get("/api/ops/incidents?status=all", headers=staff.headers)
    assert [i["id"] for i in r.json()] == [new, old], f"newest first, resolved included: {r.text}"
    r = await client.get("/api/ops/incidents?status=resolved", headers=staff.headers)
    [resolved] = r.json()
    assert resolved["id"] == old and resolved["lasted"] == "1 h 12 min", resolved
    assert resolved["resolved_note"] == "Cleared after 1 h 12 min: the job succeeded again.", resolved
    r = await client.get("/api/ops/incidents?status=all&limit=1", headers=staff.headers)
    assert [i["id"] for i in r.json()] == [new], r.text

    r = await client.get(f"/api/ops/incidents/{old}", headers=staff.headers)
    assert r.status_code == 200 and r.json()["status"] == "resolved", r.text


async def test_people_without_the_staff_flag_are_refused_whatever_the_id(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue = await factories.venue(runtime)
    owner = await factories.person(runtime, venue_id=venue, role=Role.owner)
    incident = await open_incident(runtime)

    for method, path in [
        ("GET", "/api/ops/incidents"),
        ("GET", f"/api/ops/incidents/{incident}"),
        ("GET", "/api/ops/incidents/999999"),
        ("POST", f"/api/ops/incidents/{incident}/silence"),
    ]:
        body = {"minutes": 30} if method == "POST" else None
        r = await client.request(method, path, headers=owner.headers, json=body)
        assert r.status_code == 403, f"a venue owner got {r.status_code} from {method} {path}: {r.text}"
        problem = r.json()
        assert "only CheersAI staff" in problem["detail"] and problem["remedy"], problem
        r = await client.request(method, path, json=body)
        assert r.status_code == 401, f"no credentials got {r.status_code} from {method} {path}"

    assert await factories.audit_entries(runtime, "incident_silenced") == [], "a refused silence is not recorded"
    r = await client.get(
        f"/api/ops/incidents/{incident}", headers=(await factories.person(runtime, staff=True)).headers
    )
    assert r.json()["silenced"] is False, "a refused silence changed the incident"


async def test_staff_silence_an_incident_through_the_api_and_it_is_audited(
    runtime: Runtime, clock: FrozenClock, client: httpx.AsyncClient
) -> None:
    staff = await factories.person(runtime, staff=True)
    incident = await open_incident(runtime)

    r = await client.post(f"/api/ops/incidents/{incident}/silence", json={"minutes": 30}, headers=staff.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["silenced"] is True and body["silenced_by_user_id"] == staff.user_id, body
    assert body["silenced_until"] == (clock.now() + timedelta(minutes=30)).isoformat().replace("+00:00", "Z"), body
    assert body["version"] == 2, f"a silence is a change ops destinations are told of: {body}"
    [entry] = await factories.audit_entries(runtime, "incident_silenced")
    assert entry.actor_user_id == staff.user_id and entry.subject_id == str(incident), vars(entry)
    assert entry.details["minutes"] == 30 and entry.channel.value == "api", entry.details

    # Without minutes, the setting's default (60).
    r = await client.post(f"/api/ops/incidents/{incident}/silence", json={}, headers=staff.headers)
    assert r.status_code == 200, r.text
    assert r.json()["silenced_until"].startswith((clock.now() + timedelta(minutes=60)).strftime("%Y-%m-%dT%H:%M")), (
        r.text
    )

    clock.advance(minutes=61)
    r = await client.get(f"/api/ops/incidents/{incident}", headers=staff.headers)
    assert r.json()["silenced"] is False, f"a silence that ran out shows as over: {r.json()}"

    for minutes in (0, -5, 10081):
        r = await client.post(
            f"/api/ops/incidents/{incident}/silence", json={"minutes": minutes}, headers=staff.headers
        )
        assert r.status_code == 400, f"silencing for {minutes} minutes answered {r.status_code}: {r.text}"


async def test_unknown_or_resolved_incidents_answer_plainly(runtime: Runtime, client: httpx.AsyncClient) -> None:
    staff = await factories.person(runtime, staff=True)
    incident = await open_incident(runtime)
    await resolve_all(runtime)

    r = await client.get("/api/ops/incidents/424242", headers=staff.headers)
    assert r.status_code == 404 and r.json()["detail"] == "no incident 424242", r.text
    r = await client.post("/api/ops/incidents/424242/silence", json={"minutes": 60}, headers=staff.headers)
    assert r.status_code == 404, r.text
    r = await client.post(f"/api/ops/incidents/{incident}/silence", json={"minutes": 60}, headers=staff.headers)
    assert r.status_code == 422 and "already resolved" in r.json()["detail"], r.text
    r = await client.get("/api/ops/incidents?status=closed", headers=staff.headers)
    assert r.status_code == 400, f"an unknown status filter is a bad request: {r.text}"


async def test_the_routes_are_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert set(paths["/api/ops/incidents"]) == {"get"}, paths["/api/ops/incidents"]
    assert "get" in paths["/api/ops/incidents/{incident_id}"], sorted(paths)
    silence = paths["/api/ops/incidents/{incident_id}/silence"]["post"]
    assert silence["tags"] == ["ops"] and "audited" in silence["summary"], silence
    status = next(p for p in paths["/api/ops/incidents"]["get"]["parameters"] if p["name"] == "status")
    assert status["schema"]["enum"] == ["open", "resolved", "all"] and status["schema"]["default"] == "open", status


async def test_every_runbook_link_lands_on_its_section_of_the_runbook_page(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    r = await client.get("/ops/runbook")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), r.text[:300]
    for rule in incidents_core.RULES:
        link = incidents_core.runbook_link(runtime.settings, rule)
        assert link.startswith("http://testserver.local/ops/runbook#"), link
        anchor = link.split("#", 1)[1]
        assert f'id="{anchor}"' in r.text, f"the Runbook link for {rule} names #{anchor}, a section the page lacks"
    assert "<script" not in r.text, "the page runs nothing"


def test_the_runbook_page_anchors_headings_as_github_does_and_escapes_raw_html() -> None:
    page = runbook.render("# On call\n\n### Incident: job failing\n\n<script>alert(1)</script>\n\n## On call\n")
    assert '<h3 id="incident-job-failing">' in page and '<h2 id="on-call-1">' in page, page
    assert "<script>" not in page and "&lt;script&gt;" in page, page
