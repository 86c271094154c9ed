"""`S3BlobStore`: blobs in an S3-compatible bucket, for deployments with workers on several machines.

boto3 runs in worker threads (`asyncio.to_thread`): see docs/libraries.md for why not aioboto3.
Streams go up as multipart uploads of `part_size` parts, so memory stays at about two parts
(one filling, one uploading) whatever the file's size; a stream that passes its limit aborts the
upload at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
import structlog
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from storage.blobs import (
    CONTENT_PREFIX,
    DEFAULT_CONTENT_TYPE,
    MIB,
    BlobNotFound,
    BlobStat,
    BlobStoreUnavailable,
    BlobTooLarge,
    StoredBlob,
    ThreadedReader,
    content_key,
    one_chunk,
    validate_key,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

log = structlog.get_logger(__name__)
T = TypeVar("T")

MIN_PART_SIZE = 5 * MIB  # S3's floor for every part but the last
DEFAULT_PART_SIZE = 8 * MIB
INCOMING_PREFIX = "incoming"  # content-addressed multipart uploads land here until their hash is known
SHA256_META = "sha256"
_MISSING = {"NoSuchKey", "404", "NotFound", "NoSuchVersion"}


class S3BlobStore:
    """One bucket of an S3-compatible store (AWS, MinIO, R2, moto in tests)."""

    def __init__(
        self,
        *,
        endpoint_url: str | None,
        bucket: str,
        access_key: str = "",
        secret_key: str = "",
        region: str = "us-east-1",
        part_size: int = DEFAULT_PART_SIZE,
        session: boto3.session.Session | None = None,
    ) -> None:
        """`session` lets several stores share boto3's loaded service models (tests build many)."""
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum part)")
        self.bucket = bucket
        self.part_size = part_size
        config = Config(
            signature_version="s3v4",
            # Non-AWS endpoints (MinIO, moto, a bare IP) rarely resolve bucket subdomains.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            retries={"max_attempts": 4, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
            max_pool_connections=20,
        )
        # Empty keys fall through to boto3's own chain (instance role, AWS_* variables, profiles).
        self._client: S3Client = (session or boto3.session.Session()).client(
            "s3",
            endpoint_url=endpoint_url or None,
            aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None,
            region_name=region or None,
            config=config,
        )

    def __repr__(self) -> str:
        return f"S3BlobStore(bucket={self.bucket!r})"  # never the credentials

    async def _call(self, fn: Callable[..., T], /, *args: Any, key: str | None = None, **kwargs: Any) -> T:
        """Run a boto3 call in a thread; a missing object becomes BlobNotFound, other failures
        BlobStoreUnavailable with the store's error code (never the request, which is signed)."""
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "unknown"))
            if key is not None and code in _MISSING:
                raise BlobNotFound(key) from None
            raise BlobStoreUnavailable(f"the object store refused the request ({code})") from exc
        except BotoCoreError as exc:
            raise BlobStoreUnavailable(f"the object store is unreachable ({exc.__class__.__name__})") from exc

    async def put_stream(
        self, key: str | None, chunks: AsyncIterator[bytes], *, max_bytes: int, content_type: str
    ) -> StoredBlob:
        if key is not None:
            validate_key(key)
        content_type = content_type or DEFAULT_CONTENT_TYPE
        hasher = hashlib.sha256()
        size = 0
        buffer = bytearray()
        upload_key = key or f"{INCOMING_PREFIX}/{uuid.uuid4().hex}"
        upload_id: str | None = None
        parts: list[CompletedPartTypeDef] = []
        in_flight: asyncio.Task[CompletedPartTypeDef] | None = None
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise BlobTooLarge(max_bytes)
                hasher.update(chunk)
                buffer += chunk
                while len(buffer) >= self.part_size:
                    if upload_id is None:
                        created = await self._call(
                            self._client.create_multipart_upload,
                            Bucket=self.bucket,
                            Key=upload_key,
                            ContentType=content_type,
                        )
                        upload_id = created["UploadId"]
                    body = bytes(buffer[: self.part_size])
                    del buffer[: self.part_size]
                    # One part uploads while the next is read, so the network and the client overlap.
                    if in_flight is not None:
                        parts.append(await in_flight)
                    number = len(parts) + 1
                    in_flight = asyncio.ensure_future(self._upload_part(upload_key, upload_id, number, body))
            digest = hasher.hexdigest()
            if upload_id is None:
                # It all fit in one part: one PUT, straight to the content address when there is one.
                target = key if key is not None else content_key(digest)
                return await self._put_small(target, bytes(buffer), content_type, digest)
            if in_flight is not None:
                parts.append(await in_flight)
                in_flight = None
            if buffer:
                parts.append(await self._upload_part(upload_key, upload_id, len(parts) + 1, bytes(buffer)))
            await self._call(
                self._client.complete_multipart_upload,
                Bucket=self.bucket,
                Key=upload_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
            upload_id = None
        except BaseException:
            await self._abandon(in_flight, upload_key, upload_id)
            raise
        if key is None:
            return await self._settle_content(upload_key, size, content_type, digest)
        return StoredBlob(key=key, size=size, sha256=digest)

    async def _upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> CompletedPartTypeDef:
        response = await self._call(
            self._client.upload_part, Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        return {"ETag": response["ETag"], "PartNumber": number}

    async def _abandon(
        self, in_flight: asyncio.Task[CompletedPartTypeDef] | None, key: str, upload_id: str | None
    ) -> None:
        """Abort the multipart upload so the store frees its parts (and bills none)."""
        if in_flight is not None:
            with contextlib.suppress(Exception):
                await in_flight
        if upload_id is None:
            return
        try:
            await self._call(self._client.abort_multipart_upload, Bucket=self.bucket, Key=key, UploadId=upload_id)
        except BlobStoreUnavailable as exc:
            # A bucket lifecycle rule for incomplete uploads is the backstop (see docs/operations.md).
            log.warning("blob_multipart_abort_failed", bucket=self.bucket, error=exc.message)

    async def _put_small(self, key: str, body: bytes, content_type: str, digest: str) -> StoredBlob:
        if not (key.startswith(CONTENT_PREFIX + "/") and await self.exists(key)):
            await self._call(
                self._client.put_object,
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                Metadata={SHA256_META: digest},
            )
        return StoredBlob(key=key, size=len(body), sha256=digest)

    async def _settle_content(self, incoming: str, size: int, content_type: str, digest: str) -> StoredBlob:
        """Move a finished upload to its content address (server-side copy), unless already there."""
        final = content_key(digest)
        try:
            if not await self.exists(final):
                await self._call(
                    self._client.copy,
                    {"Bucket": self.bucket, "Key": incoming},
                    self.bucket,
                    final,
                    ExtraArgs={
                        "ContentType": content_type,
                        "Metadata": {SHA256_META: digest},
                        "MetadataDirective": "REPLACE",
                    },
                )
        finally:
            await self.delete(incoming)
        return StoredBlob(key=final, size=size, sha256=digest)

    async def put_bytes(self, key: str | None, data: bytes, *, content_type: str) -> StoredBlob:
        return await self.put_stream(key, one_chunk(data), max_bytes=len(data), content_type=content_type)

    async def open(self, key: str, *, chunk_size: int = MIB) -> ThreadedReader:
        validate_key(key)
        response = await self._call(self._client.get_object, Bucket=self.bucket, Key=key, key=key)
        stat = BlobStat(
            key=key,
            size=response["ContentLength"],
            content_type=response.get("ContentType") or DEFAULT_CONTENT_TYPE,
            sha256=response.get("Metadata", {}).get(SHA256_META),
        )
        return ThreadedReader(response["Body"], stat, chunk_size)

    async def get_bytes(self, key: str) -> bytes:
        reader = await self.open(key)
        return b"".join([chunk async for chunk in reader])

    async def exists(self, key: str) -> bool:
        try:
            await self.stat(key)
        except BlobNotFound:
            return False
        return True

    async def stat(self, key: str) -> BlobStat:
        validate_key(key)
        response = await self._call(self._client.head_object, Bucket=self.bucket, Key=key, key=key)
        return BlobStat(
            key=key,
            size=response["ContentLength"],
            content_type=response.get("ContentType") or DEFAULT_CONTENT_TYPE,
            sha256=response.get("Metadata", {}).get(SHA256_META),
        )

    async def delete(self, key: str) -> None:
        validate_key(key)
        await self._call(self._client.delete_object, Bucket=self.bucket, Key=key, key=key)

    async def promote(self, staging: str, key: str) -> bool:
        validate_key(key)
        try:
            if await self.exists(key):
                return False
            source = await self.stat(staging)
            # A multipart staging object has no digest recorded; a content address names its own.
            content = key.startswith(CONTENT_PREFIX + "/")
            digest = source.sha256 or (key.rsplit("/", 1)[-1] if content else None)
            # S3 has no rename: a server-side copy (no bytes through us), then the staging object goes.
            await self._call(
                self._client.copy,
                {"Bucket": self.bucket, "Key": staging},
                self.bucket,
                key,
                ExtraArgs={
                    "ContentType": source.content_type,
                    "Metadata": {SHA256_META: digest} if digest else {},
                    "MetadataDirective": "REPLACE",
                },
            )
            return True
        finally:
            await self.delete(staging)

    async def presigned_url(self, key: str, expires_in: timedelta) -> str | None:
        validate_key(key)
        # Signing is local computation (no request), so no thread hop is needed.
        return self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=max(1, int(expires_in.total_seconds())),
        )
