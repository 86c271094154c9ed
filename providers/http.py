"""The one shared httpx client: pooled, with separate connect and read timeouts."""

from __future__ import annotations

import httpx

# Connecting should be quick; a provider may legitimately take long to answer a publish.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0
KEEPALIVE_EXPIRY = 4.0


def build_http_client(*, read_timeout: float = READ_TIMEOUT) -> httpx.AsyncClient:
    """One per process; adapters share it so connections are pooled."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(connect=CONNECT_TIMEOUT, read=read_timeout, write=30.0, pool=10.0),
        # Keep every connection alive: under a burst, closing all but 20 meant a new TCP (and TLS) handshake per call.
        # Close an idle connection before the server would: a request written onto a connection the server is
        # closing at that instant fails with a reset after sending, which is "in doubt" for a publish. Servers
        # commonly drop idle connections after 5 s (uvicorn, the twins) or more.
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=KEEPALIVE_EXPIRY),
        headers={"User-Agent": "CheersAI/0.1 (+https://cheers.ai)"},
        follow_redirects=False,
    )
