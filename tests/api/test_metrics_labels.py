"""`/metrics` labels requests by route template, so no request (signed in or not) can add label values at will."""

from __future__ import annotations

import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from core.runtime import Runtime
from storage.models import Role
from tests import factories


async def route_labels(client: httpx.AsyncClient) -> dict[tuple[str, str, str], float]:
    """Every (method, route, status) of the request counter, with its count."""
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    return {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
        if s.name == "cheers_http_requests_total"
    }


async def test_unknown_paths_share_one_label_however_many_there_are(client: httpx.AsyncClient) -> None:
    await client.get("/metrics")
    before = {route for _, route, _ in await route_labels(client)}

    for i in range(200):
        junk = uuid.uuid4().hex
        # Some match no route at all; some match a route whose parameter is free text but name nothing.
        path = [f"/{junk}", f"/api/posts/{junk}/{i}", f"/oauth/{junk}/start", f"/meta/data-deletion/{junk}"][i % 4]
        r = await client.get(path)
        assert r.status_code == 404, f"{path} should be unknown: {r.status_code}"

    after = await route_labels(client)
    new = {route for _, route, _ in after} - before
    # The 100 paths no route matches add one label between them; the rest add their route's template, once.
    templates = {"/oauth/{provider_name}/start", "/meta/data-deletion/{code}"}
    assert new == {"unmatched", *templates}, f"200 unknown paths added {len(new)} labels, e.g. {sorted(new)[:5]}"
    assert after.get(("GET", "unmatched", "404")) == 100.0, "paths no route matches are all counted as 'unmatched'"
    for template in templates:
        assert after.get(("GET", template, "404")) == 50.0, f"{template} counts its 50 requests: {sorted(after)}"


async def test_known_routes_are_labelled_by_their_template_never_by_raw_ids(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    viewer = await factories.person(runtime, venue_id=await factories.venue(runtime), role=Role.viewer)
    for post_id in (12345, 67890):
        r = await client.get(f"/api/posts/{post_id}", headers=viewer.headers)
        assert r.status_code == 404, r.text
    assert (await client.post("/healthz")).status_code == 405
    assert (await client.request("BREW", "/healthz")).status_code == 405

    labels = await route_labels(client)

    assert labels.get(("GET", "/api/posts/{post_id}", "404")) == 2.0, f"by template: {sorted(labels)}"
    assert not [key for key in labels if "12345" in key[1] or "67890" in key[1]], "a raw id must never be a label"
    assert labels.get(("POST", "unmatched", "405")) == 1.0, f"a method no route has is unmatched: {sorted(labels)}"
    assert labels.get(("other", "unmatched", "405")) == 1.0, f"an invented method is not a label: {sorted(labels)}"
