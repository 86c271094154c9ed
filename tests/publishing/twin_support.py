"""End-to-end helpers: connect real twin places through the consent flow, and prepare a real photo."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import select

from core.media.jobs import process
from core.runtime import Runtime
from storage.models import Connection, MediaAsset, MediaStatus, Provider, Role
from tests import factories
from tests.connections.browser import ConsentBrowser
from tests.connections.helpers import connect
from tests.media.images import encode, photo_like


async def connected(
    runtime: Runtime,
    client: httpx.AsyncClient,
    browser: ConsentBrowser,
    provider: Provider,
    *,
    pick: list[str] | None = None,
) -> tuple[int, factories.Person, list[int]]:
    """A venue whose admin connected `provider` through the twin's consent screens: (venue, admin, connection ids)."""
    venue_id = await factories.venue(runtime)
    admin = await factories.person(runtime, venue_id=venue_id, role=Role.admin)
    await connect(client, browser, admin, provider.value, pick=pick)
    async with runtime.uow() as uow:
        rows = await uow.session.execute(
            select(Connection.id)
            .where(Connection.account_id == venue_id, Connection.provider == provider)
            .order_by(Connection.id)
        )
        return venue_id, admin, list(rows.scalars().all())


async def ready_photo(
    runtime: Runtime, client: httpx.AsyncClient, who: factories.Person, width: int = 1600, height: int = 1200
) -> int:
    """Upload a generated photo through the API and prepare its derivatives; returns the asset id."""
    runtime.use_image_pool(ThreadPoolExecutor(max_workers=1))
    r = await client.post(
        "/api/media",
        params={"filename": "quiz.jpg"},
        content=encode(photo_like(width, height), quality=85),
        headers={**who.headers, "Content-Type": "image/jpeg"},
    )
    assert r.status_code in (200, 201), r.text
    asset_id = int(r.json()["asset"]["id"])
    await process(runtime, asset_id)  # the app's in-memory broker may already be running it: wait for either

    async def ready() -> bool | None:
        async with runtime.uow() as uow:
            asset = await uow.session.get(MediaAsset, asset_id)
            return True if asset is not None and asset.status is MediaStatus.ready else None

    await factories.eventually(ready, what=f"asset {asset_id} to be ready")
    return asset_id
