"""Google Business Profile: OAuth 2.0 (offline, PKCE), the v1 account and location APIs, v4 local posts.

Tokens travel in the Authorization header or a form body, never in a URL. Error bodies are mapped in
`providers.google.errors`; publishing lives in `providers.google.publish`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from providers.base import Diagnosis, Grant, ProviderConfig, StoredCredentials, Target
from providers.errors import AuthExpired, MetadataMissing, Permanent, PermissionMissing, ProviderError, Transient
from providers.google.checks import diagnose_google
from providers.google.errors import (
    BUSINESS_MANAGE,
    PROVIDER,
    RECONNECT_REMEDY,
    SCOPE_REMEDY,
    error_from_response,
    has_business_scope,
    redact,
)
from providers.google.publish import publish_local_post, recent_local_posts, record_exchange
from providers.google.reconcile import reconcile_local_post
from providers.publishing import PublishRequest, Recorder, StepOutcome
from providers.reconcile import InDoubt, Verdict
from storage.enums import Provider

LOCATION_READ_MASK = "name,title,storefrontAddress"
ACCOUNTS_PAGE_SIZE = 20  # the API's maximum
LOCATIONS_PAGE_SIZE = 100  # the API's maximum
MAX_PAGES = 200  # a guard against a page token that never ends
REMOVE_ACCESS_URL = "https://myaccount.google.com/permissions"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _one_line(address: Any) -> str:
    if not isinstance(address, dict):
        return ""
    parts = [*address.get("addressLines", []), address.get("locality", ""), address.get("postalCode", "")]
    return ", ".join(p for p in parts if p)


class GoogleBusinessAdapter:
    """ProviderAdapter (providers.registry) for Google Business Profile locations."""

    provider = Provider.google_business
    required_scopes: tuple[str, ...] = (BUSINESS_MANAGE,)
    uses_pkce = True
    supports_refresh = True

    def __init__(
        self, config: ProviderConfig, http: httpx.AsyncClient, *, now: Callable[[], datetime] = _utcnow
    ) -> None:
        self.config = config
        self.http = http
        self.now = now  # expiry times are computed from this clock (tests move it)
        self.auth_url = config.google_auth_url.rstrip("/")
        self.token_url = config.google_token_url.rstrip("/")
        self.accounts_url = config.gbp_accounts_url.rstrip("/")
        self.info_url = config.gbp_info_url.rstrip("/")
        self.posts_url = config.gbp_posts_url.rstrip("/")

    # --- the Protocol --------------------------------------------------------------------------

    def authorize_url(self, *, state: str, redirect_uri: str, code_challenge: str | None) -> str:
        """The consent URL: offline access, always re-prompt (so a refresh token comes back), PKCE S256."""
        params = {
            "client_id": self.config.google_client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(self.required_scopes),
            "access_type": "offline",
            "prompt": "consent",
            "include_granted_scopes": "true",
            "state": state,
        }
        if code_challenge:
            params.update(code_challenge=code_challenge, code_challenge_method="S256")
        return f"{self.auth_url}/o/oauth2/v2/auth?{urlencode(params)}"

    async def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str | None) -> Grant:
        """Trade the code (with the PKCE verifier) for a refresh token; business.manage must be granted."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier:
            form["code_verifier"] = code_verifier
        try:
            body = await self._token_call(form, secrets=(code, code_verifier or ""))
        except AuthExpired as exc:
            raise AuthExpired(
                "Google did not accept the sign-in (it expired, was already used or belongs to another attempt); "
                "connect again.",
                provider=PROVIDER,
                http_status=exc.http_status,
                code=exc.code,
                remedy=RECONNECT_REMEDY,
                raw=exc.raw,
            ) from exc
        grant = self._grant(body)
        # A partial grant is not revoked here: revoking any Google token drops the user's whole grant,
        # which would also cut off locations this user connected earlier.
        if not has_business_scope(grant.scopes):
            raise PermissionMissing(
                "Google access was granted without permission to manage your Business Profile (business.manage).",
                scopes=[BUSINESS_MANAGE],
                provider=PROVIDER,
                remedy=SCOPE_REMEDY,
                raw=redact(body),
            )
        if not grant.refresh_token:
            raise Permanent(
                "Google did not send a refresh token, so CheersAI could not keep access.",
                provider=PROVIDER,
                remedy=f"Remove CheersAI's access in your Google account ({REMOVE_ACCESS_URL}), then connect again.",
                raw=redact(body),
            )
        subject = await self._subject(grant.access_token)
        return Grant(
            access_token=grant.access_token,
            refresh_token=grant.refresh_token,
            expires_at=grant.expires_at,
            scopes=grant.scopes,
            subject_id=subject,
        )

    async def list_targets(self, grant: Grant) -> list[Target]:
        """Every location in every account the user reaches; each location once, by its full v4 name."""
        accounts = await self._paged(
            f"{self.accounts_url}/v1/accounts", grant.access_token, {"pageSize": ACCOUNTS_PAGE_SIZE}, "accounts"
        )
        targets: list[Target] = []
        seen: set[str] = set()
        for account in accounts:
            account_name = str(account.get("name", ""))
            locations = await self._paged(
                f"{self.info_url}/v1/{account_name}/locations",
                grant.access_token,
                {"readMask": LOCATION_READ_MASK, "pageSize": LOCATIONS_PAGE_SIZE},
                "locations",
            )
            for location in locations:
                short = str(location.get("name", ""))  # "locations/{id}": v1 names carry no account
                # The same location can sit in two accounts (personal and a location group): list it once.
                if not short or short in seen:
                    continue
                seen.add(short)
                targets.append(self._target(account_name, account, location))
        return targets

    async def refresh(self, credentials: StoredCredentials) -> Grant:
        """A fresh access token; the stored refresh token stays when Google does not send a new one."""
        if not credentials.refresh_token:
            raise AuthExpired(
                "No Google refresh token is stored for this connection; reconnect.",
                provider=PROVIDER,
                remedy=RECONNECT_REMEDY,
            )
        form = {"grant_type": "refresh_token", "refresh_token": credentials.refresh_token}
        body = await self._token_call(form, secrets=(credentials.refresh_token,))
        return self._grant(body, refresh_token=credentials.refresh_token, scopes=credentials.scopes)

    async def diagnose(self, credentials: StoredCredentials) -> Diagnosis:
        """Refresh works? scopes granted? location reachable? APIs enabled? (see providers.google.checks)."""
        return await diagnose_google(self, credentials)

    async def resolve(self, credentials: StoredCredentials) -> Target:
        """The location these credentials publish to, found from a stored full name, `locations/{id}` or bare id."""
        token = (
            (await self.refresh(credentials)).access_token if credentials.refresh_token else credentials.access_token
        )
        if not token:
            raise AuthExpired("No Google token is stored for this connection; reconnect.", provider=PROVIDER)
        hint = credentials.location_name or credentials.external_id or ""
        if re.fullmatch(r"accounts/[^/]+/locations/[^/]+", hint):
            location = await self.get_location(token, hint.rsplit("/", 1)[-1], read_mask=LOCATION_READ_MASK)
            return self._target(hint.split("/locations/")[0], {}, location)
        # Only a location id (or nothing): the account part of the name comes from listing.
        wanted = hint.rsplit("/", 1)[-1]
        targets = await self.list_targets(Grant(access_token=token))
        if wanted:
            targets = [t for t in targets if (t.location_name or "").rsplit("/", 1)[-1] == wanted]
        if len(targets) == 1:
            return targets[0]
        raise MetadataMissing(
            f"These Google credentials reach {len(targets)} matching locations; CheersAI cannot tell which one.",
            provider=PROVIDER,
            remedy="Connect Google Business Profile again and pick the location.",
        )

    async def revoke(self, credentials: StoredCredentials) -> None:
        """Revoke at Google (the refresh token takes its whole grant with it); already revoked counts as done."""
        token = credentials.refresh_token or credentials.access_token
        if not token:
            return
        try:
            await self.send("POST", f"{self.token_url}/revoke", data={"token": token}, secrets=(token,))
        except AuthExpired:
            return  # invalid_token: already revoked or expired, nothing left to revoke

    # --- publishing (providers.publishing.Publisher) ----------------------------------------------

    async def publish(
        self,
        credentials: StoredCredentials,
        request: PublishRequest,
        stage: Mapping[str, Any],
        recorder: Recorder,
    ) -> StepOutcome:
        """Create the local post (empty stage), or read the state of the one in `stage`; see google_publish."""
        return await publish_local_post(self, credentials, request, stage, recorder)

    async def recent_posts(
        self, credentials: StoredCredentials, *, limit: int = 20, recorder: Recorder | None = None
    ) -> list[dict[str, Any]]:
        """The location's newest local posts (name, summary, createTime, state, searchUrl), for reconciling."""
        return await recent_local_posts(self, credentials, limit=limit, recorder=recorder)

    async def reconcile(self, credentials: StoredCredentials, doubt: InDoubt, recorder: Recorder) -> Verdict:
        """After a lost create: the location's recent posts matched by summary and time; see google_reconcile."""
        return await reconcile_local_post(self, credentials, doubt, recorder)

    # --- calls used by diagnose ----------------------------------------------------------------

    async def token_info(self, access_token: str) -> dict[str, Any]:
        """tokeninfo for an access token, sent in the Authorization header rather than the documented query."""
        return await self.send("GET", f"{self.token_url}/tokeninfo", token=access_token)

    async def get_location(
        self, access_token: str, location_id: str, *, read_mask: str = "name,title"
    ) -> dict[str, Any]:
        """GET /v1/locations/{id} (Business Information API)."""
        url = f"{self.info_url}/v1/locations/{location_id}"
        return await self.send("GET", url, token=access_token, params={"readMask": read_mask})

    async def probe_accounts(self, access_token: str) -> None:
        """One small accounts.list call: is the Account Management API enabled for the project?"""
        await self.send("GET", f"{self.accounts_url}/v1/accounts", token=access_token, params={"pageSize": 1})

    async def probe_posts(self, access_token: str, location_name: str) -> None:
        """One small localPosts.list call: is the (v4) Google My Business API enabled for the project?"""
        url = f"{self.posts_url}/v4/{location_name}/localPosts"
        await self.send("GET", url, token=access_token, params={"pageSize": 1})

    # --- plumbing ------------------------------------------------------------------------------

    async def send(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        params: dict[str, Any] | None = None,
        data: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        secrets: Iterable[str] = (),
        recorder: Recorder | None = None,
        step: str = "",
    ) -> dict[str, Any]:
        """One HTTP call; the bearer goes in the header; failures become taxonomy errors.

        With a `recorder`, the call is kept as one redacted Exchange named `step` (the bearer never is).
        """
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        hidden = [s for s in (token, *secrets) if s]
        started = time.perf_counter()

        def note(response: httpx.Response | None = None, error: str | None = None) -> None:
            if recorder is not None:
                record_exchange(
                    recorder, step or method, method, url, json or data or params, hidden, started, response, error
                )

        try:
            response = await self.http.request(method, url, params=params, data=data, json=json, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            note(error=type(exc).__name__)
            raise Transient(
                "Could not reach Google; nothing was sent.", sent=False, provider=PROVIDER, code=type(exc).__name__
            ) from exc
        except httpx.UnsupportedProtocol as exc:
            raise Permanent(f"Bad Google URL configured: {url}", provider=PROVIDER) from exc
        except httpx.TransportError as exc:
            note(error=type(exc).__name__)
            # The request may have reached Google (read timeout, dropped connection): `sent` stays True.
            raise Transient(
                "Google did not answer in time.", sent=True, provider=PROVIDER, code=type(exc).__name__
            ) from exc
        note(response)
        if not response.is_success:
            raise error_from_response(response, secrets=hidden, now=self.now)
        if not response.content:
            return {}
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise Permanent(
                "Google sent an answer CheersAI could not read.",
                provider=PROVIDER,
                http_status=response.status_code,
                raw={"text": redact(response.text[:500], hidden)},
            )
        return body

    async def _token_call(self, form: dict[str, str], *, secrets: Iterable[str]) -> dict[str, Any]:
        client = {"client_id": self.config.google_client_id, "client_secret": self.config.google_client_secret}
        hidden = [*secrets, self.config.google_client_secret]
        return await self.send("POST", f"{self.token_url}/token", data={**form, **client}, secrets=hidden)

    def _grant(self, body: dict[str, Any], *, refresh_token: str | None = None, scopes: Iterable[str] = ()) -> Grant:
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise Permanent("Google's token answer had no access token.", provider=PROVIDER, raw=redact(body))
        expires_in = str(body.get("expires_in", ""))
        granted = tuple(str(body.get("scope") or "").split()) or tuple(scopes)
        return Grant(
            access_token=access,
            refresh_token=body.get("refresh_token") or refresh_token,
            expires_at=self.now() + timedelta(seconds=int(expires_in)) if expires_in.isdigit() else None,
            scopes=granted,
        )

    def _target(self, account_name: str, account: dict[str, Any], location: dict[str, Any]) -> Target:
        full = f"{account_name}/{location.get('name', '')}"
        return Target(
            provider=self.provider,
            external_id=full,
            name=str(location.get("title") or full),
            location_name=full,
            details={
                "account": account_name,
                "account_name": account.get("accountName"),
                "address": _one_line(location.get("storefrontAddress")),
            },
        )

    async def _subject(self, access_token: str) -> str | None:
        """The Google account's subject id; best effort, because the single-use code is already spent."""
        try:
            info = await self.token_info(access_token)
        except ProviderError:
            return None
        sub = info.get("sub")
        return str(sub) if sub else None

    async def _paged(self, url: str, token: str, params: dict[str, Any], key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page_token: str | None = None
        for _ in range(MAX_PAGES):
            query = {**params, **({"pageToken": page_token} if page_token else {})}
            body = await self.send("GET", url, token=token, params=query)
            items += [i for i in body.get(key, []) if isinstance(i, dict)]
            page_token = body.get("nextPageToken") or None
            if not page_token:
                return items
        raise Transient(f"Google kept paging {key} past {MAX_PAGES} pages.", provider=PROVIDER)
