"""S3BlobStore end to end against moto's S3 server: multipart streams, limits, presigned URLs."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from core.clock import FrozenClock
from core.media.urls import media_url_for
from storage.blobs import (
    MIB,
    BlobNotFound,
    BlobTooLarge,
    InvalidBlobKey,
    build_blob_store,
    content_key,
    staging_key,
)
from storage.blobs_s3 import INCOMING_PREFIX, S3BlobStore
from tests.conftest import make_settings
from tests.media_storage.conftest import ACCESS_KEY, REGION, SECRET_KEY, Source

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def pending_uploads(s3_client: S3Client, bucket: str) -> list[str]:
    return [u["Key"] for u in s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def keys_in(s3_client: S3Client, bucket: str) -> list[str]:
    return [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])]


async def test_multipart_stream_put_get_presign_delete(
    s3_store: S3BlobStore, s3_client: S3Client, s3_bucket: str
) -> None:
    src = Source(12)  # 12 MB in 1 MB chunks: three 5 MB-or-less parts
    stored = await s3_store.put_stream("venues/1/reel.mp4", src.stream(), max_bytes=20 * MIB, content_type="video/mp4")
    assert (stored.key, stored.size) == ("venues/1/reel.mp4", 12 * MIB)
    assert stored.sha256 == hashlib.sha256(src.data).hexdigest()

    head = s3_client.head_object(Bucket=s3_bucket, Key="venues/1/reel.mp4")
    assert head["ETag"].strip('"').endswith("-3")  # S3 marks multipart objects with their part count
    assert head["ContentType"] == "video/mp4"
    assert pending_uploads(s3_client, s3_bucket) == []

    stat = await s3_store.stat("venues/1/reel.mp4")
    assert (stat.size, stat.content_type) == (12 * MIB, "video/mp4")
    assert await s3_store.get_bytes("venues/1/reel.mp4") == src.data
    reader = await s3_store.open("venues/1/reel.mp4", chunk_size=4 * MIB)
    assert [len(c) async for c in reader] == [4 * MIB] * 3

    url = await s3_store.presigned_url("venues/1/reel.mp4", timedelta(minutes=10))
    assert url is not None and "X-Amz-Signature=" in url
    async with httpx.AsyncClient() as http:
        fetched = await http.get(url)
    assert fetched.status_code == 200 and fetched.content == src.data

    await s3_store.delete("venues/1/reel.mp4")
    assert not await s3_store.exists("venues/1/reel.mp4")
    with pytest.raises(BlobNotFound):
        await s3_store.stat("venues/1/reel.mp4")
    with pytest.raises(BlobNotFound):
        await s3_store.open("venues/1/reel.mp4")
    await s3_store.delete("venues/1/reel.mp4")  # deleting twice is fine


async def test_size_limit_aborts_the_multipart_upload(
    s3_store: S3BlobStore, s3_client: S3Client, s3_bucket: str
) -> None:
    src = Source(40)
    with pytest.raises(BlobTooLarge) as caught:
        await s3_store.put_stream("venues/1/huge.mp4", src.stream(), max_bytes=7 * MIB, content_type="video/mp4")
    assert "7 MB limit" in caught.value.message
    assert src.sent == 8  # stopped at the first chunk past the limit, after one part went up
    assert pending_uploads(s3_client, s3_bucket) == []
    assert keys_in(s3_client, s3_bucket) == []


async def test_failed_stream_aborts_and_leaves_nothing(
    s3_store: S3BlobStore, s3_client: S3Client, s3_bucket: str
) -> None:
    with pytest.raises(ConnectionResetError):
        await s3_store.put_stream(None, Source(12, fail_after=11).stream(), max_bytes=20 * MIB, content_type="")
    assert pending_uploads(s3_client, s3_bucket) == []
    assert keys_in(s3_client, s3_bucket) == []


async def test_content_addressed_multipart_lands_on_its_hash(
    s3_store: S3BlobStore, s3_client: S3Client, s3_bucket: str
) -> None:
    src = Source(11)
    stored = await s3_store.put_stream(None, src.stream(), max_bytes=20 * MIB, content_type="image/jpeg")
    digest = hashlib.sha256(src.data).hexdigest()
    assert stored.key == content_key(digest)
    again = await s3_store.put_stream(None, src.stream(), max_bytes=20 * MIB, content_type="image/jpeg")
    assert again == stored
    assert keys_in(s3_client, s3_bucket) == [stored.key]  # nothing left under incoming/
    stat = await s3_store.stat(stored.key)
    assert (stat.size, stat.content_type, stat.sha256) == (11 * MIB, "image/jpeg", digest)
    assert not any(k.startswith(INCOMING_PREFIX) for k in keys_in(s3_client, s3_bucket))


async def test_small_put_is_one_request_and_deduplicates(
    s3_store: S3BlobStore, s3_client: S3Client, s3_bucket: str
) -> None:
    data = b"\xff\xd8 a small jpeg"
    first = await s3_store.put_bytes(None, data, content_type="image/jpeg")
    second = await s3_store.put_bytes(None, data, content_type="image/jpeg")
    assert first == second and first.key == content_key(hashlib.sha256(data).hexdigest())
    assert not s3_client.head_object(Bucket=s3_bucket, Key=first.key)["ETag"].strip('"').count("-")
    assert (await s3_store.stat(first.key)).sha256 == first.sha256
    assert await s3_store.get_bytes(first.key) == data


async def test_media_url_prefers_the_presigned_url(s3_store: S3BlobStore, s3_endpoint: str, tmp_path: Path) -> None:
    stored = await s3_store.put_bytes("venues/2/logo.png", b"png bytes", content_type="image/png")
    settings = make_settings("sqlite+aiosqlite:///unused.db", tmp_path)
    url = await media_url_for(s3_store, settings, FrozenClock(), stored.key)
    assert url.startswith(f"{s3_endpoint}/{s3_store.bucket}/venues/2/logo.png?")
    async with httpx.AsyncClient() as http:
        fetched = await http.get(url)
    assert fetched.content == b"png bytes"
    assert fetched.headers["content-type"] == "image/png"


@pytest.mark.parametrize("key", ["../escape", "/abs", "a//b", ".tmp/x"])
async def test_s3_store_refuses_malformed_keys(s3_store: S3BlobStore, key: str) -> None:
    with pytest.raises(InvalidBlobKey):
        await s3_store.put_bytes(key, b"x", content_type="text/plain")
    with pytest.raises(InvalidBlobKey):
        await s3_store.get_bytes(key)
    with pytest.raises(InvalidBlobKey):
        await s3_store.presigned_url(key, timedelta(minutes=1))


def test_factory_builds_the_s3_store_when_a_bucket_is_set(s3_endpoint: str, tmp_path: Path) -> None:
    settings = make_settings(
        "sqlite+aiosqlite:///unused.db",
        tmp_path,
        cheers_s3_endpoint_url=s3_endpoint,
        cheers_s3_bucket="media",
        cheers_s3_access_key=ACCESS_KEY,
        cheers_s3_secret_key=SECRET_KEY,
        cheers_s3_region=REGION,
    )
    store = build_blob_store(settings)
    assert isinstance(store, S3BlobStore) and store.bucket == "media"
    assert SECRET_KEY not in repr(store) and SECRET_KEY not in repr(settings)


async def test_a_staged_multipart_upload_is_promoted_by_copy_with_its_digest(
    s3_store: S3BlobStore, s3_client: S3Client, s3_bucket: str
) -> None:
    src = Source(6)
    staged = await s3_store.put_stream(staging_key(), src.stream(), max_bytes=10 * MIB, content_type="image/jpeg")
    key = content_key(staged.sha256)
    assert await s3_store.promote(staged.key, key) is True
    assert keys_in(s3_client, s3_bucket) == [key], "the staging object is gone"
    stat = await s3_store.stat(key)
    assert (stat.size, stat.content_type, stat.sha256) == (6 * MIB, "image/jpeg", staged.sha256)

    again = await s3_store.put_bytes(staging_key(), b"other bytes", content_type="image/jpeg")
    assert await s3_store.promote(again.key, key) is False, "an object already there is kept"
    assert keys_in(s3_client, s3_bucket) == [key]
    assert await s3_store.get_bytes(key) == src.data
