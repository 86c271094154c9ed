"""Files shared between venues (identical bytes are one stored object) are reference-counted: a delete in
one venue never takes a file another venue's asset, or an upload in flight, still needs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from core.media import library
from core.media.jobs import process
from core.runtime import Runtime
from storage.blobs import STAGING_PREFIX, BlobReader, BlobStat, BlobStore, StoredBlob, one_chunk
from storage.models import MediaAsset, MediaDerivative
from storage.queries import media as media_q
from storage.uow import transaction
from tests import factories
from tests.media.images import encode, photo_like
from tests.publishing.support import owner

Hook = Callable[[], Awaitable[None]]


class HookedStore:
    """The runtime's store with a pause point after a stream is stored and after a file is deleted, so a
    test can run the other venue's work exactly there."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.after_put: Hook | None = None
        self.after_delete: Hook | None = None

    async def put_stream(
        self, key: str | None, chunks: AsyncIterator[bytes], *, max_bytes: int, content_type: str
    ) -> StoredBlob:
        stored = await self.inner.put_stream(key, chunks, max_bytes=max_bytes, content_type=content_type)
        hook, self.after_put = self.after_put, None
        if hook is not None:
            await hook()
        return stored

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)
        hook, self.after_delete = self.after_delete, None
        if hook is not None:
            await hook()

    async def put_bytes(self, key: str | None, data: bytes, *, content_type: str) -> StoredBlob:
        return await self.inner.put_bytes(key, data, content_type=content_type)

    async def open(self, key: str, *, chunk_size: int = 1024 * 1024) -> BlobReader:
        return await self.inner.open(key, chunk_size=chunk_size)

    async def get_bytes(self, key: str) -> bytes:
        return await self.inner.get_bytes(key)

    async def exists(self, key: str) -> bool:
        return await self.inner.exists(key)

    async def stat(self, key: str) -> BlobStat:
        return await self.inner.stat(key)

    async def promote(self, staging: str, key: str) -> bool:
        return await self.inner.promote(staging, key)

    async def presigned_url(self, key: str, expires_in: timedelta) -> str | None:
        return await self.inner.presigned_url(key, expires_in)


def hooked(runtime: Runtime) -> tuple[Runtime, HookedStore]:
    """A runtime on the same database and store whose store pauses where the test says."""
    store = HookedStore(runtime.blobs)
    rt = Runtime(settings=runtime.settings, db=runtime.db, clock=runtime.clock, queue=runtime.queue, _blobs=store)
    rt.use_image_pool(runtime.image_pool)
    return rt, store


async def upload(runtime: Runtime, venue_id: int, data: bytes, *, filename: str = "quiz.jpg") -> int:
    async with transaction(runtime.db) as uow:
        result = await library.upload(runtime, uow, owner(venue_id), one_chunk(data), filename=filename)
    return result.asset.id


async def delete(runtime: Runtime, venue_id: int, asset_id: int) -> None:
    async with transaction(runtime.db) as uow:
        await library.delete(runtime, uow, owner(venue_id), asset_id)


async def refs(runtime: Runtime, key: str) -> int:
    async with runtime.db.session() as session:
        return await media_q.blob_refs(session, key)


async def asset(runtime: Runtime, asset_id: int) -> MediaAsset:
    async with runtime.db.session() as session:
        found = await media_q.get_any(session, asset_id)
    assert found is not None
    return found


async def derivative_keys(runtime: Runtime, asset_id: int) -> list[str]:
    async with runtime.db.session() as session:
        rows = await session.execute(select(MediaDerivative.blob_key).where(MediaDerivative.asset_id == asset_id))
        return list(rows.scalars())


async def missing_files(runtime: Runtime) -> list[str]:
    """Every file a row names (originals and derivatives, every venue) that storage no longer has."""
    async with runtime.db.session() as session:
        keys = list((await session.execute(select(MediaAsset.blob_key))).scalars())
        keys += list((await session.execute(select(MediaDerivative.blob_key))).scalars())
    return [key for key in keys if not await runtime.blobs.exists(key)]


def staged_files(runtime: Runtime) -> list[Path]:
    staging = runtime.settings.media_root / STAGING_PREFIX
    return [p for p in staging.rglob("*") if p.is_file()] if staging.exists() else []


def tiny_photo(n: int) -> bytes:
    """Different bytes per round (a trailer after the JPEG's end), tiny so rounds stay fast."""
    return encode(photo_like(32, 32), quality=80) + n.to_bytes(4, "big")


async def test_two_venues_share_one_file_until_the_last_asset_goes(runtime: Runtime, photo: bytes) -> None:
    a, b = await factories.venue(runtime), await factories.venue(runtime)
    ours, theirs = await upload(runtime, a, photo), await upload(runtime, b, photo)
    key = (await asset(runtime, ours)).blob_key
    assert (await asset(runtime, theirs)).blob_key == key, "identical bytes are stored once"
    assert await refs(runtime, key) == 2
    assert await upload(runtime, a, photo) == ours, "the same file twice in one venue is one asset"
    assert await refs(runtime, key) == 2, "a duplicate upload takes no reference"
    assert staged_files(runtime) == [], "every staged upload was moved into place or removed"

    await delete(runtime, a, ours)
    assert await runtime.blobs.get_bytes(key) == photo, "the other venue's asset still uses the file"
    assert await refs(runtime, key) == 1

    await delete(runtime, b, theirs)
    assert not await runtime.blobs.exists(key), "the last asset using the file took it with it"
    assert await refs(runtime, key) == 0


async def test_derivatives_are_counted_kept_when_made_again_and_removed_with_their_asset(
    runtime: Runtime, photo: bytes
) -> None:
    venue = await factories.venue(runtime)
    asset_id = await upload(runtime, venue, photo)
    assert await process(runtime, asset_id) == "ready"
    keys = await derivative_keys(runtime, asset_id)
    assert keys, "a ready photo has derivatives"
    assert [await refs(runtime, k) for k in keys] == [1] * len(keys)

    # A new focal point makes every crop again under the same keys: the count moves, the files stay.
    async with transaction(runtime.db) as uow:
        await library.set_focal_point(runtime, uow, owner(venue), asset_id, x=0.1, y=0.9)
    assert await process(runtime, asset_id) == "ready"
    assert sorted(await derivative_keys(runtime, asset_id)) == sorted(keys)
    assert [await refs(runtime, k) for k in keys] == [1] * len(keys)
    assert await missing_files(runtime) == []

    original = (await asset(runtime, asset_id)).blob_key
    await delete(runtime, venue, asset_id)
    for key in [original, *keys]:
        assert not await runtime.blobs.exists(key), key
        assert await refs(runtime, key) == 0, key


async def test_a_delete_between_an_upload_storing_and_recording_the_same_bytes_keeps_the_file(
    runtime: Runtime, photo: bytes
) -> None:
    """Venue B's upload has streamed its bytes when venue A deletes its asset with the same bytes (files,
    derivatives, committed); B's asset then exists and its file (and the derivatives made from it) too."""
    a, b = await factories.venue(runtime), await factories.venue(runtime)
    theirs = await upload(runtime, a, photo)
    assert await process(runtime, theirs) == "ready"
    rt_b, store_b = hooked(runtime)

    async def venue_a_deletes() -> None:
        await delete(runtime, a, theirs)

    store_b.after_put = venue_a_deletes
    ours = await upload(rt_b, b, photo)

    assert store_b.after_put is None, "the delete ran inside the upload"
    key = (await asset(runtime, ours)).blob_key
    assert await runtime.blobs.get_bytes(key) == photo
    assert await refs(runtime, key) == 1
    assert await process(runtime, ours) == "ready", "the derivatives job finds the original"
    assert await missing_files(runtime) == []


async def waiting_on_a_lock(runtime: Runtime) -> bool | None:
    async with runtime.db.session() as session:
        result = await session.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        )
        return True if int(result.scalar_one()) else None


async def test_an_upload_waits_for_a_delete_removing_the_same_bytes_then_puts_its_copy_in_place(
    runtime: Runtime, photo: bytes
) -> None:
    """The other order: venue A's delete has removed the file but not committed when venue B's upload
    takes its reference. B waits for A's row lock, then finds the file gone and moves its own copy in."""
    a, b = await factories.venue(runtime), await factories.venue(runtime)
    theirs = await upload(runtime, a, photo)
    rt_a, store_a = hooked(runtime)
    upload_b: asyncio.Task[int] | None = None

    async def venue_b_uploads_meanwhile() -> None:
        nonlocal upload_b
        upload_b = asyncio.create_task(upload(runtime, b, photo))
        if runtime.db.dialect == "postgresql":
            await factories.eventually(lambda: waiting_on_a_lock(runtime), what="B's reference to wait for A's lock")
        else:
            # SQLite shows no lock waits: wait until B has streamed its copy; whether its write then queues
            # behind A's or follows it, the outcome checked below is the same.
            async def b_staged() -> bool | None:
                return True if staged_files(runtime) else None

            await factories.eventually(b_staged, what="B's upload to be staged")

    store_a.after_delete = venue_b_uploads_meanwhile
    await delete(rt_a, a, theirs)
    assert upload_b is not None, "A's delete removed the file"
    ours = await asyncio.wait_for(upload_b, timeout=30)

    key = (await asset(runtime, ours)).blob_key
    assert await runtime.blobs.get_bytes(key) == photo
    assert await refs(runtime, key) == 1
    assert await missing_files(runtime) == []


async def test_many_deletes_racing_uploads_of_the_same_bytes_never_lose_a_file(runtime: Runtime) -> None:
    """Round after round, venue A deletes an asset while venue B uploads the same bytes, concurrently on
    PostgreSQL; every asset left (B's) still has its file."""
    if runtime.db.dialect != "postgresql":
        pytest.skip("concurrent writers: PostgreSQL (SQLite serialises them)")
    a, b = await factories.venue(runtime), await factories.venue(runtime)
    rounds = 30
    for n in range(rounds):
        data = tiny_photo(n)
        theirs = await upload(runtime, a, data)
        _, ours = await asyncio.gather(delete(runtime, a, theirs), upload(runtime, b, data))
        assert await runtime.blobs.get_bytes((await asset(runtime, ours)).blob_key) == data, f"round {n}"
    assert await missing_files(runtime) == []
    assert staged_files(runtime) == []
    async with runtime.db.session() as session:
        assert len((await session.execute(select(MediaAsset.id))).all()) == rounds
