"""A local S3-compatible server (moto's server mode) and stores to test against."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from moto.server import ThreadedMotoServer

from storage.blobs import MIB
from storage.blobs_local import LocalBlobStore
from storage.blobs_s3 import MIN_PART_SIZE, S3BlobStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ACCESS_KEY = "cheers-test-access"
SECRET_KEY = "cheers-test-secret"
REGION = "us-east-1"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a free loopback port, shared by the session (starting it takes a moment)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def boto_session() -> boto3.session.Session:
    """One boto3 session: loading S3's service model once saves a tenth of a second per store."""
    return boto3.session.Session()


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str, boto_session: boto3.session.Session) -> S3Client:
    """A plain boto3 client, to look behind the store's back (parts, pending uploads)."""
    return boto_session.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )


@pytest.fixture
def s3_bucket(s3_client: S3Client) -> str:
    name = f"cheers-media-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_store(s3_endpoint: str, s3_bucket: str, boto_session: boto3.session.Session) -> S3BlobStore:
    # The smallest part S3 allows, so a few megabytes already exercise multipart uploads.
    return S3BlobStore(
        endpoint_url=s3_endpoint,
        bucket=s3_bucket,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        region=REGION,
        part_size=MIN_PART_SIZE,
        session=boto_session,
    )


@pytest.fixture
def local_store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "media")


class Source:
    """An upload stream of random chunks that records how far it was read."""

    def __init__(self, count: int, size: int = MIB, *, fail_after: int | None = None) -> None:
        self.parts = [os.urandom(size) for _ in range(count)]
        self.fail_after = fail_after
        self.sent = 0

    @property
    def data(self) -> bytes:
        return b"".join(self.parts)

    async def stream(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            if self.fail_after is not None and self.sent >= self.fail_after:
                raise ConnectionResetError("client went away")
            self.sent += 1
            yield part
