"""A provider that fails while a route waits on it answers in the provider's plain words, never "internal error"."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from core.runtime import Runtime
from core.settings import Settings
from sandbox.server import free_port
from storage.models import Role
from tests import factories
from tests.conftest import make_settings


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # Nothing listens on a free loopback port: Facebook is unreachable, without touching the real network.
    return make_settings(database_url, tmp_path, cheers_graph_url=f"http://127.0.0.1:{free_port('127.0.0.1')}")


async def test_diagnose_while_facebook_is_unreachable_says_so_and_when_to_retry(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    venue = await factories.venue(runtime)
    editor = await factories.person(runtime, venue_id=venue, role=Role.editor)
    connection_id = await factories.connection(runtime, venue, access_token="page-token")

    r = await client.post(f"/api/connections/{connection_id}/diagnose", headers=editor.headers)

    assert r.status_code == 503, f"expected 503, got {r.status_code}: {r.text[:300]}"
    problem = r.json()
    assert "Could not reach Facebook" in problem["detail"], problem
    assert problem["type"].endswith("/provider_unavailable"), problem
    assert "something went wrong on our side" not in r.text, r.text[:300]
    assert int(r.headers["Retry-After"]) > 0
