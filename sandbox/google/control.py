"""The Google twin's control interface (`/_twin/…`, JSON) and its typed client, `GoogleTwinControl`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import httpx
from litestar import Request, get, post, put
from litestar.exceptions import ValidationException

from sandbox.google.faults import (
    ClockSpec,
    DelayFault,
    Faults,
    KillRefreshSpec,
    LocationAccessSpec,
    PublishingStatusSpec,
    RateLimitFault,
    ServerErrorFault,
    ServiceToggle,
)
from sandbox.google.http import twin_of
from sandbox.google.posts_control import LocalPostsControl
from sandbox.google.scenario import BUSINESS_APIS, ConsentSpec, ScenarioSpec
from sandbox.google.state import TwinCall, TwinToken

AnyRequest = Request[Any, Any, Any]
KILL_REASONS = ("revoked", "testing_expiry", "unused")


@post("/_twin/reset", status_code=200)
async def reset(request: AnyRequest) -> dict[str, Any]:
    twin_of(request).reset()
    return {"ok": True}


@put("/_twin/scenario")
async def set_scenario(request: AnyRequest, data: ScenarioSpec) -> dict[str, Any]:
    twin_of(request).load(data)
    return {"ok": True}


@put("/_twin/consent")
async def set_consent(request: AnyRequest, data: ConsentSpec) -> dict[str, Any]:
    twin_of(request).consent = data
    return {"ok": True}


def _services(toggle: ServiceToggle) -> list[str]:
    unknown = set(toggle.services) - set(BUSINESS_APIS)
    if unknown:
        raise ValidationException(f"unknown services {sorted(unknown)}; choose from {list(BUSINESS_APIS)}")
    return toggle.services or list(BUSINESS_APIS)


@post("/_twin/faults/service-disabled", status_code=200)
async def service_disabled(request: AnyRequest, data: ServiceToggle) -> dict[str, Any]:
    target = twin_of(request).faults.disabled_services
    (target.update if data.enabled else target.difference_update)(_services(data))
    return {"disabled_services": sorted(target)}


@post("/_twin/faults/quota-zero", status_code=200)
async def quota_zero(request: AnyRequest, data: ServiceToggle) -> dict[str, Any]:
    target = twin_of(request).faults.quota_zero
    (target.update if data.enabled else target.difference_update)(_services(data))
    return {"quota_zero": sorted(target)}


@post("/_twin/faults/rate-limit", status_code=200)
async def rate_limit(request: AnyRequest, data: RateLimitFault) -> dict[str, Any]:
    twin_of(request).faults.rate_limit = data
    return {"ok": True}


@post("/_twin/faults/server-error", status_code=200)
async def server_error(request: AnyRequest, data: ServerErrorFault) -> dict[str, Any]:
    if not 500 <= data.status <= 599:
        raise ValidationException("status must be a 5xx")
    twin_of(request).faults.server_error = data
    return {"ok": True}


@post("/_twin/faults/delay", status_code=200)
async def delay(request: AnyRequest, data: DelayFault) -> dict[str, Any]:
    twin_of(request).faults.delay = data
    return {"ok": True}


@post("/_twin/faults/clear", status_code=200)
async def clear_faults(request: AnyRequest) -> dict[str, Any]:
    twin_of(request).faults = Faults()
    return {"ok": True}


@post("/_twin/faults/kill-refresh-token", status_code=200)
async def kill_refresh_token(request: AnyRequest, data: KillRefreshSpec) -> dict[str, Any]:
    if data.reason not in KILL_REASONS:
        raise ValidationException(f"reason must be one of {KILL_REASONS}")
    return {"killed": twin_of(request).kill_refresh_tokens(token=data.token, email=data.email, reason=data.reason)}


@post("/_twin/location-access", status_code=200)
async def location_access(request: AnyRequest, data: LocationAccessSpec) -> dict[str, Any]:
    twin = twin_of(request)
    user = twin.user_by_email(data.email)
    if user is None:
        raise ValidationException(f"no user {data.email}")
    (user.lost_locations.discard if data.has_access else user.lost_locations.add)(data.location_id)
    return {"lost_locations": sorted(user.lost_locations)}


@post("/_twin/clock/advance", status_code=200)
async def advance_clock(request: AnyRequest, data: ClockSpec) -> dict[str, Any]:
    twin = twin_of(request)
    twin.clock.advance(data.seconds)
    return {"now": twin.now().isoformat()}


@post("/_twin/publishing-status", status_code=200)
async def publishing_status(request: AnyRequest, data: PublishingStatusSpec) -> dict[str, Any]:
    if data.status not in ("testing", "production"):
        raise ValidationException("status must be testing or production")
    twin_of(request).testing_mode = data.status == "testing"
    return {"ok": True}


@get("/_twin/state")
async def read_state(request: AnyRequest) -> dict[str, Any]:
    twin = twin_of(request)
    return {
        "now": twin.now().isoformat(),
        "calls": [asdict(c) for c in twin.calls],
        "tokens": [asdict(t) for t in twin.tokens()],
        "faults": twin.faults.summary(),
        "consent": asdict(twin.consent),
        "testing_mode": twin.testing_mode,
    }


CONTROL_ROUTES = [
    reset,
    set_scenario,
    set_consent,
    service_disabled,
    quota_zero,
    rate_limit,
    server_error,
    delay,
    clear_faults,
    kill_refresh_token,
    location_access,
    advance_clock,
    publishing_status,
    read_state,
]


@dataclass(frozen=True)
class TwinSnapshot:
    """What `GET /_twin/state` reports."""

    now: datetime
    calls: list[TwinCall]
    tokens: list[TwinToken]
    faults: dict[str, Any]
    testing_mode: bool

    def token_values(self) -> list[str]:
        return [t.token for t in self.tokens]


def _token(raw: dict[str, Any]) -> TwinToken:
    expires = raw["expires_at"]
    return TwinToken(
        **{
            **raw,
            "issued_at": datetime.fromisoformat(raw["issued_at"]),
            "expires_at": datetime.fromisoformat(expires) if expires else None,
        }
    )


class GoogleTwinControl(LocalPostsControl):
    """Typed client for the control interface; every method is one HTTP call (local posts: LocalPostsControl)."""

    def __init__(self, base_url: str, client: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client

    async def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        payload = asdict(body) if body is not None else None
        response = await self.client.request(method, f"{self.base_url}/_twin/{path}", json=payload)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    async def reset(self) -> None:
        """Back to the default scenario: no tokens, no faults, approving consent."""
        await self._call("POST", "reset")

    async def set_scenario(self, scenario: ScenarioSpec) -> None:
        """Replace the users, accounts and locations."""
        await self._call("PUT", "scenario", scenario)

    async def set_consent(
        self, *, user_email: str | None = None, deny: bool = False, withhold_scopes: list[str] | None = None
    ) -> None:
        """Who consents next, whether they deny, and which requested scopes they untick."""
        await self._call("PUT", "consent", ConsentSpec(user_email, deny, list(withhold_scopes or [])))

    async def disable_service(self, *services: str, disabled: bool = True) -> None:
        """SERVICE_DISABLED (403) on the named business APIs (none named: all three)."""
        await self._call("POST", "faults/service-disabled", ServiceToggle(list(services), disabled))

    async def set_quota_zero(self, *services: str, enabled: bool = True) -> None:
        """The not-yet-approved project: 429 with quota_limit_value "0" on the named business APIs."""
        await self._call("POST", "faults/quota-zero", ServiceToggle(list(services), enabled))

    async def rate_limit(self, calls: int = 1, *, retry_after: float = 30.0, apis: list[str] | None = None) -> None:
        """429 RESOURCE_EXHAUSTED with Retry-After on the next `calls` calls."""
        await self._call("POST", "faults/rate-limit", RateLimitFault(calls, apis, retry_after))

    async def server_error(self, calls: int = 1, *, status: int = 503, apis: list[str] | None = None) -> None:
        """500 INTERNAL or 503 UNAVAILABLE on the next `calls` calls."""
        await self._call("POST", "faults/server-error", ServerErrorFault(calls, apis, status))

    async def delay(self, calls: int = 1, *, seconds: float = 1.0, apis: list[str] | None = None) -> None:
        """Hold the next `calls` calls for `seconds` before answering."""
        await self._call("POST", "faults/delay", DelayFault(calls, apis, seconds))

    async def clear_faults(self) -> None:
        """Drop every injected fault."""
        await self._call("POST", "faults/clear")

    async def kill_refresh_token(
        self, token: str | None = None, *, email: str | None = None, reason: str = "revoked"
    ) -> int:
        """Make refresh tokens fail with invalid_grant (revoked | testing_expiry | unused); returns how many."""
        result = await self._call("POST", "faults/kill-refresh-token", KillRefreshSpec(token, email, reason))
        return int(result["killed"])

    async def remove_location_access(self, location_id: str, *, email: str | None = None) -> None:
        """The user no longer manages the location: hidden from lists, 403 when asked for directly."""
        await self._call("POST", "location-access", LocationAccessSpec(location_id, email, has_access=False))

    async def restore_location_access(self, location_id: str, *, email: str | None = None) -> None:
        """Give a removed location back."""
        await self._call("POST", "location-access", LocationAccessSpec(location_id, email, has_access=True))

    async def advance_clock(self, seconds: float) -> datetime:
        """Move the twin clock forward (access tokens expire, refresh tokens age)."""
        result = await self._call("POST", "clock/advance", ClockSpec(seconds))
        return datetime.fromisoformat(result["now"])

    async def set_publishing_status(self, status: str) -> None:
        """ "testing" makes refresh tokens die 7 days after issue; "production" does not."""
        await self._call("POST", "publishing-status", PublishingStatusSpec(status))

    async def snapshot(self) -> TwinSnapshot:
        """Calls received, tokens issued and revoked, current faults."""
        raw = await self._call("GET", "state")
        return TwinSnapshot(
            now=datetime.fromisoformat(raw["now"]),
            calls=[TwinCall(**c) for c in raw["calls"]],
            tokens=[_token(t) for t in raw["tokens"]],
            faults=raw["faults"],
            testing_mode=raw["testing_mode"],
        )
