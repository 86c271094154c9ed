"""What the Facebook and Instagram adapters share: Facebook Login, token checks, revocation.

Both connect through the same dialog and the same user token; they differ in the scopes they
need, the targets they offer and the Page/Instagram checks in `diagnose` (`_target_findings`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from providers.base import Diagnosis, Finding, Grant, ProviderConfig, StoredCredentials, Target
from providers.errors import AuthExpired, MetadataMissing, Permanent, PermissionMissing
from providers.meta.graph import RECONNECT, GraphClient, TokenInfo, auth_message, auth_remedy
from storage.enums import Provider

# Plain words for the permissions we ask for (what a manager sees in the Facebook dialog).
SCOPE_LABELS = {
    "pages_show_list": "show a list of the Pages you manage",
    "pages_manage_posts": "create and manage content on your Page",
    "pages_read_engagement": "read content posted on the Page",
    "business_management": "manage your business",
    "instagram_basic": "access profile and posts from the Instagram account",
    "instagram_content_publish": "create and publish content on the Instagram account",
}
ALREADY_REVOKED = frozenset({458, 467})  # the app is gone or the session was ended: nothing left to revoke
PUBLISH_TASKS = frozenset({"CREATE_CONTENT", "MANAGE"})  # docs/providers.md#facebook-login


def _when(value: datetime) -> str:
    return value.strftime("%d %b %Y")


def missing_scopes_error(provider: Provider, missing: list[str]) -> PermissionMissing:
    """PermissionMissing naming every missing scope with its plain-language label."""
    names = "; ".join(f"{s} ({SCOPE_LABELS.get(s, s.replace('_', ' '))})" for s in missing)
    return PermissionMissing(
        f"Facebook did not grant every permission CheersAI needs: {names}.",
        scopes=missing,
        provider=provider.value,
        remedy="Connect again and leave every permission switched on; Facebook asks again for the ones turned off.",
    )


class MetaAdapter(ABC):
    """Base for FacebookAdapter and InstagramAdapter (implements providers.base.Connector)."""

    provider: Provider
    required_scopes: tuple[str, ...]
    optional_scopes: tuple[str, ...] = ("business_management",)
    uses_pkce = False
    supports_refresh = False

    def __init__(
        self, config: ProviderConfig, http: httpx.AsyncClient, *, now: Callable[[], datetime] | None = None
    ) -> None:
        self.config = config
        self.graph = GraphClient(config, http, provider=self.provider)
        self._now = now or (lambda: datetime.now(UTC))

    # -- connecting ----------------------------------------------------------------------------

    def authorize_url(self, *, state: str, redirect_uri: str, code_challenge: str | None) -> str:
        """The Facebook Login dialog; `rerequest` so declined permissions are asked for again."""
        scopes = list(dict.fromkeys(self.required_scopes + self.optional_scopes))
        params = {
            "client_id": self.config.facebook_app_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": ",".join(scopes),
            "response_type": "code",
            "auth_type": "rerequest",
            "return_scopes": "true",
        }
        base = self.config.facebook_dialog_url.rstrip("/")
        return f"{base}/{self.config.graph_version}/dialog/oauth?{urlencode(params, safe=',')}"

    async def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str | None) -> Grant:
        """Code → short-lived → long-lived user token; scopes and expiry as debug_token reports them."""
        short = await self.graph.exchange_code(code, redirect_uri)
        # Always exchange: the code grant's lifetime is undocumented (hours, or already ~60 days).
        long = await self.graph.exchange_long_lived(short.access_token)
        info = await self.graph.debug_token(long.access_token)
        if not info.is_valid:
            raise AuthExpired(auth_message(info.error_subcode), provider=self.provider.value, remedy=RECONNECT)
        if info.app_id and info.app_id != self.config.facebook_app_id:
            raise Permanent("Facebook issued a token for another app.", provider=self.provider.value)
        missing = [s for s in self.required_scopes if s not in info.scopes]
        if missing:
            raise missing_scopes_error(self.provider, missing)
        expires_at = info.expires_at
        if expires_at is None and long.expires_in:
            expires_at = self._now() + timedelta(seconds=long.expires_in)
        return Grant(
            access_token=long.access_token,
            expires_at=expires_at,
            scopes=info.scopes,
            data_access_expires_at=info.data_access_expires_at,
            subject_id=info.user_id,
        )

    async def refresh(self, credentials: StoredCredentials) -> Grant:
        """Meta has no refresh grant: a person must reconnect before the user token lapses (~60 days)."""
        raise Permanent(
            "Facebook has no way to refresh access; someone must reconnect before it lapses.",
            provider=self.provider.value,
            remedy=RECONNECT,
        )

    async def revoke(self, credentials: StoredCredentials) -> None:
        """DELETE /me/permissions with the stored user token; an app already removed counts as done."""
        if not credentials.user_token:
            raise Permanent(
                "No Facebook user token is stored for this connection, so we cannot remove CheersAI at Facebook.",
                provider=self.provider.value,
                remedy="Remove CheersAI in Facebook → Settings & privacy → Settings → Business integrations.",
            )
        try:
            await self.graph.request("DELETE", "me/permissions", token=credentials.user_token)
        except AuthExpired as exc:
            if exc.subcode not in ALREADY_REVOKED:
                raise

    async def granted_pages(self, user_token: str, fields: str) -> list[dict[str, Any]]:
        """The Pages the person ticked in the dialog (and still has a role on), with Page tokens."""
        return await self.graph.get_all("me/accounts", token=user_token, params={"fields": fields, "limit": "100"})

    async def page_token_expiry(self, page_token: str) -> datetime | None:
        """None when the Page token never expires (it came from a long-lived user token)."""
        return (await self.graph.debug_token(page_token)).expires_at

    async def list_targets(self, grant: Grant) -> list[Target]:
        """Every publishable place among the Pages the person ticked (Pages, or their Instagram accounts)."""
        targets = await self._targets(await self.granted_pages(grant.access_token, self.page_fields))
        if not targets:
            raise self._no_targets()
        return targets

    async def resolve(self, credentials: StoredCredentials) -> Target:
        """Which Page (or Instagram account) stored credentials publish to: fills ids missing after an import."""
        token = credentials.access_token or credentials.user_token
        if not token:
            raise MetadataMissing("No Facebook token is stored for this connection.", provider=self.provider.value)
        info = await self.graph.debug_token(token)
        if not info.is_valid:
            subcode = info.error_subcode
            raise AuthExpired(
                auth_message(subcode), provider=self.provider.value, subcode=subcode, remedy=auth_remedy(subcode)
            )
        if info.type == "PAGE" and info.profile_id:
            page = await self.graph.get(info.profile_id, token=token, params={"fields": self.page_fields})
            pages = [{**page, "access_token": page.get("access_token") or token}]
        else:
            pages = await self.granted_pages(token, self.page_fields)
        targets = await self._targets(pages)
        exact = [t for t in targets if t.external_id == credentials.external_id]
        matched = exact or [
            t
            for t in targets
            if (not credentials.page_id or t.page_id == credentials.page_id)
            and (not credentials.ig_business_id or t.ig_business_id == credentials.ig_business_id)
        ]
        if len(matched) == 1:
            return matched[0]
        if not matched:
            raise self._no_targets()
        raise MetadataMissing(
            f"This token reaches {len(matched)} places; we cannot tell which one the connection is for.",
            provider=self.provider.value,
            remedy="Import the connection again with its page_id (or ig_business_id for Instagram).",
        )

    async def _targets(self, pages: list[dict[str, Any]]) -> list[Target]:
        targets: list[Target] = []
        for page in pages:
            token = page.get("access_token")
            if not token:  # Graph leaves it out when the person may not act on the Page
                continue
            target = await self._page_target(page, str(token))
            if target is not None:
                targets.append(target)
        return targets

    # What each adapter adds: the Page fields it reads, its target, its "nothing to offer" error.
    page_fields: str

    @abstractmethod
    async def _page_target(self, page: dict[str, Any], token: str) -> Target | None:
        """The target one granted Page offers (None when it offers nothing, e.g. no linked Instagram)."""

    @abstractmethod
    def _no_targets(self) -> MetadataMissing:
        """The plain-language error when the consent offers nothing at all."""

    # -- diagnosing ----------------------------------------------------------------------------

    async def diagnose(self, credentials: StoredCredentials) -> Diagnosis:
        """Token validity and expiry, data access, scopes, then the adapter's Page/Instagram checks."""
        publish = await self.graph.debug_token(credentials.access_token) if credentials.access_token else None
        user = await self.graph.debug_token(credentials.user_token) if credentials.user_token else None
        findings = [self._token_finding(publish)]
        if user is not None:
            findings.append(self._user_token_finding(user))
        best = user if user is not None and user.is_valid else publish
        scopes = best.scopes if best is not None else ()
        data_access = best.data_access_expires_at if best is not None else None
        if data_access is not None:
            findings.append(self._data_access_finding(data_access))
        if best is not None and best.is_valid:
            missing = [s for s in self.required_scopes if s not in scopes]
            findings.append(self._scopes_finding(missing))
        if publish is not None and publish.is_valid:
            findings += await self._target_findings(credentials)
        expires_at = user.expires_at if user is not None else publish.expires_at if publish is not None else None
        return Diagnosis(tuple(findings), expires_at=expires_at, data_access_expires_at=data_access, scopes=scopes)

    @abstractmethod
    async def _target_findings(self, credentials: StoredCredentials) -> list[Finding]:
        """The adapter's own checks: the Page (Facebook) or the linked account (Instagram)."""

    def _token_finding(self, info: TokenInfo | None) -> Finding:
        if info is None:
            return Finding("token_valid", False, "No access token is stored for this connection.", RECONNECT)
        if not info.is_valid:
            return Finding("token_valid", False, auth_message(info.error_subcode), auth_remedy(info.error_subcode))
        lasts = f"until {_when(info.expires_at)}" if info.expires_at else "and does not expire"
        return Finding("token_valid", True, f"The access token we publish with works {lasts}.")

    def _user_token_finding(self, info: TokenInfo) -> Finding:
        if not info.is_valid:
            return Finding(
                "user_token",
                False,
                f"The Facebook login behind this connection no longer works: {auth_message(info.error_subcode)}",
                auth_remedy(info.error_subcode),
            )
        if info.expires_at is None:
            return Finding("user_token", True, "The Facebook login behind this connection does not expire.")
        return Finding(
            "user_token",
            True,
            f"The Facebook login behind this connection lasts until {_when(info.expires_at)}; "
            "reconnect before then (Meta has no automatic renewal).",
        )

    def _data_access_finding(self, expires_at: datetime) -> Finding:
        if expires_at <= self._now():
            return Finding(
                "data_access",
                False,
                f"Facebook's data access for CheersAI ended on {_when(expires_at)}.",
                RECONNECT,
            )
        return Finding("data_access", True, f"Facebook's data access for CheersAI runs until {_when(expires_at)}.")

    def _scopes_finding(self, missing: list[str]) -> Finding:
        if not missing:
            return Finding("scopes", True, "Every permission CheersAI needs is granted.")
        error = missing_scopes_error(self.provider, missing)
        return Finding("scopes", False, error.message, error.remedy)

    async def _reach_page(self, credentials: StoredCredentials, fields: str) -> tuple[dict[str, Any] | None, Finding]:
        """GET the Page with the token we publish with: is it still there and still ours?"""
        page_id = credentials.page_id or credentials.external_id
        try:
            page = await self.graph.get(page_id, token=credentials.access_token or "", params={"fields": fields})
        except (AuthExpired, PermissionMissing, MetadataMissing) as exc:
            remedy = exc.remedy or (
                "Check in Meta Business Suite that the Page still exists and is published, then reconnect."
            )
            return None, Finding("page_reachable", False, f"We cannot reach the Facebook Page: {exc.message}", remedy)
        name = str(page.get("name") or page_id)
        return page, Finding("page_reachable", True, f"The Facebook Page {name} is reachable.")

    def _tasks_finding(self, tasks: list[str] | None, page_name: str) -> Finding:
        if tasks is None:  # Graph did not say; nothing to judge
            return Finding("page_task", True, f"Facebook did not list your tasks on {page_name}.")
        if PUBLISH_TASKS & set(tasks):
            return Finding("page_task", True, f"You may create content on {page_name}.")
        return Finding(
            "page_task",
            False,
            f"The person who connected {page_name} may no longer create content on it.",
            "Ask a Page admin to give them 'Create content' access (Meta Business Suite → Settings → Page access),"
            " then reconnect.",
        )
