"""`GET /media/{token}`: streams the blob to a link holder; 403 altered, 410 expired, 404 gone."""

from __future__ import annotations

import os
from datetime import timedelta

import httpx

from core.clock import FrozenClock
from core.media.urls import sign_media_url
from core.runtime import Runtime
from storage.blobs import MIB


async def test_valid_link_streams_the_blob(client: httpx.AsyncClient, runtime: Runtime) -> None:
    data = os.urandom(2 * MIB + 123)  # more than one read chunk
    stored = await runtime.blobs.put_bytes(None, data, content_type="image/jpeg")
    url = sign_media_url(runtime.settings, runtime.clock, stored.key)

    response = await client.get(url)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["content-length"] == str(len(data))
    assert response.headers["cache-control"] == "private, max-age=300"
    assert response.headers["x-content-type-options"] == "nosniff"

    head = await client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(data))
    assert head.headers["content-type"] == "image/jpeg"


async def test_expired_altered_and_gone_links(client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock) -> None:
    one = await runtime.blobs.put_bytes("venues/1/a.jpg", b"venue one", content_type="image/jpeg")
    two = await runtime.blobs.put_bytes("venues/2/b.jpg", b"venue two", content_type="image/jpeg")
    url = sign_media_url(runtime.settings, clock, one.key, expires_in=timedelta(minutes=5))
    other = sign_media_url(runtime.settings, clock, two.key)

    tampered = await client.get(url[:-2] + ("xx" if not url.endswith("xx") else "yy"))
    assert tampered.status_code == 403
    assert tampered.headers["content-type"] == "application/problem+json"
    assert "not valid" in tampered.json()["detail"]
    # Venue two's key under venue one's signature.
    swapped = other.rsplit(".", 1)[0] + "." + url.rsplit(".", 1)[1]
    assert (await client.get(swapped)).status_code == 403
    assert (await client.head(swapped)).status_code == 403

    clock.advance(minutes=5)
    expired = await client.get(url)
    assert expired.status_code == 410
    assert expired.json()["detail"] == "this media link has expired"
    assert (await client.head(url)).status_code == 410

    await runtime.blobs.delete(two.key)
    gone = await client.get(other)
    assert gone.status_code == 404
    assert gone.json()["detail"] == "this media file no longer exists"
