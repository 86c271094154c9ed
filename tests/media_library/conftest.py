"""Media library fixtures: a recording queue (tests run the job themselves), one shared image process
pool, runtimes with other settings, and a venue with an editor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.clock import FrozenClock
from core.media.imaging.derive import make_image_pool
from core.media.jobs import TASK_NAME
from core.runtime import Runtime, build_runtime
from storage.models import Role
from tests import factories
from tests.conftest import make_settings
from tests.media.images import encode, photo_like


class RecordingQueue:
    """A JobQueue that only records: each test decides when the derivatives job runs."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def enqueue(self, task_name: str, **kwargs: object) -> None:
        self.sent.append((task_name, dict(kwargs)))

    async def depth(self) -> int | None:
        return len(self.sent)

    async def ping(self) -> None:
        return None

    def woken(self) -> list[int]:
        """Asset ids the media-derivatives task was sent, in order."""
        return [int(kwargs["asset_id"]) for name, kwargs in self.sent if name == TASK_NAME]


@pytest.fixture(scope="session")
def image_pool() -> Iterator[ProcessPoolExecutor]:
    pool = make_image_pool(2)
    yield pool
    pool.shutdown(cancel_futures=True)


def wire(runtime: Runtime, pool: ProcessPoolExecutor) -> RecordingQueue:
    queue = RecordingQueue()
    runtime.queue = queue
    runtime.use_image_pool(pool)
    return queue


@pytest.fixture(autouse=True)
def queue(runtime: Runtime, image_pool: ProcessPoolExecutor) -> RecordingQueue:
    """Set before the app starts, so the app uses it instead of an in-memory broker."""
    return wire(runtime, image_pool)


RuntimeFactory = Callable[..., Awaitable[tuple[Runtime, RecordingQueue]]]


@pytest.fixture
async def other_runtime(
    database_url: str, tmp_path: Path, clock: FrozenClock, image_pool: ProcessPoolExecutor
) -> AsyncIterator[RuntimeFactory]:
    """Build a runtime on the same database with other settings (a small upload limit, no ffmpeg)."""
    made: list[Runtime] = []

    async def make(**overrides: Any) -> tuple[Runtime, RecordingQueue]:
        rt = build_runtime(make_settings(database_url, tmp_path, **overrides), clock=clock)
        made.append(rt)
        return rt, wire(rt, image_pool)

    yield make
    for rt in made:
        await rt.close()


@dataclass
class Venue:
    id: int
    editor: factories.Person

    @property
    def headers(self) -> dict[str, str]:
        return {**self.editor.headers, "X-Cheers-Account": str(self.id)}


async def make_venue(runtime: Runtime, role: Role = Role.editor) -> Venue:
    venue_id = await factories.venue(runtime)
    return Venue(venue_id, await factories.person(runtime, venue_id=venue_id, role=role))


@pytest.fixture
async def venue(runtime: Runtime) -> Venue:
    return await make_venue(runtime)


@pytest.fixture(scope="session")
def photo() -> bytes:
    return encode(photo_like(1600, 1200), quality=90)


async def upload(
    client: httpx.AsyncClient,
    venue: Venue,
    data: bytes,
    *,
    filename: str = "pub.jpg",
    content_type: str = "image/jpeg",
) -> httpx.Response:
    return await client.post(
        "/api/media",
        params={"filename": filename},
        content=data,
        headers={**venue.headers, "Content-Type": content_type},
    )
