from __future__ import annotations

import httpx

from core.runtime import Runtime
from storage.models import Role
from tests import factories


async def test_member_sees_own_venue_and_not_another(runtime: Runtime, client: httpx.AsyncClient) -> None:
    mine = await factories.venue(runtime)
    other = await factories.venue(runtime)
    me = await factories.person(runtime, venue_id=mine, role=Role.editor)
    r = await client.get(f"/api/accounts/{mine}", headers=me.headers)
    assert r.status_code == 200, r.text
    r = await client.get(f"/api/accounts/{other}", headers=me.headers)
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
