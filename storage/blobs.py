"""Blob storage behind one small interface: the local filesystem by default, S3-compatible for fleets.

Keys are `/`-separated paths of plain segments. `put_stream(None, ...)` stores under the content
address `sha256/ab/cd/<hash>`, so identical uploads land on one object and the library can
deduplicate by the hash every put returns (computed while streaming, never by a second read).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable

MIB = 1024 * 1024
DEFAULT_CONTENT_TYPE = "application/octet-stream"
MAX_KEY_LENGTH = 512
CONTENT_PREFIX = "sha256"
# Uploads land here first and are promoted to their content address once their reference is taken.
STAGING_PREFIX = "staging"
# A segment starts with a letter, digit or underscore: that rules out `..`, hidden files and the
# stores' own bookkeeping folders (`.tmp`, `.meta`), and keeps keys portable to every S3 flavour.
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._=-]{0,199}$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class BlobError(Exception):
    """A storage failure with a plain `message` fit to show a person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BlobTooLarge(BlobError):
    """The upload passed `limit` bytes; nothing was stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than the {human_size(limit)} limit; nothing was stored")
        self.limit = limit


class BlobNotFound(BlobError):
    """No blob is stored under the key (never stored, or deleted)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no stored file under '{key}'")
        self.key = key


class InvalidBlobKey(BlobError, ValueError):
    """The key is not a plain relative path (absolute, `..`, empty segments, odd characters)."""


class BlobStoreUnavailable(BlobError):
    """The store itself failed (object store unreachable, refused, out of space): worth a retry."""


@dataclass(frozen=True)
class StoredBlob:
    """What a put stored: where, how many bytes, and the SHA-256 of exactly those bytes."""

    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class BlobStat:
    """A stored blob's size and type; `sha256` when the store recorded it."""

    key: str
    size: int
    content_type: str
    sha256: str | None


class BlobReader(Protocol):
    """An opened blob: its stat, then its bytes in chunks; `aclose` releases it early."""

    stat: BlobStat

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class BlockingBody(Protocol):
    """A blocking byte source: an open file, or an S3 response body."""

    def read(self, size: int = ..., /) -> bytes: ...

    def close(self) -> None: ...


class ThreadedReader:
    """A blocking body streamed in chunks read in a worker thread, never on the event loop."""

    def __init__(self, body: BlockingBody, stat: BlobStat, chunk_size: int) -> None:
        self.stat = stat
        self._body = body
        self._chunk_size = chunk_size

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            while chunk := await asyncio.to_thread(self._body.read, self._chunk_size):
                yield chunk
        finally:
            self._body.close()

    async def aclose(self) -> None:
        self._body.close()


class BlobStore(Protocol):
    """Where media bytes live. Every method is safe to call from the event loop."""

    async def put_stream(
        self, key: str | None, chunks: AsyncIterator[bytes], *, max_bytes: int, content_type: str
    ) -> StoredBlob:
        """Store the chunks under `key` (or their content address when None), all or nothing.

        Raises BlobTooLarge as soon as more than `max_bytes` arrive, leaving nothing behind.
        """
        ...

    async def put_bytes(self, key: str | None, data: bytes, *, content_type: str) -> StoredBlob: ...

    async def open(self, key: str, *, chunk_size: int = MIB) -> BlobReader:
        """Open for streaming; raises BlobNotFound now, not on the first chunk."""
        ...

    async def get_bytes(self, key: str) -> bytes: ...

    async def exists(self, key: str) -> bool: ...

    async def stat(self, key: str) -> BlobStat: ...

    async def delete(self, key: str) -> None:
        """Remove the blob; deleting a missing key is not an error."""
        ...

    async def promote(self, staging: str, key: str) -> bool:
        """Move the blob at `staging` to `key` unless `key` already holds one; `staging` is gone either way.

        True when it moved. Callers hold the key's reference row lock (core.media.stored), so no delete of
        `key` can run between the check and the move.
        """
        ...

    async def presigned_url(self, key: str, expires_in: timedelta) -> str | None:
        """A URL anyone can GET until it expires, or None when the store cannot presign."""
        ...


class BlobSettings(Protocol):
    """The settings the factory reads (core.settings.Settings has them; storage stays below core)."""

    @property
    def media_root(self) -> Path: ...

    @property
    def cheers_s3_endpoint_url(self) -> str | None: ...

    @property
    def cheers_s3_bucket(self) -> str: ...

    @property
    def cheers_s3_access_key(self) -> str: ...

    @property
    def cheers_s3_secret_key(self) -> str: ...

    @property
    def cheers_s3_region(self) -> str: ...


def build_blob_store(settings: BlobSettings) -> BlobStore:
    """The S3-compatible store when a bucket is configured, else the local filesystem store."""
    if settings.cheers_s3_bucket:
        from storage.blobs_s3 import S3BlobStore  # boto3 is slow to import; only S3 deployments pay

        return S3BlobStore(
            endpoint_url=settings.cheers_s3_endpoint_url,
            bucket=settings.cheers_s3_bucket,
            access_key=settings.cheers_s3_access_key,
            secret_key=settings.cheers_s3_secret_key,
            region=settings.cheers_s3_region,
        )
    from storage.blobs_local import LocalBlobStore

    return LocalBlobStore(settings.media_root)


def validate_key(key: str) -> str:
    """Return `key` when it is a safe relative path; raise InvalidBlobKey saying why otherwise."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidBlobKey(f"a storage key must be 1 to {MAX_KEY_LENGTH} characters")
    if key.startswith("/") or "\\" in key or re.match(r"^[A-Za-z]:", key):
        raise InvalidBlobKey("a storage key must be a relative path (no leading '/', drive or backslash)")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidBlobKey("a storage key may not contain empty, '.' or '..' segments")
        if not _SEGMENT.match(segment):
            raise InvalidBlobKey(
                "each part of a storage key must start with a letter, digit or '_' and use only "
                "letters, digits, '.', '_', '=' and '-'"
            )
    return key


def content_key(sha256_hex: str) -> str:
    """The content address of a SHA-256 digest: `sha256/ab/cd/<hash>` (fan-out keeps folders small)."""
    if not _SHA256_HEX.match(sha256_hex):
        raise InvalidBlobKey("a content key needs a lowercase hex SHA-256 digest")
    return f"{CONTENT_PREFIX}/{sha256_hex[:2]}/{sha256_hex[2:4]}/{sha256_hex}"


def staging_key() -> str:
    """A fresh key under `staging/` for one upload (promoted, or deleted, once it is stored)."""
    return f"{STAGING_PREFIX}/{uuid.uuid4().hex}"


def human_size(n: int) -> str:
    """`200 MB` for whole mebibytes (how the limit is configured), else bytes."""
    if n >= MIB and n % MIB == 0:
        return f"{n // MIB} MB"
    if n >= MIB:
        return f"{n / MIB:.1f} MB"
    return f"{n} bytes"


async def one_chunk(data: bytes) -> AsyncIterator[bytes]:
    """`data` as a one-chunk stream (put_bytes goes through the same all-or-nothing path)."""
    yield data
