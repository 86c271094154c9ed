"""The adapter Protocol core works with, and the registry of one adapter per provider."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol

import httpx

from providers.base import Connector, ProviderConfig
from providers.publishing import Publisher
from providers.reconcile import Reconciler
from storage.enums import Provider


class ProviderAdapter(Connector, Publisher, Reconciler, Protocol):
    """Everything core asks of one provider: connect (`Connector`), `publish` and `reconcile`."""


ProviderRegistry = Mapping[Provider, ProviderAdapter]


def build_registry(
    config: ProviderConfig, http: httpx.AsyncClient, *, now: Callable[[], datetime] | None = None
) -> ProviderRegistry:
    """The adapters; `now` is the clock they judge token expiry by (default: real time)."""
    # Imported here: the adapters are heavy, and every process imports the runtime that names these types.
    from providers.google.adapter import GoogleBusinessAdapter
    from providers.meta.facebook import FacebookAdapter
    from providers.meta.instagram import InstagramAdapter

    google = GoogleBusinessAdapter(config, http, now=now) if now is not None else GoogleBusinessAdapter(config, http)
    return {
        Provider.facebook: FacebookAdapter(config, http, now=now),
        Provider.instagram: InstagramAdapter(config, http, now=now),
        Provider.google_business: google,
    }
