"""Signed, expiring media URLs that providers fetch (Instagram and Business Profile take only URLs).

Issue one right before each provider call and never store it: a delayed fetch or a retry then
always meets a fresh link. The token carries the blob key and the expiry, signed with
CHEERS_SECRET_KEY; it grants reading that one blob until then, and nothing else.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from core.clock import Clock
from core.errors import DomainError, PermissionDenied
from core.settings import Settings
from storage.blobs import BlobStore, InvalidBlobKey, validate_key

MEDIA_URL_SALT = "cheers.media-url"
MEDIA_PATH = "/media/"
DEFAULT_EXPIRES_IN = timedelta(hours=1)


class MediaLinkInvalid(PermissionDenied):
    """The token was altered, signed with another key, or is not a media token at all."""

    code = "media_link_invalid"


class MediaLinkExpired(DomainError):
    """The token was genuine but its time is up."""

    code = "media_link_expired"


def _serializer(settings: Settings) -> URLSafeSerializer:
    # Our own expiry field rather than itsdangerous' timed variant: that one reads the wall clock,
    # and expiry must follow the injected clock (tests advance it; every process agrees on it).
    return URLSafeSerializer(settings.cheers_secret_key, salt=MEDIA_URL_SALT)


def sign_media_token(settings: Settings, clock: Clock, key: str, *, expires_in: timedelta = DEFAULT_EXPIRES_IN) -> str:
    """A token granting a GET of `key` until now + `expires_in`."""
    if expires_in <= timedelta(0):
        raise ValueError("expires_in must be positive")
    expires_at = int((clock.now() + expires_in).timestamp())
    return _serializer(settings).dumps({"k": validate_key(key), "e": expires_at})


def sign_media_url(settings: Settings, clock: Clock, key: str, *, expires_in: timedelta = DEFAULT_EXPIRES_IN) -> str:
    """`<CHEERS_PUBLIC_URL>/media/<token>`: served by api/routes/media_files.py until it expires."""
    return settings.cheers_public_url + MEDIA_PATH + sign_media_token(settings, clock, key, expires_in=expires_in)


def verify_media_token(settings: Settings, clock: Clock, token: str) -> str:
    """The blob key the token grants; MediaLinkInvalid when tampered, MediaLinkExpired when late.

    The signature is checked first, so an altered expiry reads as tampering, never as expiry.
    """
    try:
        payload: Any = _serializer(settings).loads(token)
    except BadSignature:
        raise MediaLinkInvalid(
            "this media link is not valid; it was changed or was not issued by this service"
        ) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("k"), str) or not isinstance(payload.get("e"), int):
        raise MediaLinkInvalid("this media link is not valid")
    try:
        key = validate_key(payload["k"])
    except InvalidBlobKey:
        raise MediaLinkInvalid("this media link is not valid") from None
    if clock.now().timestamp() >= payload["e"]:
        raise MediaLinkExpired(
            "this media link has expired",
            remedy="media links last a short while; ask the service for a fresh one",
        )
    return key


async def media_url_for(
    store: BlobStore,
    settings: Settings,
    clock: Clock,
    key: str,
    *,
    expires_in: timedelta = DEFAULT_EXPIRES_IN,
) -> str:
    """The URL a provider should fetch `key` from: the store's presigned URL when it can make one
    (the bytes then skip our web tier), else our own signed URL. Call it fresh for every use."""
    presigned = await store.presigned_url(key, expires_in)
    return presigned or sign_media_url(settings, clock, key, expires_in=expires_in)
