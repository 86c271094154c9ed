"""Build the adapters for every provider from settings-derived config and one shared http client."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from providers.base import ProviderAdapter, ProviderConfig
from providers.facebook import FacebookAdapter
from providers.google import GoogleBusinessAdapter
from providers.instagram import InstagramAdapter
from storage.models.connections import Provider

ProviderRegistry = Mapping[Provider, ProviderAdapter]


def build_registry(config: ProviderConfig, http: httpx.AsyncClient) -> ProviderRegistry:
    return {
        Provider.facebook: FacebookAdapter(config, http),
        Provider.instagram: InstagramAdapter(config, http),
        Provider.google_business: GoogleBusinessAdapter(config, http),
    }
