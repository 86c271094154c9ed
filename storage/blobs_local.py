"""`LocalBlobStore`: blobs as files under one root, written atomically (temp file, fsync, rename)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, TypeVar

from storage.blobs import (
    CONTENT_PREFIX,
    DEFAULT_CONTENT_TYPE,
    MIB,
    BlobNotFound,
    BlobStat,
    BlobStoreUnavailable,
    BlobTooLarge,
    InvalidBlobKey,
    StoredBlob,
    ThreadedReader,
    content_key,
    one_chunk,
    validate_key,
)

TMP_DIR = ".tmp"
META_DIR = ".meta"
# Hopping to a thread per network chunk (often 64 KiB) costs more than the write; batch to 1 MiB.
WRITE_BATCH = MIB
T = TypeVar("T")


class LocalBlobStore:
    """Files under `root`; keys map to relative paths, metadata lives beside them under `.meta/`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def path_for(self, key: str) -> Path:
        """The file for `key`; refuses keys that would resolve outside the root (symlinks included)."""
        path = (self.root / validate_key(key)).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise InvalidBlobKey("a storage key must stay inside the media root")
        return path

    def _meta_path(self, key: str) -> Path:
        return self.root / META_DIR / f"{validate_key(key)}.json"

    async def put_stream(
        self, key: str | None, chunks: AsyncIterator[bytes], *, max_bytes: int, content_type: str
    ) -> StoredBlob:
        final = self.path_for(key) if key is not None else None  # refuse a bad key before reading a byte
        tmp_dir = self.root / TMP_DIR
        tmp = tmp_dir / uuid.uuid4().hex
        hasher = hashlib.sha256()
        size = 0
        try:
            await _fs(tmp_dir.mkdir, parents=True, exist_ok=True)
            handle = await _fs(tmp.open, "xb")
            try:
                pending = bytearray()
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise BlobTooLarge(max_bytes)
                    hasher.update(chunk)
                    pending += chunk
                    if len(pending) >= WRITE_BATCH:
                        await _fs(handle.write, bytes(pending))
                        pending.clear()
                await _fs(_flush_and_sync, handle, bytes(pending))
            finally:
                await asyncio.to_thread(handle.close)
            digest = hasher.hexdigest()
            stored_key = key if key is not None else content_key(digest)
            meta = {"content_type": content_type or DEFAULT_CONTENT_TYPE, "sha256": digest, "size": size}
            await _fs(self._commit, tmp, final or self.path_for(stored_key), stored_key, meta)
            return StoredBlob(key=stored_key, size=size, sha256=digest)
        finally:
            # Whatever happened (limit passed, client gone, task cancelled), no partial file stays;
            # a failing clean-up must not hide the error that brought us here.
            with contextlib.suppress(OSError):
                tmp.unlink()

    def _commit(self, tmp: Path, final: Path, key: str, meta: dict[str, object]) -> None:
        """Metadata first, then the data by rename: readers see the whole new file or the old one."""
        if key.startswith(CONTENT_PREFIX + "/") and final.exists():
            return  # same content already stored; the temp file is dropped by the caller
        meta_path = self._meta_path(key)
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        meta_tmp = meta_path.with_name(f".{meta_path.name}.{uuid.uuid4().hex}")
        meta_tmp.write_text(json.dumps(meta))
        os.replace(meta_tmp, meta_path)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)

    async def put_bytes(self, key: str | None, data: bytes, *, content_type: str) -> StoredBlob:
        return await self.put_stream(key, one_chunk(data), max_bytes=len(data), content_type=content_type)

    async def open(self, key: str, *, chunk_size: int = MIB) -> ThreadedReader:
        path = self.path_for(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(key) from None
        try:
            stat = await asyncio.to_thread(self._stat_open, key, handle)
        except BaseException:
            handle.close()
            raise
        return ThreadedReader(handle, stat, chunk_size)

    def _stat_open(self, key: str, handle: IO[bytes]) -> BlobStat:
        # Size from the open handle, so it matches the bytes this reader will stream.
        return self._stat_from(key, os.fstat(handle.fileno()).st_size)

    def _stat_from(self, key: str, size: int) -> BlobStat:
        try:
            meta = json.loads(self._meta_path(key).read_text())
        except (FileNotFoundError, ValueError):
            meta = {}  # a file placed by hand: still servable, typed generically
        return BlobStat(
            key=key,
            size=size,
            content_type=str(meta.get("content_type") or DEFAULT_CONTENT_TYPE),
            sha256=meta.get("sha256") if meta.get("size") == size else None,
        )

    async def get_bytes(self, key: str) -> bytes:
        path = self.path_for(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(key) from None

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path_for(key).is_file)

    async def stat(self, key: str) -> BlobStat:
        path = self.path_for(key)

        def go() -> BlobStat:
            if not path.is_file():
                raise BlobNotFound(key)
            return self._stat_from(key, path.stat().st_size)

        return await asyncio.to_thread(go)

    async def delete(self, key: str) -> None:
        path, meta_path = self.path_for(key), self._meta_path(key)

        def go() -> None:
            for p in (path, meta_path):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()

        await asyncio.to_thread(go)

    async def promote(self, staging: str, key: str) -> bool:
        source, final = self.path_for(staging), self.path_for(key)
        source_meta, final_meta = self._meta_path(staging), self._meta_path(key)

        def go() -> bool:
            if final.is_file():
                for p in (source, source_meta):
                    with contextlib.suppress(FileNotFoundError):
                        p.unlink()
                return False
            if not source.is_file():
                raise BlobNotFound(staging)
            # Metadata first, then the data by rename (as in _commit): a reader sees the whole file or none.
            final_meta.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                os.replace(source_meta, final_meta)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, final)
            return True

        return await _fs(go)

    async def presigned_url(self, key: str, expires_in: timedelta) -> str | None:
        return None  # files are served by our own signed /media/{token} route


async def _fs(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """A filesystem call off the event loop; its OSError becomes BlobStoreUnavailable (the
    upload stream's own errors, a reset connection say, pass through untouched)."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except OSError as exc:
        raise BlobStoreUnavailable(f"could not write to the media folder: {exc.strerror or exc}") from exc


def _flush_and_sync(handle: IO[bytes], tail: bytes) -> None:
    handle.write(tail)
    handle.flush()
    os.fsync(handle.fileno())
