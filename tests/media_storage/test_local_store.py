"""LocalBlobStore: streaming puts, reads, limits mid-stream, atomic writes, keys that escape the root."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from core.settings import Settings
from storage.blobs import (
    MIB,
    BlobNotFound,
    BlobStoreUnavailable,
    BlobTooLarge,
    InvalidBlobKey,
    build_blob_store,
    content_key,
    staging_key,
)
from storage.blobs_local import TMP_DIR, LocalBlobStore
from tests.conftest import make_settings
from tests.media_storage.conftest import Source


def leftovers(store: LocalBlobStore) -> list[Path]:
    tmp = store.root / TMP_DIR
    return list(tmp.iterdir()) if tmp.exists() else []


async def test_stream_put_get_stat_delete(local_store: LocalBlobStore) -> None:
    src = Source(3, MIB + 7)
    stored = await local_store.put_stream(
        "venues/1/photo.jpg", src.stream(), max_bytes=10 * MIB, content_type="image/jpeg"
    )
    assert stored.key == "venues/1/photo.jpg"
    assert stored.size == len(src.data)
    assert stored.sha256 == hashlib.sha256(src.data).hexdigest()

    assert await local_store.exists("venues/1/photo.jpg")
    assert await local_store.get_bytes("venues/1/photo.jpg") == src.data
    stat = await local_store.stat("venues/1/photo.jpg")
    assert (stat.size, stat.content_type, stat.sha256) == (stored.size, "image/jpeg", stored.sha256)

    reader = await local_store.open("venues/1/photo.jpg", chunk_size=MIB)
    chunks = [c async for c in reader]
    assert len(chunks) == 4 and b"".join(chunks) == src.data
    assert reader.stat.size == stored.size

    await local_store.delete("venues/1/photo.jpg")
    assert not await local_store.exists("venues/1/photo.jpg")
    with pytest.raises(BlobNotFound):
        await local_store.stat("venues/1/photo.jpg")
    with pytest.raises(BlobNotFound):
        await local_store.open("venues/1/photo.jpg")
    with pytest.raises(BlobNotFound):
        await local_store.get_bytes("venues/1/photo.jpg")
    await local_store.delete("venues/1/photo.jpg")  # deleting twice is fine
    assert leftovers(local_store) == []


async def test_content_addressed_puts_deduplicate(local_store: LocalBlobStore) -> None:
    data = os.urandom(4096)
    digest = hashlib.sha256(data).hexdigest()
    first = await local_store.put_bytes(None, data, content_type="image/png")
    second = await local_store.put_bytes(None, data, content_type="image/png")
    assert first == second
    assert first.key == f"sha256/{digest[:2]}/{digest[2:4]}/{digest}" == content_key(digest)
    assert local_store.path_for(first.key).read_bytes() == data
    assert (await local_store.stat(first.key)).content_type == "image/png"
    assert leftovers(local_store) == []


async def test_size_limit_enforced_while_streaming(local_store: LocalBlobStore) -> None:
    src = Source(50)  # 50 MB offered, 3 MB allowed
    with pytest.raises(BlobTooLarge) as caught:
        await local_store.put_stream("big.mp4", src.stream(), max_bytes=3 * MIB, content_type="video/mp4")
    assert caught.value.limit == 3 * MIB
    assert "3 MB limit" in caught.value.message
    assert src.sent == 4  # stopped reading at the first chunk past the limit, not at the end
    assert not await local_store.exists("big.mp4")
    assert leftovers(local_store) == []


async def test_exactly_the_limit_is_allowed(local_store: LocalBlobStore) -> None:
    stored = await local_store.put_stream("x", Source(2).stream(), max_bytes=2 * MIB, content_type="image/jpeg")
    assert stored.size == 2 * MIB


async def test_failed_stream_never_shows_under_the_final_key(local_store: LocalBlobStore) -> None:
    key = "venues/1/menu.jpg"
    await local_store.put_bytes(key, b"old menu", content_type="image/jpeg")
    final = local_store.path_for(key)
    seen_mid_stream: list[bytes] = []

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield os.urandom(MIB)
            await asyncio.sleep(0)
            seen_mid_stream.append(final.read_bytes())  # what a reader would see meanwhile
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await local_store.put_stream(key, stream(), max_bytes=10 * MIB, content_type="image/jpeg")
    assert seen_mid_stream == [b"old menu"] * 3
    assert await local_store.get_bytes(key) == b"old menu"
    assert leftovers(local_store) == []

    with pytest.raises(ConnectionResetError):
        await local_store.put_stream("fresh.jpg", Source(3, fail_after=2).stream(), max_bytes=10 * MIB, content_type="")
    assert not await local_store.exists("fresh.jpg")
    assert leftovers(local_store) == []


async def test_cancelled_upload_leaves_nothing(local_store: LocalBlobStore) -> None:
    started = asyncio.Event()

    async def stalled() -> AsyncIterator[bytes]:
        yield os.urandom(MIB)
        started.set()
        await asyncio.Event().wait()  # the client stops sending
        yield b""

    task = asyncio.create_task(local_store.put_stream("slow.jpg", stalled(), max_bytes=10 * MIB, content_type=""))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not await local_store.exists("slow.jpg")
    assert leftovers(local_store) == []


@pytest.mark.parametrize(
    "key",
    [
        "../escape",
        "a/../../escape",
        "/etc/passwd",
        "a//b",
        "./a",
        "a/./b",
        "",
        "C:\\evil",
        "a\\b",
        ".tmp/x",
        ".meta/x",
        "a/.hidden",
        "spa ce",
        "x" * 600,
    ],
)
async def test_keys_that_escape_or_are_malformed_are_refused(local_store: LocalBlobStore, key: str) -> None:
    with pytest.raises(InvalidBlobKey):
        await local_store.put_bytes(key, b"x", content_type="text/plain")
    for call in (local_store.get_bytes, local_store.stat, local_store.delete, local_store.exists, local_store.open):
        with pytest.raises(InvalidBlobKey):
            await call(key)
    assert not (local_store.root.parent / "escape").exists()


async def test_symlink_out_of_the_root_is_refused(local_store: LocalBlobStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not media")
    local_store.root.mkdir(parents=True, exist_ok=True)
    (local_store.root / "link").symlink_to(outside)
    with pytest.raises(InvalidBlobKey):
        await local_store.get_bytes("link/secret.txt")
    with pytest.raises(InvalidBlobKey):
        await local_store.put_bytes("link/new.txt", b"x", content_type="text/plain")
    assert not (outside / "new.txt").exists()


async def test_an_unwritable_root_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("a file where the media root should be")
    store = LocalBlobStore(tmp_path / "not-a-folder")
    with pytest.raises(BlobStoreUnavailable, match="could not write to the media folder"):
        await store.put_bytes("a.jpg", b"x", content_type="image/jpeg")


async def test_local_store_cannot_presign(local_store: LocalBlobStore) -> None:
    await local_store.put_bytes("a.jpg", b"x", content_type="image/jpeg")
    assert await local_store.presigned_url("a.jpg", timedelta(minutes=5)) is None


def test_factory_builds_the_local_store_by_default(tmp_path: Path) -> None:
    settings: Settings = make_settings("sqlite+aiosqlite:///unused.db", tmp_path)
    store = build_blob_store(settings)
    assert isinstance(store, LocalBlobStore)
    assert store.root == (tmp_path / "var" / "media").resolve()
    assert settings.media_max_upload_bytes == 200 * MIB
    custom = make_settings("sqlite+aiosqlite:///unused.db", tmp_path, cheers_media_root=tmp_path / "elsewhere")
    assert build_blob_store(custom).root == (tmp_path / "elsewhere").resolve()  # type: ignore[attr-defined]


async def test_a_staged_upload_is_promoted_only_where_nothing_is_stored(local_store: LocalBlobStore) -> None:
    data = b"\xff\xd8 staged bytes"
    key = content_key(hashlib.sha256(data).hexdigest())
    staged = await local_store.put_bytes(staging_key(), data, content_type="image/jpeg")
    assert await local_store.promote(staged.key, key) is True
    assert await local_store.get_bytes(key) == data
    assert (await local_store.stat(key)).content_type == "image/jpeg"
    assert not await local_store.exists(staged.key)

    # Already stored: the staged copy is dropped and the stored file left as it is.
    again = await local_store.put_bytes(staging_key(), data, content_type="image/jpeg")
    assert await local_store.promote(again.key, key) is False
    assert not await local_store.exists(again.key)
    assert await local_store.get_bytes(key) == data
    with pytest.raises(BlobNotFound):
        await local_store.promote(staging_key(), content_key("0" * 64))
