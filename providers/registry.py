"""Build the adapters for every provider from settings-derived config and one shared http client."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

import httpx

from providers.base import ProviderAdapter, ProviderConfig
from providers.google.adapter import GoogleBusinessAdapter
from providers.meta.facebook import FacebookAdapter
from providers.meta.instagram import InstagramAdapter
from storage.enums import Provider

ProviderRegistry = Mapping[Provider, ProviderAdapter]


def build_registry(
    config: ProviderConfig, http: httpx.AsyncClient, *, now: Callable[[], datetime] | None = None
) -> ProviderRegistry:
    """The adapters; `now` is the clock they judge token expiry by (default: real time)."""
    google = GoogleBusinessAdapter(config, http, now=now) if now is not None else GoogleBusinessAdapter(config, http)
    return {
        Provider.facebook: FacebookAdapter(config, http, now=now),
        Provider.instagram: InstagramAdapter(config, http, now=now),
        Provider.google_business: google,
    }
