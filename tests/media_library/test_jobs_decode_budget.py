"""Concurrent image decodes share a pixel budget (CHEERS_MEDIA_DECODE_PIXEL_BUDGET), so several large photos
arriving together can't add up past a worker's memory; none is refused or left waiting for ever."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any, ParamSpec, TypeVar

import pytest

from core.media import library
from core.media.jobs import process
from storage.blobs import one_chunk
from storage.uow import transaction
from tests import factories
from tests.media_library.conftest import RuntimeFactory
from tests.publishing.support import owner

P = ParamSpec("P")
T = TypeVar("T")
PHOTO_PIXELS = 1600 * 1200  # the `photo` fixture


class CountingExecutor(Executor):
    """The shared image pool, counting the decodes handed to it and not yet finished."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.in_flight = 0
        self.most = 0
        self._lock = threading.Lock()

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        with self._lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        future = self.inner.submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _: Future[Any]) -> None:
        with self._lock:
            self.in_flight -= 1


@pytest.mark.parametrize(("budget", "most"), [(1_000_000, 1), (4_000_000, 2)])
async def test_three_large_photos_decode_within_the_budget_and_all_get_ready(
    other_runtime: RuntimeFactory, image_pool: ProcessPoolExecutor, photo: bytes, budget: int, most: int
) -> None:
    """Budget under one photo: each still runs, alone. Budget of two: never three at once."""
    rt, _ = await other_runtime(cheers_media_decode_pixel_budget=budget)
    pool = CountingExecutor(image_pool)
    rt.use_image_pool(pool)
    venue = await factories.venue(rt)
    ids = []
    for n in range(3):
        async with transaction(rt.db) as uow:
            data = photo + n.to_bytes(2, "big")  # different files, the same picture
            ids.append((await library.upload(rt, uow, owner(venue), one_chunk(data), filename=f"{n}.jpg")).asset.id)

    statuses = await asyncio.wait_for(asyncio.gather(*(process(rt, i) for i in ids)), timeout=120)

    assert statuses == ["ready"] * 3
    assert 1 <= pool.most <= most, f"{pool.most} decodes of {PHOTO_PIXELS} pixels ran at once under {budget}"
    assert (rt.decode_budget.in_use, rt.decode_budget.running) == (0, 0)
