"""The connecting half of the adapter Protocol (`Connector`), and the plain data adapters speak.

The whole adapter (connect, publish, reconcile) is `providers.registry.ProviderAdapter`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from storage.enums import Provider


@dataclass(frozen=True)
class ProviderConfig:
    """Origins and app credentials, straight from settings (no other settings reach adapters)."""

    graph_url: str = "https://graph.facebook.com"
    facebook_dialog_url: str = "https://www.facebook.com"
    google_auth_url: str = "https://accounts.google.com"
    google_token_url: str = "https://oauth2.googleapis.com"  # noqa: S105 - a URL
    gbp_accounts_url: str = "https://mybusinessaccountmanagement.googleapis.com"
    gbp_info_url: str = "https://mybusinessbusinessinformation.googleapis.com"
    gbp_posts_url: str = "https://mybusiness.googleapis.com"
    facebook_app_id: str = ""
    facebook_app_secret: str = ""
    google_client_id: str = ""
    google_client_secret: str = ""
    graph_version: str = "v25.0"


@dataclass(frozen=True)
class Grant:
    """What one consent (or a refresh) yields: the user-level credential and what it may do."""

    access_token: str
    refresh_token: str | None = None
    expires_at: datetime | None = None
    scopes: tuple[str, ...] = ()
    data_access_expires_at: datetime | None = None
    subject_id: str | None = None  # Facebook user id / Google account subject


@dataclass(frozen=True)
class Target:
    """A publishable place a grant reaches: a Page, an Instagram business account or a location.

    `external_id` is the id publishing uses: the Page id, the Instagram business account id,
    or the full `accounts/{a}/locations/{l}` name.
    """

    provider: Provider
    external_id: str
    name: str
    access_token: str | None = None  # the Page token (Facebook and Instagram publish with it)
    token_expires_at: datetime | None = None
    page_id: str | None = None
    ig_business_id: str | None = None
    location_name: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredCredentials:
    """A connection's decrypted secrets and ids, handed to an adapter for one call."""

    provider: Provider
    external_id: str
    access_token: str | None
    refresh_token: str | None = None
    user_token: str | None = None
    scopes: tuple[str, ...] = ()
    page_id: str | None = None
    ig_business_id: str | None = None
    location_name: str | None = None


@dataclass(frozen=True)
class Finding:
    """One diagnostic answer: `ok`, what we saw in plain words, and what to do when not ok."""

    check: str
    ok: bool
    message: str
    remedy: str | None = None


@dataclass(frozen=True)
class Diagnosis:
    findings: tuple[Finding, ...]
    expires_at: datetime | None = None  # when access lapses unless renewed (None: it does not)
    data_access_expires_at: datetime | None = None
    scopes: tuple[str, ...] = ()

    @property
    def healthy(self) -> bool:
        return all(f.ok for f in self.findings)


class Connector(Protocol):
    """Consent, tokens and targets of one provider. No database access; tokens travel in the Authorization header."""

    provider: Provider
    required_scopes: tuple[str, ...]
    uses_pkce: bool
    supports_refresh: bool

    def authorize_url(self, *, state: str, redirect_uri: str, code_challenge: str | None) -> str:
        """The provider's consent URL for this state."""
        ...

    async def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str | None) -> Grant:
        """Trade the callback's code for a long-lived grant (Meta: code → user token → long-lived)."""
        ...

    async def list_targets(self, grant: Grant) -> list[Target]:
        """Every publishable place the grant reaches (only those actually granted)."""
        ...

    async def refresh(self, credentials: StoredCredentials) -> Grant:
        """A fresh access token (Google); raises AuthExpired when the refresh token is dead."""
        ...

    async def diagnose(self, credentials: StoredCredentials) -> Diagnosis:
        """Valid? lapses when? scopes missing? still reachable? API enabled?"""
        ...

    async def resolve(self, credentials: StoredCredentials) -> Target:
        """Ask the provider which place these credentials publish to (fills missing ids on import)."""
        ...

    async def revoke(self, credentials: StoredCredentials) -> None:
        """Revoke our access at the provider (Graph DELETE /me/permissions, Google revoke)."""
        ...
