"""Signed media URLs: issued under CHEERS_PUBLIC_URL, expiring by the injected clock, refused when altered."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from api.observability import route_label
from core.clock import FrozenClock
from core.logging import redact_text
from core.media.urls import (
    MediaLinkExpired,
    MediaLinkInvalid,
    media_url_for,
    sign_media_token,
    sign_media_url,
    verify_media_token,
)
from core.settings import Settings
from storage.blobs import InvalidBlobKey
from storage.blobs_local import LocalBlobStore
from tests.conftest import make_settings


@pytest.fixture
def plain_settings(tmp_path: Path) -> Settings:
    return make_settings("sqlite+aiosqlite:///unused.db", tmp_path)  # no database is touched


def swap_payload(token: str, other: str) -> str:
    """`other`'s payload (another key) under `token`'s signature."""
    return other.rsplit(".", 1)[0] + "." + token.rsplit(".", 1)[1]


def test_round_trip_until_expiry(plain_settings: Settings, clock: FrozenClock) -> None:
    url = sign_media_url(plain_settings, clock, "sha256/ab/cd/abcd", expires_in=timedelta(minutes=10))
    assert url.startswith("http://testserver.local/media/")
    token = url.rsplit("/", 1)[1]
    assert verify_media_token(plain_settings, clock, token) == "sha256/ab/cd/abcd"
    clock.advance(minutes=9, seconds=59)
    assert verify_media_token(plain_settings, clock, token) == "sha256/ab/cd/abcd"
    clock.advance(seconds=1)
    with pytest.raises(MediaLinkExpired) as caught:
        verify_media_token(plain_settings, clock, token)
    assert caught.value.message == "this media link has expired"


def test_altered_tokens_are_refused(plain_settings: Settings, clock: FrozenClock, tmp_path: Path) -> None:
    token = sign_media_token(plain_settings, clock, "venues/1/a.jpg")
    other = sign_media_token(plain_settings, clock, "venues/2/b.jpg")
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    foreign = sign_media_token(make_settings("x", tmp_path, cheers_secret_key="another-secret-" + "y" * 32), clock, "a")
    for bad in (flipped, swap_payload(token, other), foreign, "garbage", "", "a.b.c"):
        with pytest.raises(MediaLinkInvalid):
            verify_media_token(plain_settings, clock, bad)


def test_an_altered_expiry_reads_as_tampering(plain_settings: Settings, clock: FrozenClock) -> None:
    # An old token whose payload is swapped for a later one's must not pass as "expired" either.
    old = sign_media_token(plain_settings, clock, "k", expires_in=timedelta(seconds=1))
    later = sign_media_token(plain_settings, clock, "k", expires_in=timedelta(days=9))
    clock.advance(seconds=5)
    with pytest.raises(MediaLinkInvalid):
        verify_media_token(plain_settings, clock, swap_payload(old, later))


def test_signing_refuses_bad_keys_and_lifetimes(plain_settings: Settings, clock: FrozenClock) -> None:
    with pytest.raises(InvalidBlobKey):
        sign_media_url(plain_settings, clock, "../etc/passwd")
    with pytest.raises(ValueError, match="positive"):
        sign_media_url(plain_settings, clock, "a", expires_in=timedelta(0))


async def test_local_store_gets_our_signed_url_fresh_each_time(
    plain_settings: Settings, clock: FrozenClock, tmp_path: Path
) -> None:
    store = LocalBlobStore(tmp_path / "media")
    first = await media_url_for(store, plain_settings, clock, "venues/1/a.jpg")
    clock.advance(minutes=50)
    second = await media_url_for(store, plain_settings, clock, "venues/1/a.jpg")
    assert first != second  # a retry later gets a link with a full hour ahead of it
    clock.advance(minutes=30)
    with pytest.raises(MediaLinkExpired):
        verify_media_token(plain_settings, clock, first.rsplit("/", 1)[1])
    assert verify_media_token(plain_settings, clock, second.rsplit("/", 1)[1]) == "venues/1/a.jpg"


def test_media_tokens_never_reach_logs_or_metrics(plain_settings: Settings, clock: FrozenClock) -> None:
    url = sign_media_url(plain_settings, clock, "venues/1/a.jpg")
    token = url.rsplit("/", 1)[1]
    assert token not in redact_text(f"fetching {url} failed")
    assert token not in route_label({"path": f"/media/{token}", "path_template": "/media/{token}"})
    assert redact_text("GET /api/media/12") == "GET /api/media/12"  # the library's ids stay readable
