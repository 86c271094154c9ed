"""Faults the Google twin can inject, set through the control interface (the dataclasses are its JSON bodies)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar


@dataclass
class CountedFault:
    """Applies to the next `calls` matching calls; `apis` lists hosts (None: every API, OAuth included)."""

    calls: int = 1
    apis: list[str] | None = None

    def matches(self, api: str) -> bool:
        return self.calls > 0 and (self.apis is None or api in self.apis)


@dataclass
class RateLimitFault(CountedFault):
    retry_after: float = 30.0


@dataclass
class ServerErrorFault(CountedFault):
    status: int = 503  # 500 INTERNAL or 503 UNAVAILABLE


@dataclass
class DelayFault(CountedFault):
    seconds: float = 1.0


@dataclass
class CommitFault(CountedFault):
    """A local post create that commits, then holds the answer `hang_seconds` and answers `status`.

    status 500 is commit-then-500; status 200 with a hang longer than the client's timeout is
    commit-then-hang (the client gives up, the post exists).
    """

    status: int = 500
    hang_seconds: float = 0.0


@dataclass
class PostOutcomeFault(CountedFault):
    """The next `calls` local posts end `stuck` (PROCESSING for ever) or `rejected` (REJECTED)."""

    outcome: str = "stuck"


@dataclass
class ExpireTokensSpec:
    """Expire access tokens now (a given one, a user's, or all): the token expires mid-run."""

    token: str | None = None
    email: str | None = None


@dataclass
class ServiceToggle:
    """Switch a fault on or off for some business APIs (empty `services`: all three)."""

    services: list[str] = field(default_factory=list)
    enabled: bool = True


@dataclass
class KillRefreshSpec:
    """Kill refresh tokens (a given one, a user's, or all): revoked | testing_expiry | unused."""

    token: str | None = None
    email: str | None = None
    reason: str = "revoked"


@dataclass
class LocationAccessSpec:
    """Take a location away from a user (default: the first user) or give it back."""

    location_id: str
    email: str | None = None
    has_access: bool = False


@dataclass
class ClockSpec:
    seconds: float


@dataclass
class PublishingStatusSpec:
    """The consent screen's publishing status; "testing" makes refresh tokens die after 7 days."""

    status: str = "production"


F = TypeVar("F", bound=CountedFault)


class Faults:
    """Current faults; counted ones are used up as matching calls arrive."""

    def __init__(self) -> None:
        self.disabled_services: set[str] = set()
        self.quota_zero: set[str] = set()
        self.rate_limit: RateLimitFault | None = None
        self.server_error: ServerErrorFault | None = None
        self.delay: DelayFault | None = None
        self.post_commit: CommitFault | None = None
        self.post_stuck: PostOutcomeFault | None = None
        self.post_rejected: PostOutcomeFault | None = None

    @staticmethod
    def take(fault: F | None, api: str) -> F | None:
        """Use up one call of `fault` if it applies to `api`."""
        if fault is None or not fault.matches(api):
            return None
        fault.calls -= 1
        return fault

    def summary(self) -> dict[str, object]:
        return {
            "disabled_services": sorted(self.disabled_services),
            "quota_zero": sorted(self.quota_zero),
            "rate_limit": self.rate_limit,
            "server_error": self.server_error,
            "delay": self.delay,
            "post_commit": self.post_commit,
            "post_stuck": self.post_stuck,
            "post_rejected": self.post_rejected,
        }
