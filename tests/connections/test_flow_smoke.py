"""The whole consent round trip through our API and the twins, once per provider."""

from __future__ import annotations

import httpx
import pytest

from core.runtime import Runtime
from storage.models import Role
from tests import factories
from tests.connections.browser import ConsentBrowser
from tests.connections.conftest import Twins


@pytest.mark.parametrize("provider", ["facebook", "instagram", "google_business"])
async def test_connect_round_trip_offers_a_choice_or_connects(
    provider: str, runtime: Runtime, client: httpx.AsyncClient, twins: Twins
) -> None:
    venue = await factories.venue(runtime)
    admin = await factories.person(runtime, venue_id=venue, role=Role.admin)
    r = await client.post(f"/api/connections/{provider}/authorize", headers=admin.headers, json={})
    assert r.status_code == 200, r.text
    async with httpx.AsyncClient() as network:
        browser = ConsentBrowser(client, network)
        page = await browser.open_link(r.json()["url"])
    assert page.status_code == 200, f"{browser.visited}\n{page.text}"
    listed = (await client.get("/api/connections", headers=admin.headers)).json()
    if provider == "instagram":
        # The default scenario links Instagram to one Page only: connected straight away.
        assert "Connected" in page.text, page.text
        assert [c["name"] for c in listed] == ["@theredlion"], listed
    else:
        assert "Choose what to connect" in page.text, page.text
        assert listed == [], "nothing is connected until the person chooses"
