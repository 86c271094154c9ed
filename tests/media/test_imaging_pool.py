"""derive_in_pool: the work happens in another process, results and typed errors come back intact."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from core.media.errors import MediaRejected, MediaTransient
from core.media.imaging.derive import PRESETS, derive_all, derive_in_pool, make_image_pool
from tests.media.images import encode, photo_like


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    executor = make_image_pool(1)
    yield executor
    executor.shutdown(cancel_futures=True)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "pint.jpg"
    path.write_bytes(encode(photo_like(1600, 1200), quality=90))
    return path


async def test_pool_derives_the_same_outputs_as_in_process(pool: ProcessPoolExecutor, photo: Path) -> None:
    chosen = [PRESETS["instagram_square"], PRESETS["story"]]
    remote = await derive_in_pool(pool, photo, chosen, focal_point=(0.3, 0.5))
    local = derive_all(photo, chosen, focal_point=(0.3, 0.5))
    assert remote == local


async def test_pool_returns_typed_errors(pool: ProcessPoolExecutor, tmp_path: Path) -> None:
    fake = tmp_path / "not-a-photo.jpg"
    fake.write_text("hello")
    with pytest.raises(MediaRejected) as caught:
        await derive_in_pool(pool, fake)
    assert caught.value.reason == "not_an_image"


async def test_default_executor_works_for_bytes() -> None:
    photo = encode(photo_like(1600, 1200), quality=90)
    [d] = await derive_in_pool(None, photo, [PRESETS["facebook_link"]])
    assert (d.width, d.height) == (1200, 630)


async def test_a_broken_pool_is_a_transient_failure(photo: Path) -> None:
    broken = make_image_pool(1)
    try:
        # A worker that dies (as under the OOM killer) breaks the pool for every later job.
        with pytest.raises(Exception, match="terminated abruptly"):
            broken.submit(os._exit, 1).result()
        with pytest.raises(MediaTransient) as caught:
            await derive_in_pool(broken, photo)
        assert caught.value.reason == "pool_broken"
    finally:
        broken.shutdown()


async def test_a_closed_pool_is_a_transient_failure(photo: Path) -> None:
    closed = make_image_pool(1)
    closed.shutdown()
    with pytest.raises(MediaTransient) as caught:
        await derive_in_pool(closed, photo)
    assert caught.value.reason == "pool_closed"
