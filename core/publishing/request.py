"""What a provider call is made of: fresh credentials, the post as the adapter takes it, and a fingerprint of it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core.connections import lifecycle as connections
from core.runtime import Runtime
from providers.base import StoredCredentials
from providers.errors import AuthExpired, ProviderError
from providers.publishing import GoogleOptions, PublishRequest, Surface
from storage.models import Connection, Post, Provider
from storage.secrets import seal

log = structlog.get_logger(__name__)

TOKEN_REFRESH_MARGIN = timedelta(minutes=5)


async def fresh_credentials(
    runtime: Runtime, session: AsyncSession, connection: Connection, now: datetime
) -> StoredCredentials:
    """Decrypted credentials; a Google access token near its end is refreshed (and stored) first."""
    cipher = runtime.cipher()
    credentials = connections.credentials(connection, cipher)
    expiring = connection.token_expires_at is None or connection.token_expires_at < now + TOKEN_REFRESH_MARGIN
    if connection.provider is Provider.google_business and expiring and credentials.refresh_token:
        try:
            grant = await runtime.providers[connection.provider].refresh(credentials)
        except AuthExpired:
            raise
        except ProviderError as exc:
            log.warning("token_refresh_failed", connection_id=connection.id, error=type(exc).__name__)
            return credentials
        seal(connection, "access_token", grant.access_token, cipher)
        if grant.refresh_token:
            seal(connection, "refresh_token", grant.refresh_token, cipher)
        connection.token_expires_at = grant.expires_at
        credentials = replace(credentials, access_token=grant.access_token)
    return credentials


def surface_for(post: Post, provider: Provider) -> Surface:
    return surface_of(post.options, provider)


def surface_of(options: dict[str, Any], provider: Provider) -> Surface:
    """Where on the provider a post with these options goes (feed unless its options say story or reel)."""
    value = (options.get(provider.value) or {}).get("surface", "feed")
    return value if value in ("feed", "story", "reel") else "feed"


def google_options(post: Post) -> GoogleOptions:
    """The post's Business Profile options as the adapter takes them (event times parsed)."""
    raw = dict(post.options.get(Provider.google_business.value) or {})
    for key in ("event_start", "event_end"):
        if isinstance(raw.get(key), str):
            raw[key] = datetime.fromisoformat(raw[key])
    known = set(GoogleOptions.__dataclass_fields__)
    return GoogleOptions(**{k: v for k, v in raw.items() if k in known})


def payload_hash(request: PublishRequest) -> str:
    """A fingerprint of what was sent (text, link, media kinds and sizes; not the short-lived URLs)."""
    doc = {
        "text": request.text,
        "link": request.link,
        "surface": request.surface,
        "media": [(m.kind, m.width, m.height, m.byte_size) for m in request.media],
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()
