"""A small Graph API client shared by the Facebook and Instagram adapters, and its error mapping.

Tokens travel only in the `Authorization: Bearer` header, never in a URL (URLs end up in logs,
proxies and error reports). Where Graph wants a secret as a parameter (the code exchange's
client_secret, `fb_exchange_token`, debug_token's `input_token`) we POST it as a form body.
[UNVERIFIED] that graph.facebook.com answers POST on /oauth/access_token and /debug_token exactly
as it answers GET (Graph generally accepts parameters in a POST body; the docs show GET); the twin
accepts both, so switching a call back to GET is a one-line change here if Meta disagrees.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from providers.base import ProviderConfig
from providers.errors import (
    AuthExpired,
    MetadataMissing,
    Permanent,
    PermissionMissing,
    ProviderError,
    RateLimited,
    Transient,
)
from providers.publishing import Recorder
from storage.enums import Provider

THROTTLE_CODES = frozenset({4, 17, 32, 613, 80001, 80002})
DEFAULT_RETRY_AFTER = 300.0  # seconds; Meta gives no reset time for platform (X-App-Usage) throttles
MAX_PAGES = 50  # a safety stop for cursor paging (100 rows each)
RECONNECT = "Reconnect it from CheersAI (Connections → Reconnect) and approve every permission asked for."
AUTH_MESSAGES = {
    458: "CheersAI was removed from the Facebook account that connected it, which ended our access.",
    459: "Facebook locked the account that connected it until its owner logs in on facebook.com.",
    460: "The Facebook password of the person who connected it was changed, which ended our access.",
    463: "The Facebook access has expired.",
    464: "The Facebook account that connected it is not confirmed yet.",
    467: "The Facebook access is no longer valid (the person logged out or it was revoked).",
    492: "The person who connected it no longer has a role on this Facebook Page.",
}
AUTH_REMEDIES = {
    459: "The account owner should log in on facebook.com, clear the security check, then reconnect here.",
    492: "Ask a Page admin to give that person a role with 'Create content' on the Page (Meta Business Suite "
    "→ Settings → Page access), or reconnect as someone who has it.",
}
_SCOPE_RE = re.compile(
    r"\b(pages_[a-z_]+|instagram_[a-z_]+|business_management|publish_video|read_insights|ads_read|ads_management)\b"
)
_TOKENISH = re.compile(r"\bEAA[A-Za-z0-9]{8,}")
SECRET_PARAMS = frozenset({"access_token", "client_secret", "fb_exchange_token", "input_token", "code"})


def auth_message(subcode: int | None) -> str:
    """Plain words for a 190 subcode."""
    return AUTH_MESSAGES.get(subcode or 0, "The Facebook access is no longer valid.")


def auth_remedy(subcode: int | None) -> str:
    return AUTH_REMEDIES.get(subcode or 0, RECONNECT)


def _to_dt(epoch: Any) -> datetime | None:
    """Graph epoch seconds → aware datetime; 0 or missing means "never"."""
    return datetime.fromtimestamp(int(epoch), UTC) if epoch else None


@dataclass(frozen=True)
class GraphUsage:
    """The latest usage Meta reported, in percent of the limit (0 to 100), for pacing later calls."""

    app_percent: int | None = None  # X-App-Usage: the highest of call_count/total_time/total_cputime
    business: dict[str, int] = field(default_factory=dict)  # X-Business-Use-Case-Usage: object id → percent
    regain_seconds: float | None = None  # the longest estimated_time_to_regain_access (minutes, turned into seconds)

    @property
    def highest(self) -> int:
        return max([self.app_percent or 0, *self.business.values()])


def parse_usage(headers: httpx.Headers) -> GraphUsage | None:
    """Read `X-App-Usage` and `X-Business-Use-Case-Usage`; None when neither is there (or both are junk)."""
    app_raw, buc_raw = headers.get("x-app-usage"), headers.get("x-business-use-case-usage")
    if not app_raw and not buc_raw:
        return None
    app_percent: int | None = None
    business: dict[str, int] = {}
    regain: float | None = None
    try:
        if app_raw:
            app = json.loads(app_raw)
            app_percent = max(int(app.get(k, 0)) for k in ("call_count", "total_time", "total_cputime"))
        if buc_raw:
            for object_id, entries in json.loads(buc_raw).items():
                for entry in entries:
                    pct = max(int(entry.get(k, 0)) for k in ("call_count", "total_time", "total_cputime"))
                    business[object_id] = max(business.get(object_id, 0), pct)
                    # [UNVERIFIED] unit: minutes (leapforce-dev/lib-go-facebook reads it so).
                    minutes = float(entry.get("estimated_time_to_regain_access") or 0)
                    if minutes:
                        regain = max(regain or 0.0, minutes * 60)
    except (ValueError, TypeError, AttributeError):
        return None
    return GraphUsage(app_percent=app_percent, business=business, regain_seconds=regain)


def redact(value: Any, secrets: Iterable[str]) -> Any:
    """A copy of a JSON value with every secret (and anything shaped like a Meta token) masked."""
    if isinstance(value, dict):
        return {k: redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in secrets:
            if secret:
                value = value.replace(secret, "[redacted]")
        return _TOKENISH.sub("[redacted]", value)
    return value


def graph_error(
    status: int, body: Any, usage: GraphUsage | None, *, provider: str, secrets: Iterable[str] = ()
) -> ProviderError:
    """Map a Graph error answer onto the taxonomy in providers.errors (docs/providers.md#graph-errors)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        kind = Transient if status >= 500 else RateLimited if status == 429 else Permanent
        return kind(f"Facebook answered HTTP {status}.", provider=provider, http_status=status)
    error = redact(error, secrets)
    code, subcode = error.get("code"), error.get("error_subcode")
    message = str(error.get("message", ""))
    common: dict[str, Any] = {
        "provider": provider,
        "http_status": status,
        "code": code,
        "subcode": subcode,
        "raw": {"error": error},
    }
    if code in (190, 102):
        return AuthExpired(auth_message(subcode), remedy=auth_remedy(subcode), **common)
    if code == 10 or (isinstance(code, int) and 200 <= code <= 299):
        scopes = sorted(set(_SCOPE_RE.findall(message)))
        named = f" ({', '.join(scopes)})" if scopes else ""
        return PermissionMissing(
            f"Facebook refused: a permission is missing{named}.", scopes=scopes, remedy=RECONNECT, **common
        )
    if code in THROTTLE_CODES:
        retry_after = usage.regain_seconds if usage and usage.regain_seconds else DEFAULT_RETRY_AFTER
        return RateLimited("Facebook is limiting how often we may call it.", retry_after=retry_after, **common)
    if code == 1 and "client secret" in message.lower():
        return Permanent(
            "Facebook rejected our app secret.", remedy="Check CHEERS_FACEBOOK_APP_SECRET in the settings.", **common
        )
    if code in (1, 2) or error.get("is_transient") is True or status >= 500:
        return Transient("Facebook had a temporary problem.", **common)
    if code == 100 and subcode == 33:
        return MetadataMissing("Facebook says that object no longer exists or we cannot reach it.", **common)
    if code == 100 and subcode in (36007, 36008):
        return Permanent(
            "Facebook did not accept the sign-in code (already used, expired or for another address).",
            remedy="Start connecting again.",
            **common,
        )
    return Permanent(f"Facebook refused the request: {message}", **common)


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int | None


@dataclass(frozen=True)
class TokenInfo:
    """debug_token's answer, parsed."""

    is_valid: bool
    type: str | None = None
    app_id: str | None = None
    user_id: str | None = None
    profile_id: str | None = None
    scopes: tuple[str, ...] = ()
    expires_at: datetime | None = None  # None: never expires
    data_access_expires_at: datetime | None = None
    error_code: int | None = None
    error_subcode: int | None = None

    @classmethod
    def from_graph(cls, data: dict[str, Any]) -> TokenInfo:
        error = data.get("error") or {}
        return cls(
            is_valid=bool(data.get("is_valid")),
            type=data.get("type"),
            app_id=str(data["app_id"]) if data.get("app_id") else None,
            user_id=str(data["user_id"]) if data.get("user_id") else None,
            profile_id=str(data["profile_id"]) if data.get("profile_id") else None,
            scopes=tuple(data.get("scopes") or ()),
            expires_at=_to_dt(data.get("expires_at")),
            data_access_expires_at=_to_dt(data.get("data_access_expires_at")),
            error_code=error.get("code"),
            error_subcode=error.get("subcode"),
        )


class GraphClient:
    """Graph calls with the token in the header, errors mapped, usage headers remembered."""

    def __init__(self, config: ProviderConfig, http: httpx.AsyncClient, *, provider: Provider) -> None:
        self.config = config
        self.http = http
        self.provider = provider
        self.last_usage: GraphUsage | None = None

    def url(self, path: str) -> str:
        """`graph_url` (which may carry a path prefix) + `/{graph_version}/` + path."""
        return f"{self.config.graph_url.rstrip('/')}/{self.config.graph_version}/{path.lstrip('/')}"

    @property
    def app_token(self) -> str:
        return f"{self.config.facebook_app_id}|{self.config.facebook_app_secret}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        params: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        recorder: Recorder | None = None,
        step: str = "",
        may_publish: bool = True,
    ) -> dict[str, Any]:
        """One Graph call; returns the JSON object or raises a providers.errors type.

        With a `recorder`, the call is kept there as `step`, secrets redacted. `may_publish=False` marks a
        call that cannot make anything visible (a container, an unpublished photo, a read): its lost
        answers are then `Transient(sent=False)`, since repeating it cannot make a duplicate.
        """
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        sent = [v for k, v in (form or {}).items() if k in SECRET_PARAMS]
        secrets = [s for s in (token, self.config.facebook_app_secret, *sent) if s]
        url = self.url(path)
        log = _CallLog(recorder, step or path, method, url, {"params": params, "form": form}, secrets)
        try:
            response = await self.http.request(method, url, params=params, data=form, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            log.failed(exc)
            raise Transient(
                f"Could not reach Facebook ({type(exc).__name__}).", provider=self.provider.value, sent=False
            ) from exc
        except httpx.TimeoutException as exc:
            log.failed(exc)
            raise Transient("Facebook did not answer in time.", provider=self.provider.value, sent=may_publish) from exc
        except httpx.TransportError as exc:
            log.failed(exc)
            raise Transient(
                f"The connection to Facebook failed ({type(exc).__name__}).",
                provider=self.provider.value,
                sent=may_publish,
            ) from exc
        usage = parse_usage(response.headers)
        if usage is not None:
            self.last_usage = usage
        try:
            body = response.json()
        except ValueError:
            body = None
        log.answered(response, body, usage)
        if response.is_success and isinstance(body, dict):
            return body
        if response.is_success:
            raise Transient(
                "Facebook sent an answer we could not read.", provider=self.provider.value, sent=may_publish
            )
        error = graph_error(response.status_code, body, usage, provider=self.provider.value, secrets=secrets)
        if isinstance(error, Transient):
            error.sent = error.sent and may_publish
        if isinstance(error, RateLimited) and (wait := _retry_after(response.headers)) is not None:
            error.retry_after = wait
        raise error

    async def get(self, path: str, *, token: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        return await self.request("GET", path, token=token, params=params)

    async def get_all(self, path: str, *, token: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every row of a paged edge, following cursors (never `paging.next`, which repeats the token)."""
        rows: list[dict[str, Any]] = []
        query = dict(params)
        for _ in range(MAX_PAGES):
            page = await self.get(path, token=token, params=query)
            rows += page.get("data") or []
            paging = page.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                break
            query["after"] = after
        return rows

    async def exchange_code(self, code: str, redirect_uri: str) -> IssuedToken:
        """Code → short-lived user token (docs/providers.md#meta-tokens)."""
        form = {
            "client_id": self.config.facebook_app_id,
            "client_secret": self.config.facebook_app_secret,
            "redirect_uri": redirect_uri,
            "code": code,
        }
        return _issued(await self.request("POST", "oauth/access_token", form=form))

    async def exchange_long_lived(self, user_token: str) -> IssuedToken:
        """Short-lived → long-lived (about 60 days) user token (docs/providers.md#meta-tokens)."""
        form = {
            "grant_type": "fb_exchange_token",
            "client_id": self.config.facebook_app_id,
            "client_secret": self.config.facebook_app_secret,
            "fb_exchange_token": user_token,
        }
        return _issued(await self.request("POST", "oauth/access_token", form=form))

    async def debug_token(self, input_token: str) -> TokenInfo:
        """Inspect any token with the app token (docs/providers.md); an invalid token is an answer, not an error."""
        body = await self.request("POST", "debug_token", token=self.app_token, form={"input_token": input_token})
        return TokenInfo.from_graph(body.get("data") or {})


def _retry_after(headers: httpx.Headers) -> float | None:
    """Retry-After in seconds (Graph rarely sends it; an HTTP date is not worth parsing here)."""
    raw = headers.get("retry-after", "")
    return float(raw) if raw.strip().isdigit() else None


class _CallLog:
    """Writes one Graph call into a Recorder (when there is one), secrets redacted."""

    def __init__(
        self, recorder: Recorder | None, step: str, method: str, url: str, sent: dict[str, Any], secrets: list[str]
    ) -> None:
        self.recorder, self.secrets, self.started = recorder, secrets, time.perf_counter()
        shown = {
            part: {k: "[redacted]" if k in SECRET_PARAMS else v for k, v in values.items()}
            for part, values in sent.items()
            if values
        }
        self.base = {"step": step, "method": method, "url": url, "request": redact(shown, secrets)}

    def failed(self, exc: Exception) -> None:
        self._keep(error=str(redact(f"{type(exc).__name__}: {exc}", self.secrets)))

    def answered(self, response: httpx.Response, body: Any, usage: GraphUsage | None) -> None:
        self._keep(
            status=response.status_code,
            headers={k: redact(v, self.secrets) for k, v in response.headers.items()},
            response=redact(body if body is not None else response.text[:500], self.secrets),
            usage_percent=usage.highest if usage is not None else None,
        )

    def _keep(self, **outcome: Any) -> None:
        if self.recorder is not None:
            self.recorder.record(**self.base, **outcome, started=self.started)


def _issued(body: dict[str, Any]) -> IssuedToken:
    if not body.get("access_token"):
        raise Permanent("Facebook's token answer had no access_token.", provider="facebook")
    expires_in = body.get("expires_in")
    return IssuedToken(str(body["access_token"]), int(expires_in) if expires_in else None)
