"""Reconciliation: asking a provider whether a delivery in doubt is already live (docs/reliability.md).

When the answer to a publishing call was lost, core never sends the post again blindly: it calls the
adapter's `reconcile` with what it knows about the lost attempt (`InDoubt`), and the adapter answers one
verdict:

- `Found`: the post is live (its id and link);
- `Absent`: the provider says it is not there: safe to publish again (the only automatic re-send);
- `Continue`: nothing visible yet, carry on from this stage (an Instagram container, a Business Profile
  post still in review);
- `NotYet`: nothing seen, but too soon to be sure (providers list new posts after a delay): ask later;
- `Unsure`: the provider's answer cannot settle it (two identical posts, too many to check): a person
  decides.

Reading never publishes anything, so adapters may repeat these calls freely; errors are the usual
`providers.errors` types.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from providers.base import StoredCredentials
from providers.publishing import PublishRequest, Recorder

# How long after a create a provider may take to list the new post [UNVERIFIED for every provider]: a post
# missing from the list before then proves nothing.
DEFAULT_VISIBILITY_DELAY = timedelta(seconds=60)
# Our database clock against the provider's: widens the window a match may fall in. Wider only ever turns a
# wrong "absent" (a duplicate) into an "unsure" (a person looks), so it errs on the wide side.
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class InDoubt:
    """What core knows about the attempt whose answer was lost."""

    request: PublishRequest  # what was being published (text, link, media kinds, surface)
    stage: Mapping[str, Any]  # the stage that attempt started from (Instagram container, photo ids…)
    started_at: datetime  # when the attempt began (database clock)
    ended_at: datetime  # when its answer was given up on: the error, or the sweep after its lease ran out
    now: datetime
    visibility_delay: timedelta = DEFAULT_VISIBILITY_DELAY
    skew: timedelta = DEFAULT_CLOCK_SKEW

    @property
    def window_start(self) -> datetime:
        return self.started_at - self.skew

    @property
    def window_end(self) -> datetime:
        return self.ended_at + self.skew

    def in_window(self, moment: datetime | None) -> bool:
        """Whether a post made at `moment` (provider clock) may come from the lost attempt."""
        return moment is not None and self.window_start <= moment <= self.window_end


@dataclass(frozen=True)
class Found:
    """The post is live at the provider."""

    external_id: str
    permalink: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Absent:
    """The provider has no such post and had time to list it: publishing again cannot make a duplicate."""

    reason: str


@dataclass(frozen=True)
class Continue:
    """Nothing is live yet; the engine carries on from `stage` (`committed`: a post exists or may exist)."""

    stage: dict[str, Any]
    reason: str
    committed: bool = False
    external_id: str | None = None
    permalink: str | None = None


@dataclass(frozen=True)
class NotYet:
    """Nothing seen so far, but the provider may not list it yet: ask again after `check_after` seconds."""

    reason: str
    check_after: float


@dataclass(frozen=True)
class Unsure:
    """The provider's answer cannot tell whether this delivery is live: a person decides."""

    reason: str
    candidates: tuple[str, ...] = ()


Verdict = Found | Absent | Continue | NotYet | Unsure


class Reconciler(Protocol):
    """Implemented by each provider adapter next to `publish` (providers.publishing.Publisher)."""

    async def reconcile(self, credentials: StoredCredentials, doubt: InDoubt, recorder: Recorder) -> Verdict:
        """Whether the lost attempt published the post; raises providers.errors types when it cannot look."""
        ...


@dataclass(frozen=True)
class Candidate:
    """One of the provider's recent posts, reduced to what matching needs."""

    external_id: str
    text: str
    created_at: datetime | None
    permalink: str | None = None
    state: str | None = None  # Business Profile: PROCESSING, LIVE, REJECTED…


def same_text(a: str, b: str) -> bool:
    """Equal once whitespace is normalised (providers trim and fold line ends differently)."""
    return " ".join(a.split()) == " ".join(b.split())


def parse_time(value: object) -> datetime | None:
    """Graph's "2026-11-05T10:00:00+0000" or Google's "2026-11-05T10:00:00.123456Z"; None when unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def judge(
    candidates: Iterable[Candidate],
    text: str,
    doubt: InDoubt,
    brand: str,
    *,
    complete: bool,
    visibility_delay: timedelta | None = None,
) -> Candidate | Absent | NotYet | Unsure:
    """Match by content and time: the one matching post, or why there is none (or more than one).

    `complete` says the candidates cover the whole window; when they may not, finding nothing proves nothing.
    """
    same = [c for c in candidates if same_text(c.text, text) and doubt.in_window(c.created_at)]
    if len(same) == 1:
        return same[0]
    if same:
        return Unsure(
            f"{brand} has {len(same)} posts with exactly this text from the time the answer was lost; "
            "CheersAI cannot tell which one (if any) is this delivery's.",
            candidates=tuple(c.external_id for c in same),
        )
    if not complete:
        return Unsure(f"{brand} has too many posts from the time the answer was lost for CheersAI to check them all.")
    listed_by = doubt.ended_at + (visibility_delay or doubt.visibility_delay)
    if doubt.now < listed_by:
        return NotYet(
            f"{brand} does not list it yet, and may take a moment to list a new post",
            check_after=max(1.0, (listed_by - doubt.now).total_seconds()),
        )
    return Absent(f"{brand} has no post with this text from the time the answer was lost")
